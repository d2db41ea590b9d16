"""Edit > Undo / Redo: the Qt side of sr_viewer.state.undo.UndoHistory.

A mouse button held down is one gesture: everything a drag changes (the threshold slider,
window/level on the canvas, drawing a box or a distance, dragging a handle) is one undo step,
because the history merges the edits of a gesture. The gesture is seen by an application-wide
event filter on the press and release, so no widget has to know about undo. Keys (`[`, `]`,
the window presets, Del) are one step each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from sr_viewer.state.undo import UndoHistory

if TYPE_CHECKING:
    from sr_viewer.qt.main_window import MainWindow


class UndoController(QObject):
    """Owns the window's UndoHistory, marks gestures and keeps Edit > Undo/Redo up to date."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.history = UndoHistory(window.model)
        self.history.events.changed.connect(self._update_actions)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._update_actions()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            self.history.begin_gesture()
        elif kind == QEvent.Type.MouseButtonRelease and event.buttons() == Qt.MouseButton.NoButton:
            self.history.end_gesture()
        return False

    def undo(self) -> str | None:
        """Edit > Undo on the shown study; says what was undone (or that nothing was)."""
        label = self.history.undo()
        self.window.notifier.say(f"Undone: {label}" if label else "Nothing to undo on this study")
        return label

    def redo(self) -> str | None:
        label = self.history.redo()
        self.window.notifier.say(f"Redone: {label}" if label else "Nothing to redo on this study")
        return label

    def shutdown(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _update_actions(self) -> None:
        actions = self.window.actions_by_name
        for name, label in (("undo", self.history.undo_label()), ("redo", self.history.redo_label())):
            verb = name.capitalize()
            actions[name].setEnabled(label is not None)
            actions[name].setText(f"{verb} {label}" if label else verb)
        actions["redo_alt"].setEnabled(self.history.can_redo())
