"""How the viewer tells the reader about problems: one line in the status bar, and for
errors a non-modal dialog naming the file. Never a traceback (that goes to the log)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class Notifier(QObject):
    """Messages from controllers to the main window.

    Signals:
        info(str): a status-bar message.
        error(str): a problem the reader must see (status bar and a non-modal dialog).
    """

    info = Signal(str)
    error = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.errors: list[str] = []  # every error shown this session (tests read it)

    def say(self, text: str) -> None:
        log.info("%s", text)
        self.info.emit(text)

    def fail(self, text: str) -> None:
        log.warning("%s", text)
        self.errors.append(text)
        self.error.emit(text)
