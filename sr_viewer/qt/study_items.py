"""The base of the canvas's editable marks (distances, drawn boxes): items kept in step with
an evented list of the current study (sr_viewer.state.items.EditableItems).

The state is the truth: `refresh` rebuilds the items from it when it changes (a new study:
all new items), and a subclass forwards the reader's edits back to it.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg

from sr_viewer.state import Study, ViewerModel
from sr_viewer.state.items import EditableItems


class StudyItems:
    """Items in a ViewBox for the current study's marks of one kind.

    Subclasses give `marks` (the study's list), `_matches` (is an item still right for its
    mark), `_reshape` (move an item to its mark's geometry, in place), `_add_item` (make,
    show and store one in `items`) and `_graphics` (what to take off the view), and may
    override `_updated` (an item kept: refresh its text).
    """

    def __init__(self, view: pg.ViewBox, model: ViewerModel, changed_event: str) -> None:
        self.view, self.model = view, model
        self.items: dict[int, Any] = {}
        self._drawing: int | None = None  # the mark a drag is drawing now
        self._study: Study | None = None
        getattr(model.events, changed_event).connect(lambda study: self.refresh() if study is model.current else None)
        model.events.current_changed.connect(lambda study: self.refresh())
        model.events.study_changed.connect(lambda study: self.refresh() if study is model.current else None)

    def marks(self, study: Study) -> EditableItems:
        raise NotImplementedError

    def _matches(self, entry: Any, mark: Any) -> bool:
        raise NotImplementedError

    def _add_item(self, mark: Any) -> Any:
        raise NotImplementedError

    def _graphics(self, entry: Any) -> tuple:
        raise NotImplementedError

    def _updated(self, entry: Any, mark: Any) -> None:
        pass

    def _reshape(self, entry: Any, mark: Any) -> None:
        """Give an existing item its mark's new geometry in place (a drag moves it on every
        mouse event: rebuilding the item each time would be wasted work on the UI thread)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Make the items match the current study's marks (new study: all new items)."""
        study = self.model.current
        if study is not self._study:
            self._clear()
            self._study = study
        marks = {m.id: m for m in self.marks(study)} if study is not None and study.image is not None else {}
        for mark_id in [i for i in self.items if i not in marks]:
            self._remove_item(mark_id)
        for mark in marks.values():
            entry = self.items.get(mark.id)
            if entry is None:
                entry = self._add_item(mark)
            elif not self._matches(entry, mark):
                self._reshape(entry, mark)
            self._updated(entry, mark)

    def _remove_item(self, mark_id: int) -> None:
        for item in self._graphics(self.items.pop(mark_id)):
            self.view.removeItem(item)

    def _clear(self) -> None:
        for mark_id in list(self.items):
            self._remove_item(mark_id)
