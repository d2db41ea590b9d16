"""Undo and redo of the reader's edits: threshold, window/level, drawn boxes, measurements.

`UndoHistory` listens to the document's events and records each change as an `Edit` (what
it was before, what it is after), so no setter has to know about undo. It keeps one history
per study, not one for the whole viewer: Ctrl+Z undoes the last thing done to the study on
screen, as a radiologist expects of the image in front of them, and never changes (or, worse,
deletes a box on) a study they are not looking at; coming back to a study brings its history
back with it. This is the per-document undo of editors with tabs.

A gesture (`begin_gesture` ... `end_gesture`: the Qt layer opens one while a mouse button is
held) makes one step of each kind of change it contains, however many events it fires: a
threshold slider drag, a window/level drag, drawing a box or dragging a handle are one undo
step each. A gesture that ends where it began leaves no step at all.

Changes that are not the reader's (a study opening with its threshold, a session being
restored, undo and redo themselves) happen inside `quiet()` and are not recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sr_viewer.state.document import ViewerModel
from sr_viewer.state.events import Events
from sr_viewer.state.study import Study

MAX_STEPS = 200  # per study; the oldest steps go first

KINDS = ("threshold", "window", "drawn_boxes", "measurements")


@dataclass
class Edit:
    """One undo step of one study.

    Attributes:
        kind: One of KINDS.
        before, after: The kind's value before and after: (finding, threshold) for
            "threshold", (center, width) or None for "window", a snapshot of the items
            (EditableItems.snapshot) for "drawn_boxes" and "measurements".
        gesture: The gesture it was made in (0: none; edits of one gesture merge).
    """

    kind: str
    before: Any
    after: Any
    gesture: int = 0

    @property
    def label(self) -> str:
        """What the step did, in the reader's words ("threshold 0.50 -> 0.32")."""
        if self.kind == "threshold":
            return f"{self.after[0]} threshold {self.before[1]:.2f} -> {self.after[1]:.2f}"
        if self.kind == "window":
            return "window/level"
        noun = "drawn box" if self.kind == "drawn_boxes" else "measurement"
        before, after = {m.id: m for m in self.before}, {m.id: m for m in self.after}
        if len(after) > len(before):
            return f"{noun} added"
        if len(after) < len(before):
            return f"{noun} deleted"
        changed = [i for i in after if after[i] != before.get(i)]
        if self.kind == "drawn_boxes" and changed and _size(after[changed[0]].box) == _size(before[changed[0]].box):
            return f"{noun} moved"
        return f"{noun} {'resized' if self.kind == 'drawn_boxes' else 'adjusted'}"


