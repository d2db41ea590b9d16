"""Opening studies: files and folders become studies, images are decoded in the background.

Folders are walked on a pool thread and their images arrive in batches; every image is
decoded on a pool thread (two at a time: the model needs the other core); a file that
cannot be read becomes a study in error, named once in the status bar and a dialog, and
the others go on.

The loader is the viewer's one door for pixels: the model never reads a file. A study the
model will take is decoded when the InferenceController asks for it (a few ahead of the
model, see `prefetch`), and that one decode serves the thumbnail, the canvas and the
model; a study no model waits for is decoded at once for its thumbnail. Pixels dropped to
save memory (`trim`) are read again through here when wanted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sr_viewer import jobs
from sr_viewer.qt.notify import Notifier
from sr_viewer.qt.workers import Runner
from sr_viewer.state import GroundTruthError, Status, Study, ViewerModel, is_annotation_file

log = logging.getLogger(__name__)

SHOWN_PRIORITY = 10  # the study on screen is read first,
MODEL_PRIORITY = 5  # then the ones the model takes next, then thumbnails (0)


class StudyLoader(QObject):
    """Turns paths into studies and keeps the shown study's image decoded.

    Signals:
        image_ready(Study): a study's image was decoded (or failed: see its status).
        walk_finished(Path): a folder walk ended.
    """

    image_ready = Signal(object)
    walk_finished = Signal(object)

    def __init__(self, model: ViewerModel, notifier: Notifier, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.notifier = notifier
        self.runner = Runner(2, "io", self)
        self._loading: set[int] = set()
        self.walks = 0
        model.events.current_changed.connect(self._current_changed)
        model.events.study_changed.connect(self._for_thumbnail)

    def open_paths(self, paths: Iterable[str | Path]) -> list[Study]:
        """Open files and folders (annotation files load ground truth instead).

        Returns:
            The studies added at once (those of folders arrive later, see walk_finished).
        """
        files, folders, problems = jobs.expand_paths(paths)
        for problem in problems:
            self.notifier.fail(problem)
        images = []
        for path in files:
            if is_annotation_file(path):
                self.load_ground_truth(path)
            else:
                images.append(path)
        added = self.add_files(images)
        for folder in folders:
            self.walk(folder)
        return added

    def add_files(self, paths: list[Path]) -> list[Study]:
        added = self.model.add_studies(paths)
        for study in added:
            self._for_thumbnail(study)
        return added

    def walk(self, folder: Path) -> None:
        """Walk a folder in the background; its studies are added batch by batch."""
        self.walks += 1
        self.notifier.say(f"Looking for images in {folder.name or folder} ...")

        def job(task):
            count = 0
            for batch in jobs.walk_images(folder, lambda: task.cancelled):
                task.partial(batch)
                count += len(batch)
            return count

        def done(count: int) -> None:
            if count == 0:
                self.notifier.fail(f"no image files found in {folder}")
            else:
                self.notifier.say(f"{folder.name or folder}: {count} image file(s)")

        def finished() -> None:
            self.walks -= 1
            self.walk_finished.emit(folder)

        # `finished` goes through submit, connected before the task starts: connected after,
        # a quick walk could end first and leave `walks` counting it forever.
        self.runner.submit(job, name=f"walk {folder.name}", partial=self.add_files, done=done,
                           failed=lambda message: self.notifier.fail(f"{folder}: {message}"), finished=finished)

    def prefetch(self, studies: Iterable[Study]) -> None:
        """Decode the studies the model takes next (InferenceController asks, in its order)."""
        for study in studies:
            self.load(study, priority=MODEL_PRIORITY)

    def load(self, study: Study, priority: int = 0) -> None:
        """Decode a study's image in the background (once at a time per study; a study whose
        file could not be read is not tried again)."""
        if id(study) in self._loading or study.image is not None or not study.readable:
            return
        self._loading.add(id(study))

        def done(result) -> None:
            self._loading.discard(id(study))
            if study not in self.model.studies:
                return  # closed meanwhile
            image, small = result
            self.model.image_loaded(study, image, small)
            self.trim()
            self.image_ready.emit(study)

        def failed(message: str) -> None:
            self._loading.discard(id(study))
            if study not in self.model.studies:
                return
            self.model.image_failed(study, message)
            self.notifier.fail(message)
            self.image_ready.emit(study)

        self.runner.submit(lambda task: jobs.load_image(study.path), name=f"read {study.name}",
                           done=done, failed=failed, priority=priority)

    def load_ground_truth(self, path: Path) -> int:
        """Use an annotation file chosen by the reader; errors go to the notifier."""
        try:
            count = self.model.ground_truth.add_file(path)
        except GroundTruthError as exc:
            self.notifier.fail(str(exc))
            return 0
        self.notifier.say(f"Ground truth: {Path(path).name} ({count} boxes)")
        return count

    def trim(self) -> None:
        """Drop decoded images (and cached full-size maps) of studies not shown lately."""
        for study in self.model.queue.images_to_evict():
            study.image = None
            if study.prediction is not None:
                study.prediction.drop_cache()

    def _current_changed(self, study: Study | None) -> None:
        if study is not None and study.image is None:
            self.load(study, priority=SHOWN_PRIORITY)

    def _for_thumbnail(self, study: Study) -> None:
        # A study no model waits for (no weights, cancelled, failed to load weights) is read
        # now for its thumbnail; a queued one waits for prefetch, so one decode serves both.
        if study.thumbnail is None and study.status not in (Status.QUEUED, Status.RUNNING):
            self.load(study)
