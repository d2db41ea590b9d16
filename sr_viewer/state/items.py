"""The evented, id-keyed list behind the reader's own marks (distances, drawn boxes).

Each item is a frozen dataclass with an `id` unique within its study; `changed()` fires after
every add, move or remove, and `selected` is the item last drawn or touched (what Delete
removes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sr_viewer.state.events import Events

T = TypeVar("T")


class EditableItems(Generic[T]):
    """A study's items of one kind, evented (see the module docstring)."""

    def __init__(self) -> None:
        self.events = Events("changed")
        self._items: dict[int, T] = {}
        self._next_id = 1
        self.selected: int | None = None

    def __iter__(self):
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def get(self, item_id: int) -> T | None:
        return self._items.get(item_id)

    def _insert(self, make: Callable[[int], T]) -> T:
        """Add the item `make(new id)` and select it."""
        item = make(self._next_id)
        self._next_id += 1
        self._items[item.id] = item
        self.selected = item.id
        self.events.changed.emit()
        return item

    def _replace(self, item_id: int, change: Callable[[T], T]) -> None:
        """Replace an item by `change(item)` and select it (unknown ids are ignored)."""
        old = self._items.get(item_id)
        if old is None:
            return
        new = change(old)
        self.selected = item_id
        if new != old:
            self._items[item_id] = new
            self.events.changed.emit()

    def select(self, item_id: int | None) -> None:
        self.selected = item_id if item_id in self._items else None

    def remove(self, item_id: int | None = None) -> bool:
        """Remove an item (default: the selected one). Returns whether one was removed."""
        item_id = self.selected if item_id is None else item_id
        if item_id not in self._items:
            return False
        del self._items[item_id]
        if self.selected == item_id:
            self.selected = None
        self.events.changed.emit()
        return True

    def snapshot(self) -> tuple[T, ...]:
        """The items as they are now, in id order (what `restore` takes back: undo, sessions)."""
        return tuple(self._items[i] for i in sorted(self._items))

    def restore(self, items: tuple[T, ...]) -> None:
        """Make the items exactly `items` (ids kept; new ids stay above them); emits changed
        when that differs from now. The selection goes unless its item is still there."""
        restored = {item.id: item for item in items}
        if restored == self._items:
            return
        self._items = restored
        self._next_id = max([self._next_id, *(i + 1 for i in restored)])
        if self.selected not in restored:
            self.selected = None
        self.events.changed.emit()

    def clear(self) -> None:
        if self._items:
            self._items.clear()
            self.selected = None
            self.events.changed.emit()
