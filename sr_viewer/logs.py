"""The viewer's log: a rotating file in platformdirs' log folder.

What is logged: file names, statuses, timings, errors with tracebacks. What is not: any
image metadata (patient name, ID, birth date, accession, institution never reach a log
call; XrayImage's repr leaves metadata out too).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from sr_viewer.settings import log_dir

LOG_FILE = "sr-viewer.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Send the root logger to <log dir>/sr-viewer.log (rotated at 1 MB, 3 backups).

    Returns:
        The log file, or None when the folder cannot be written (logging then goes nowhere
        but the viewer still runs).
    """
    folder = log_dir()
    path = folder / LOG_FILE
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path  # already set up (a second main() in one process, e.g. tests)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


def current_log_file() -> Path | None:
    """The file the root logger writes to, if setup_logging ran."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None
