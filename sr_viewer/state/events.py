"""A tiny event system: the state layer tells its listeners what changed, without Qt.

napari's components emit events that its Qt views subscribe to; this is the same idea at
the size this viewer needs. Callbacks run synchronously, in the order they were connected.
`Evented` dataclasses derive their events from their fields (see ViewSettings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, fields
from typing import Any

Callback = Callable[..., Any]


class Event:
    """Callbacks called with the same arguments when the event is emitted.

    Args:
        name: What changed, for debugging and repr.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        """Call `callback` on every emit (returned, so it can be used as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        """Stop calling `callback`; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        # Iterate over a copy: a callback may connect or disconnect others.
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._callbacks)} callbacks)"


class Events:
    """A named group of events: `Events("a", "b").a.connect(f)`."""

    def __init__(self, *names: str) -> None:
        for name in names:
            setattr(self, name, Event(name))

    def __iter__(self):
        return (value for value in vars(self).values() if isinstance(value, Event))


def setting(default: Any, *, choices: tuple | None = None, bounds: tuple[float, float] | None = None) -> Any:
    """A field of an Evented dataclass with what it accepts.

    Args:
        default: The value it starts with (the one place it is written).
        choices: The allowed values; anything else raises ValueError.
        bounds: (low, high) a number is clamped to.
    """
    return field(default=default, metadata={"choices": choices, "bounds": bounds})


class Evented:
    """Base of dataclasses whose fields are evented settings, napari's EventedModel in small.

    Each field is declared once, with its default; `events.<field>` is made from the fields
    and emitted with the new value whenever an assignment changes it (assigning the same
    value emits nothing). Assignments are checked as the field's `setting` says; a field
    without one is converted to its default's type (bool(), float() ...).
    """

    events: Events  # made in __post_init__, not a field

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", Events(*(f.name for f in fields(self))))

    def __setattr__(self, name: str, value: Any) -> None:
        spec = self.__dataclass_fields__.get(name)
        if spec is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        choices, bounds = spec.metadata.get("choices"), spec.metadata.get("bounds")
        if choices is not None and value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if bounds is not None:
            value = min(bounds[1], max(bounds[0], float(value)))
        elif choices is None:
            value = type(spec.default)(value)
        if name in self.__dict__ and self.__dict__[name] == value:
            return
        object.__setattr__(self, name, value)
        if "events" in self.__dict__:  # not while the dataclass __init__ sets the defaults
            getattr(self.events, name).emit(value)

    @classmethod
    def default(cls, name: str) -> Any:
        """A field's declared default (what a fresh instance holds)."""
        return cls.__dataclass_fields__[name].default

    def toggle(self, name: str) -> None:
        """Flip a bool field, or step a field with choices to the next one (cyclically)."""
        value = getattr(self, name)
        choices = self.__dataclass_fields__[name].metadata.get("choices")
        if choices is None:
            setattr(self, name, not value)
        else:
            setattr(self, name, choices[(choices.index(value) + 1) % len(choices)])
