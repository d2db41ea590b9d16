"""Background work: a QThreadPool runner whose tasks report back through Qt signals.

A task is a plain function `fn(task)` run on a pool thread. It may check `task.cancelled`,
call `task.progress(done, total)` and `task.partial(value)`; its return value arrives on the
UI thread through `done`, an exception as one line through `failed` (the traceback goes to
the log, never to the reader). Signals cross threads as queued connections, so every
callback runs on the UI thread and may touch the state and the widgets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from sr_core.io.image import one_line

log = logging.getLogger(__name__)

FAILURE_CHARS = 240  # a failure's line is cut to this length, ending in "..."


class TaskSignals(QObject):
    """Signals of one task (a QRunnable cannot have signals itself)."""

    done = Signal(object)
    failed = Signal(str)
    progress = Signal(int, int)
    partial = Signal(object)
    finished = Signal()


class Task(QRunnable):
    """One function run on a pool thread; see the module docstring."""

    def __init__(self, fn: Callable[[Task], Any], name: str = "task") -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps it alive until `finished` (see Runner)
        self.fn = fn
        self.name = name
        self.signals = TaskSignals()
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the task to stop; it checks `cancelled` at its own pace, and its result is dropped."""
        self._cancel.set()

    def progress(self, done: int, total: int) -> None:
        self.signals.progress.emit(int(done), int(total))

    def partial(self, value: Any) -> None:
        self.signals.partial.emit(value)

    def run(self) -> None:  # noqa: D102 (QRunnable API)
        try:
            result = self.fn(self)
        except Exception as exc:  # reported as one line; the traceback goes to the log
            log.warning("%s failed: %s", self.name, one_line(exc, FAILURE_CHARS), exc_info=not isinstance(exc, ValueError))
            if not self.cancelled:
                self._emit(self.signals.failed, one_line(exc, FAILURE_CHARS))
        else:
            if not self.cancelled:
                self._emit(self.signals.done, result)
        finally:
            # The function's closure (a model, a decoded image) goes with the run: the signal
            # connections hold the task from C++, out of reach of Python's collector.
            self.fn = None
            self._emit(self.signals.finished)

    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiver side is gone (the app is shutting down): nothing to tell
            pass


class Runner(QObject):
    """A thread pool and the tasks in flight on it.

    Args:
        threads: Most tasks running at once (1 makes the pool a serial queue).
        name: For logs.
    """

    def __init__(self, threads: int, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, threads))
        self._tasks: set[Task] = set()

    def submit(
        self,
        fn: Callable[[Task], Any],
        *,
        name: str = "task",
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        partial: Callable[[Any], None] | None = None,
        finished: Callable[[], None] | None = None,
        priority: int = 0,
    ) -> Task:
        """Queue `fn(task)` on the pool; callbacks run on the UI thread (all are connected
        before the task starts, so none can be missed; `finished` comes last, always)."""
        task = Task(fn, name)
        for signal, callback in ((task.signals.done, done), (task.signals.failed, failed),
                                 (task.signals.progress, progress), (task.signals.partial, partial),
                                 (task.signals.finished, finished)):
            if callback is not None:
                signal.connect(callback)
        task.signals.finished.connect(lambda: self._tasks.discard(task))
        self._tasks.add(task)
        self.pool.start(task, priority)
        return task

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    def cancel_all(self) -> None:
        """Cancel running tasks and drop those not started yet."""
        for task in list(self._tasks):
            task.cancel()
            if self.pool.tryTake(task):  # never started: it will not report `finished`
                self._tasks.discard(task)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for the running tasks; True if they all stopped."""
        self.cancel_all()
        return self.pool.waitForDone(timeout_ms)
