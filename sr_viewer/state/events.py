"""A tiny event system: the state layer tells its listeners what changed, without Qt.

napari's components emit events that its Qt views subscribe to; this is the same idea at
the size this viewer needs. Callbacks run synchronously, in the order they were connected.
"""

from __future__ import annotations

from collections.abc import Callable
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