class UndoHistory:
    """The per-study undo and redo stacks of a ViewerModel (see the module docstring).

    Events:
        changed(): a step was recorded, undone or redone, or the shown study changed (what
            Undo and Redo would do may be different now).
    """

    def __init__(self, model: ViewerModel) -> None:
        self.model = model
        self.events = Events("changed")
        self._undo: dict[Study, list[Edit]] = {}
        self._redo: dict[Study, list[Edit]] = {}
        self._seen: dict[Study, dict[str, Any]] = {}  # each study's values as last recorded
        self._gesture = 0
        self._gestures = 0
        self._quiet = 0
        e = model.events
        e.studies_added.connect(lambda studies: [self._look(s) for s in studies])
        e.studies_removed.connect(self._forget)
        e.current_changed.connect(self._shown)
        e.study_changed.connect(lambda study: self._shown(study) if study is model.current else None)
        e.finding_changed.connect(lambda finding: self._shown(model.current))
        e.threshold_changed.connect(lambda value: self._changed(model.current, "threshold"))
        e.window_changed.connect(lambda window: self._changed(model.current, "window"))
        e.drawn_boxes_changed.connect(lambda study: self._changed(study, "drawn_boxes"))
        e.measurements_changed.connect(lambda study: self._changed(study, "measurements"))
        for study in model.studies:
            self._look(study)

    # --- what the reader sees ---------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self._undo.get(self.model.current))

    def can_redo(self) -> bool:
        return bool(self._redo.get(self.model.current))

    def undo_label(self) -> str | None:
        """What Undo would undo on the shown study (None: nothing)."""
        steps = self._undo.get(self.model.current)
        return steps[-1].label if steps else None

    def redo_label(self) -> str | None:
        steps = self._redo.get(self.model.current)
        return steps[-1].label if steps else None

    def undo(self) -> str | None:
        """Undo the shown study's last step; returns what it was (None: nothing to undo)."""
        return self._move(self._undo, self._redo, "before")

    def redo(self) -> str | None:
        """Redo the shown study's last undone step; returns what it was (None: nothing)."""
        return self._move(self._redo, self._undo, "after")

    # --- gestures and quiet changes ---------------------------------------------------------

    def begin_gesture(self) -> None:
        """Edits from now until end_gesture are one step per kind (a drag). Idempotent."""
        if not self._gesture:
            self._gestures += 1
            self._gesture = self._gestures

    def end_gesture(self) -> None:
        self._gesture = 0

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Changes made inside are not recorded (they become the new starting point)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self.events.changed.emit()

    # --- recording --------------------------------------------------------------------------

    def _value(self, study: Study, kind: str) -> Any:
        if kind == "threshold":
            threshold = self.model.shown_threshold(study)
            return None if threshold is None else (study.shown_finding, threshold)
        if kind == "window":
            return study.window
        return getattr(study, kind).snapshot()

    def _look(self, study: Study) -> None:
        """Take a study's values as they are as the starting point of its next step."""
        if study in self.model.studies:
            self._seen[study] = {kind: self._value(study, kind) for kind in KINDS}

    def _shown(self, study: Study | None) -> None:
        # A study shown, predicted or given another finding opens with a threshold the reader
        # did not set, and with the window a session gave it out of sight (no event: it was
        # not shown): the starting points, not steps. The reader's own changes of either
        # happen on the shown study and are recorded as they come.
        if study is not None and study in self._seen:
            self._seen[study]["threshold"] = self._value(study, "threshold")
            self._seen[study]["window"] = study.window
        self.events.changed.emit()

    def _changed(self, study: Study | None, kind: str) -> None:
        if study is None or study not in self._seen:
            return
        before, after = self._seen[study][kind], self._value(study, kind)
        self._seen[study][kind] = after
        if self._quiet or before == after:
            return
        if kind == "threshold" and (before is None or after is None or before[0] != after[0]):
            return  # a threshold that came with a new map or finding, not a drag of one
        steps = self._undo.setdefault(study, [])
        top = steps[-1] if steps else None
        if top is not None and self._gesture and top.gesture == self._gesture and top.kind == kind:
            top.after = after
            if top.after == top.before:
                steps.pop()
        else:
            steps.append(Edit(kind, before, after, self._gesture))
            del steps[:-MAX_STEPS]
        self._redo.pop(study, None)
        self.events.changed.emit()

    def _move(self, source: dict[Study, list[Edit]], target: dict[Study, list[Edit]], side: str) -> str | None:
        study = self.model.current
        steps = source.get(study)
        if not steps:
            return None
        self.end_gesture()  # an undo is a step boundary
        edit = steps.pop()
        with self.quiet():
            self._apply(study, edit.kind, getattr(edit, side))
        target.setdefault(study, []).append(Edit(edit.kind, edit.before, edit.after))
        self.events.changed.emit()
        return edit.label

    def _apply(self, study: Study, kind: str, value: Any) -> None:
        model = self.model
        if kind == "threshold":
            finding, threshold = value
            if study.prediction is None or finding not in study.prediction.probabilities:
                return  # the map it was set on is gone (other weights): nothing to cut
            if model.finding != finding:
                model.set_finding(finding)
            model.set_threshold(threshold)
        elif kind == "window":
            model.set_window(value, study)
        else:
            getattr(study, kind).restore(value)

    def _forget(self, studies: list[Study]) -> None:
        for study in studies:
            for table in (self._undo, self._redo, self._seen):
                table.pop(study, None)
        self.events.changed.emit()


def _size(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (round(box[2] - box[0], 6), round(box[3] - box[1], 6))
