"""Sessions in the window: File > Open session / Save session as, autosave and the restore offer.

The session itself is Qt-free (sr_viewer.state.session); this module opens and saves it for
the window, keeps each study's zoom and pan (the canvas's view range), and autosaves.

Autosave: two seconds after a change (a QTimer, started by the first change and not pushed
back by later ones, so a long drag still saves every two seconds) the session is written,
atomically, to `autosave-<n>.srsession` in the state folder (sr_viewer.settings.state_dir:
never a folder the studies came from). Slot n belongs to this viewer while it runs, held by
a QLockFile (a second viewer takes the next free slot); a clean quit removes the file. A
slot whose file is still there and whose lock is free belongs to a viewer that is gone
(crashed or killed): no viewer writes into it, and the next start offers it back with a
question (`ask` replaces the question in tests); restored or declined, it goes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QLockFile, QObject, QRectF, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from sr_viewer.settings import state_dir
from sr_viewer.state import Study
from sr_viewer.state.session import (
    SUFFIX,
    Session,
    SessionError,
    SessionRestore,
    changes,
    read_session,
    session_of,
    write_session,
)

if TYPE_CHECKING:
    from sr_viewer.qt.main_window import MainWindow

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 2000
AUTOSAVE_SLOTS = 16  # viewers running at once, each with its own autosave
SESSION_FILTER = f"SR Viewer session (*{SUFFIX});;All files (*)"


def ask_restore(parent, text: str) -> bool:
    """The restore offer: a Yes/No question (Yes is the default: nothing is lost by it)."""
    answer = QMessageBox.question(parent, "Restore the last session?", text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


class SessionController(QObject):
    """Opens, saves, autosaves and restores the window's session.

    Args:
        window: The main window (its model, loader, canvas, notifier and undo history).
        autosave: Keep an autosave (off for --screenshot and windows that persist nothing).

    Attributes:
        ask: Called with the restore question; True restores (tests answer it themselves).
        autosave_path: This viewer's autosave file (None: autosave off).
    """

    def __init__(self, window: MainWindow, autosave: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.model = window.model
        self.restore = SessionRestore(self.model, quiet=window.undo.history.quiet)
        self.ask: Callable[[str], bool] = lambda text: ask_restore(window, text)
        self.autosave_path: Path | None = None
        self._lock: QLockFile | None = None
        self._ranges: dict[Study, tuple[float, float, float, float]] = {}  # to show once the image is there
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.autosave_now)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")  # in order, one at a time
        # After the canvas's own handlers (it fits a new study first; a saved range goes over that).
        self.model.events.current_changed.connect(lambda study: self._show_range())
        self.model.events.study_changed.connect(lambda study: self._show_range() if study is self.model.current else None)
        window.canvas.view.sigRangeChanged.connect(lambda *args: self._range_changed())
        if autosave:
            self._claim_slot()
        if self.autosave_path is not None:
            for event in (*changes(self.model), window.comparison.events.status_changed):
                event.connect(lambda *args: self.changed())

    # --- opening and saving -------------------------------------------------------------------

    def ask_open(self) -> None:
        """File > Open session."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", self.window.dialog_folder(), SESSION_FILTER)
        if path:
            self.open_session(path)

    def ask_save(self) -> None:
        """File > Save session as."""
        suggested = str(Path(self.window.dialog_folder()) / f"session{SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session as", suggested, SESSION_FILTER)
        if path:
            self.save_session(path)

    def save_session(self, path: str | Path) -> Path | None:
        """Write the session to `path` (given the .srsession suffix if it has none, so it
        never replaces an image or an annotation file); a failure is one line."""
        path = Path(path)
        if path.suffix.lower() != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        try:
            write_session(session_of(self.model, self.restore, self._comparison_weights()), path)
        except OSError as exc:
            self.window.notifier.fail(f"Session not saved to {path}: {exc.strerror or exc}")
            return None
        self.window.notifier.say(f"Session saved to {path}")
        return path

    def open_session(self, path: str | Path) -> bool:
        """Replace the open studies by a session file's; a file that cannot be used is one
        line and changes nothing. Returns whether the session was opened."""
        try:
            session = read_session(path)
        except SessionError as exc:
            self.window.notifier.fail(str(exc))
            return False
        self.apply(session, Path(path).name)
        return True

    def apply(self, session: Session, name: str) -> None:
        """Open a session's studies, ground truth and weights and give each study its state."""
        window, model = self.window, self.model
        notifier = window.notifier
        model.remove_studies(list(model.studies))
        self._ranges.clear()
        self._use_weights(name, "weights", session.weights, model.model_status.weights, window.open_weights,
                          "no model")
        self._use_weights(name, "comparison weights", session.comparison_weights, self._comparison_weights(),
                          window.open_comparison, "no comparison")
        for annotation in session.ground_truth:
            if annotation.is_file():
                window.loader.load_ground_truth(annotation)
            else:
                notifier.fail(f"Session {name!r}: ground truth {annotation.name!r} not found")
        found = [s for s in session.studies if s.path.is_file()]
        missing = [s.path.name for s in session.studies if not s.path.is_file()]
        if missing:
            notifier.fail(f"Session {name!r}: {len(missing)} of {len(session.studies)} studies not found, "
                          f"the others open: {', '.join(missing)}")
        window.loader.add_files([s.path for s in found])
        by_path = {s.path.resolve(): s for s in model.studies}  # once: a session may hold thousands
        restored: set[Study] = set()
        for state in found:
            study = by_path.get(state.path.resolve())
            if study is None or study in restored:  # a path listed twice is one study
                continue
            restored.add(study)
            self.restore.apply(study, state)
            if state.view_range is not None:
                self._ranges[study] = state.view_range
        current = session.studies[session.current] if session.current is not None else None
        study = by_path.get(current.path.resolve()) if current is not None and current in found else None
        if study is not None:
            model.set_current(study)
        self._show_range()
        window.undo.history.clear()
        notifier.say(f"Session {name!r}: {len(found)} {'study' if len(found) == 1 else 'studies'} opened")

    # --- zoom and pan -------------------------------------------------------------------------

    def _use_weights(self, name: str, what: str, wanted: Path | None, loaded: Path | None, use,
                     nothing: str) -> None:
        """Load the session's weights (A's or B's) unless they are the loaded ones; missing
        ones are one line and the loaded ones stay (none in the session: nothing changes)."""
        if wanted is None:
            return
        if not wanted.is_file():
            keep = Path(loaded).name if loaded else nothing
            self.window.notifier.fail(f"Session {name!r}: {what} {wanted.name!r} not found; keeping {keep}")
        elif loaded is None or Path(loaded).resolve() != wanted.resolve():
            use(wanted)

    def _comparison_weights(self) -> Path | None:
        status = self.window.comparison.status
        return status.weights if self.window.comparison.active else None

    def _range_changed(self) -> None:
        study = self.model.current
        if study is None or study.image is None or study in self._ranges:
            return
        # The range asked for (pan, zoom, fit), not the one shown: that one is widened to the
        # view's aspect, and a view of another shape would widen it again on every restore.
        rect = self.window.canvas.view.targetRect()
        view_range = (rect.left(), rect.top(), rect.right(), rect.bottom())
        if view_range != study.view_range:
            study.view_range = view_range
            self.changed()

    def _show_range(self) -> None:
        """Give the shown study its session's zoom and pan once its image is on the canvas."""
        study = self.model.current
        if study is None or study.image is None or study not in self._ranges:
            return
        x0, y0, x1, y1 = self._ranges.pop(study)
        self.window.canvas.view.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0)
        self._range_changed()

    # --- autosave -----------------------------------------------------------------------------

    def changed(self) -> None:
        """The session changed: autosave within AUTOSAVE_DELAY_MS."""
        if self.autosave_path is not None and not self._timer.isActive():
            self._timer.start()

    def autosave_now(self, wait: bool = False) -> Path | None:
        """Autosave now: the session is read here, written on the autosave thread (a drag
        on a session of many studies must not wait for the disk). No studies: the file goes,
        there is nothing to restore.

        Args:
            wait: Return once the file is written (or removed).

        Returns:
            The autosave file (None: autosave off, or no studies).
        """
        self._timer.stop()
        path = self.autosave_path
        if path is None:
            return None
        session = session_of(self.model, self.restore, self._comparison_weights()) if self.model.studies else None
        written = self._writer.submit(_write_autosave, session, path)
        if wait:
            written.result()
        return path if session is not None else None

    def _slot(self, n: int) -> tuple[Path, QLockFile]:
        folder = state_dir()
        lock = QLockFile(str(folder / f"autosave-{n}.lock"))
        lock.setStaleLockTime(0)  # held for the viewer's life: stale only when its process is gone
        return folder / f"autosave-{n}{SUFFIX}", lock

    def _claim_slot(self) -> None:
        try:
            state_dir().mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("no autosave: cannot create %s: %s", state_dir(), exc)
            return
        for n in range(AUTOSAVE_SLOTS):
            path, lock = self._slot(n)
            # A slot still holding a file is a crashed viewer's: left for the offer (now or,
            # with --no-restore, at a later start), never written over.
            if not path.exists() and lock.tryLock(0):
                self.autosave_path, self._lock = path, lock
                return
        log.warning("no autosave: %d viewers already running", AUTOSAVE_SLOTS)

    def leftover(self) -> tuple[Path, QLockFile] | None:
        """The newest autosave of a viewer that did not quit cleanly, and its slot's lock,
        held by this viewer (keeping others off it) until the offer is over."""
        if self.autosave_path is None:
            return None
        found = []
        for n in range(AUTOSAVE_SLOTS):
            path, lock = self._slot(n)
            if path != self.autosave_path and path.is_file() and lock.tryLock(0):
                found.append((path.stat().st_mtime, path, lock))
        if not found:
            return None
        found.sort(key=lambda item: item[0], reverse=True)
        for _, _, lock in found[1:]:
            lock.unlock()
        return found[0][1], found[0][2]

    def offer_restore(self) -> bool:
        """At start: offer the session of a viewer that crashed or was killed.

        Returns:
            True when the start is taken care of: the session was restored, or it could not
            be read (one line says why, and the viewer starts empty); False when there was
            nothing to offer or the reader said no.
        """
        leftover = self.leftover()
        if leftover is None:
            return False
        path, lock = leftover
        try:
            try:
                session = read_session(path)
            except SessionError as exc:
                self.window.notifier.fail(f"The autosaved session was not restored: {exc}")
                path.unlink(missing_ok=True)
                return True
            names = [s.path.name for s in session.studies]
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
            text = (f"SR Viewer did not quit cleanly; it autosaved the session at {when}: "
                    f"{len(names)} {'study' if len(names) == 1 else 'studies'} "
                    f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}). Restore it?")
            if not self.ask(text):
                path.unlink(missing_ok=True)
                return False
            self.apply(session, "autosave")
            self.autosave_now(wait=True)  # in this viewer's slot before the old file goes
            path.unlink(missing_ok=True)
            return True
        finally:
            lock.unlock()

    def finish(self) -> None:
        """A clean quit: the autosave goes (there is nothing to restore) and the slot is free."""
        self._timer.stop()
        self._writer.shutdown(wait=True)  # no write may come after the removal
        if self.autosave_path is not None:
            try:
                self.autosave_path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove the autosave %s: %s", self.autosave_path, exc)
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self.autosave_path = None


def _write_autosave(session: Session | None, path: Path) -> None:
    """On the autosave thread: write the session atomically, or remove the file for None."""
    try:
        if session is None:
            path.unlink(missing_ok=True)
        else:
            write_session(session, path)
    except OSError as exc:
        log.warning("cannot autosave the session to %s: %s", path, exc)
