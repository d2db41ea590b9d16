"""Qt fixtures: dropping files on a window as a user does."""

from __future__ import annotations

import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def drop(window, *paths: Path) -> None:
    """Simulate dropping files from a file manager onto the window: drag enter, then drop
    (Qt delivers a drop only to the widget that accepted the drag)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PySide marks the QPoint overload
        enter = QDragEnterEvent(QPoint(300, 300), *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(300, 300), *args)
    QApplication.sendEvent(window, event)
    assert event.isAccepted()
