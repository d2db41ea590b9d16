"""The last line of defence: an uncaught exception is logged and shown as one line.

Installed by sr_viewer.app.main (not by tests, where pytest-qt reports exceptions itself).
The reader never sees a traceback; the log has it.
"""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtCore import QObject, Signal

from sr_core.io.image import one_line

log = logging.getLogger("sr_viewer.crash")


class _Relay(QObject):
    """Carries an exception message from any thread to the UI thread."""

    message = Signal(str)


def install_excepthook(show) -> None:
    """Route uncaught exceptions (UI thread and worker threads) to the log and `show(text)`."""
    relay = _Relay()
    relay.message.connect(show)

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unexpected error", exc_info=(exc_type, exc, tb))
        first = one_line(str(exc))[:200] or exc_type.__name__
        relay.message.emit(f"Unexpected error ({exc_type.__name__}: {first}). The viewer goes on; details are in the log.")

    sys.excepthook = hook
    threading.excepthook = lambda args: hook(args.exc_type, args.exc_value, args.exc_traceback)
    install_excepthook.relay = relay  # keep the QObject alive


def route_qt_messages() -> None:
    """Send Qt's own warnings (e.g. the offscreen plugin's) to the log instead of stderr."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}

    def handler(kind, context, text) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", text)

    qInstallMessageHandler(handler)
