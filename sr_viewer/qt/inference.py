"""The model: weights loaded and studies predicted on a worker thread, never the UI thread.

One serial pool runs everything that touches torch (loading weights, then one study at a
time), so a model swap never races a prediction. Queued studies run in the background, the
shown one first. Cancel empties the queue (the study already in the model finishes: a
forward pass cannot be interrupted, and it takes a fraction of a second).

The model never reads a file: the StudyLoader decodes the next IMAGES_AHEAD queued studies
(`prefetch`) and a study runs once its pixels are there, so each opened file is decoded
once, and a file that cannot be read is reported once, by the loader.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from sr_core.prediction import Prediction, PredictorLike
from sr_viewer import jobs
from sr_viewer.qt.notify import Notifier
from sr_viewer.qt.study_loader import StudyLoader
from sr_viewer.qt.workers import Runner
from sr_viewer.state import IMAGES_AHEAD, NO_WEIGHTS_MESSAGE, Status, Study, ViewerModel

log = logging.getLogger(__name__)


class ModelSlot:
    """One model on a serial runner: its predictor, and the generation that drops the results
    of replaced weights.

    InferenceController holds the viewer's model in one; a comparison model
    (qt/comparison.py) holds its own on the same Runner, so two models load and predict one
    after the other, never at once: torch is driven from one thread at a time, and neither
    model's pass slows the other's by sharing the cores.

    Args:
        runner: The serial Runner everything that touches torch runs on.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.predictor: PredictorLike | None = None
        self.card_text: str | None = None
        self.generation = 0  # bumped on every weights/device change: late results are dropped

    def drop(self) -> None:
        """Forget the model (its memory goes with the last reference); results in flight are
        dropped when they arrive."""
        self.generation += 1
        self.predictor = None
        self.card_text = None

    def load(self, weights: Path, device: str, done: Callable[[jobs.LoadedModel], None],
             failed: Callable[[str], None]) -> None:
        """Load weights on the runner; `done`/`failed` run on the UI thread unless other
        weights were asked for (or the slot dropped) meanwhile."""
        self.drop()
        generation = self.generation

        def loaded(result: jobs.LoadedModel) -> None:
            if generation == self.generation:
                self.predictor, self.card_text = result.predictor, result.card_text
                done(result)

        def refused(message: str) -> None:
            if generation == self.generation:
                failed(message)

        self.runner.submit(lambda task: jobs.load_model(weights, device), name=f"load {weights.name}",
                           done=loaded, failed=refused)

    def predict(self, study: Study, done: Callable[[Prediction, bool], None], failed: Callable[[str, bool], None],
                priority: int = 0) -> None:
        """Run the model on the study's decoded image; `done(prediction, current)` or
        `failed(message, current)` on the UI thread, `current` False when the weights were
        replaced meanwhile (the result is not theirs)."""
        predictor, image, generation = self.predictor, study.image, self.generation
        self.runner.submit(lambda task: jobs.predict(predictor, image), name=f"predict {study.name}",
                           done=lambda result: done(result, generation == self.generation),
                           failed=lambda message: failed(message, generation == self.generation),
                           priority=priority)


class InferenceController(QObject):
    """Owns the predictor and the inference queue.

    Signals:
        model_ready(): weights loaded (the queue starts).
        model_failed(str): weights could not be used (one line naming the file).
        study_done(Study): a prediction arrived.
        study_failed(Study, str): the model failed on a study (others go on).
        progress(int, int): studies done and total in the current run of the queue.
        idle(): nothing queued or running.
    """

    model_ready = Signal()
    model_failed = Signal(str)
    study_done = Signal(object)
    study_failed = Signal(object, str)
    progress = Signal(int, int)
    idle = Signal()

    def __init__(self, model: ViewerModel, notifier: Notifier, loader: StudyLoader,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.notifier = notifier
        self.loader = loader
        self.runner = Runner(1, "model", self)
        self.slot = ModelSlot(self.runner)
        self._running: Study | None = None
        self._waiting: Study | None = None  # next in line, its pixels being decoded by the loader
        self._run_done = 0
        self._run_total = 0
        model.events.studies_added.connect(lambda studies: self.schedule())
        model.events.studies_removed.connect(lambda studies: self.schedule())
        model.events.current_changed.connect(self._current_changed)
        loader.image_ready.connect(self._image_ready)

    @property
    def predictor(self) -> PredictorLike | None:
        return self.slot.predictor

    @property
    def card_text(self) -> str | None:
        return self.slot.card_text

    @card_text.setter
    def card_text(self, text: str | None) -> None:
        self.slot.card_text = text

    # --- weights ----------------------------------------------------------------------------

    def load_weights(self, weights: str | Path | None, device: str | None = None) -> None:
        """Load weights in the background (None: no model; studies stay image-only)."""
        device = device or self.model.model_status.device
        self._waiting = None
        self.slot.drop()  # before the queue is rescheduled below: no study goes to the old model
        if weights is None:
            self.model.set_model_status(state="none", weights=None, device=device, message=NO_WEIGHTS_MESSAGE,
                                        metadata={}, name="", active_device=None)
            self.model.queue.unqueue(Status.OPENED)
            return
        weights = Path(weights)
        previous = self.model.model_status
        same_model = previous.weights == weights and previous.state == "ready"
        self.model.set_model_status(state="loading", weights=weights, device=device, name=weights.name,
                                    message=f"loading {weights.name} ({device}) ...",
                                    metadata=previous.metadata if same_model else {})
        if not same_model:  # other weights: earlier predictions are not theirs
            self.model.queue.requeue(forget=True)
            self.schedule()  # no model yet: the first studies are decoded meanwhile
        self.notifier.say(f"Loading model {weights.name} ...")

        def done(loaded: jobs.LoadedModel) -> None:
            fallback = " (no usable GPU: using the CPU)" if device == "cuda" and not loaded.active_device.startswith("cuda") else ""
            self.model.set_model_status(
                state="ready", metadata=loaded.metadata, active_device=loaded.active_device,
                cuda_available=loaded.cuda_available,
                message=f"{weights.name} on {loaded.active_device}{fallback}",
            )
            log.info("model %s ready on %s in %.1f s", weights.name, loaded.active_device, loaded.seconds)
            self.notifier.say(f"Model ready: {weights.name} on {loaded.active_device}{fallback}")
            self.model_ready.emit()
            self.schedule()

        def failed(message: str) -> None:
            self.model.set_model_status(state="error", message=message)
            self.model.queue.unqueue(Status.OPENED)
            self.notifier.fail(f"Cannot use weights {weights.name}: {message}")
            self.model_failed.emit(message)

        self.slot.load(weights, device, done, failed)

    def set_device(self, device: str) -> None:
        """Move the model to another device ("auto", "cpu", "cuda") by reloading it."""
        status = self.model.model_status
        if device == status.device:
            return
        if status.weights is None:
            self.model.set_model_status(device=device)
            return
        self.load_weights(status.weights, device)

    # --- the queue --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._running is not None or self._waiting is not None or self.model.model_status.state == "loading"

    def schedule(self) -> None:
        """Have the next queued studies decoded, and start the next one if the model is
        ready and idle and its pixels are there (else it starts when the loader has them)."""
        self._waiting = None
        self.loader.prefetch(self.model.queue.ahead(IMAGES_AHEAD))
        if self._running is not None or self.predictor is None:
            return
        study = self.model.queue.next_study()
        if study is not None and study.image is None:
            self._waiting = study
            return
        if study is None:
            if self._run_total:
                self._run_done = self._run_total = 0
                self.progress.emit(0, 0)
            self.idle.emit()
            return
        if self._run_total == 0:
            self._run_done = 0
        self._run_total = self._run_done + sum(1 for s in self.model.studies if s.status is Status.QUEUED)
        self._running = study
        self.model.set_status(study, Status.RUNNING)
        self.progress.emit(self._run_done, self._run_total)
        started = time.perf_counter()

        def done(result: Prediction, current: bool) -> None:
            self._running = None
            if current and study in self.model.studies:
                self.model.set_prediction(study, result)
                log.info("predicted %s in %.2f s", study.name, time.perf_counter() - started)
                self.loader.trim()
                self._run_done += 1
                self.study_done.emit(study)
            else:
                self._requeue_stale(study)
            self.schedule()

        def failed(message: str, current: bool) -> None:
            self._running = None
            if current and study in self.model.studies:
                self.model.set_status(study, Status.ERROR, message)
                self.notifier.fail(f"Inference failed on {study.name}: {message}")
                self._run_done += 1
                self.study_failed.emit(study, message)
            else:
                self._requeue_stale(study)
            self.schedule()

        self.slot.predict(study, done, failed)

    def cancel(self) -> int:
        """Stop the queue: queued studies become "cancelled" (run them again with Run). The
        study in the model, or next in with its pixels being read, finishes.

        Returns:
            How many studies were cancelled; with none queued nothing changes and nothing
            is said (Esc also closes dialogs: it must not claim to have cancelled anything).
        """
        waiting = self._waiting if self._waiting is not None and self._waiting.status is Status.QUEUED else None
        cancelled = len(self.model.queue.unqueue(Status.CANCELLED, keep=waiting))
        if not cancelled:
            return 0
        in_flight = self._running is not None or waiting is not None
        if in_flight:
            self._run_total = self._run_done + 1
        else:
            self._run_done = self._run_total = 0
        self.progress.emit(self._run_done, self._run_total)
        self.notifier.say(f"Inference queue cancelled: {cancelled} {'study' if cancelled == 1 else 'studies'} not run")
        return cancelled

    def run_again(self, studies: list[Study] | None = None) -> None:
        """Queue studies (default: all cancelled/opened/failed ones) and start."""
        if studies is None:
            studies = [s for s in self.model.studies if s.status in (Status.CANCELLED, Status.OPENED, Status.ERROR)]
        self.model.queue.requeue(studies, forget=True)
        self.schedule()

    def _requeue_stale(self, study: Study) -> None:
        """A result from replaced weights was dropped: the study waits for the new model."""
        if study in self.model.studies and study.status is Status.RUNNING:
            waiting = self.model.model_status.state in ("ready", "loading")
            self.model.set_status(study, Status.QUEUED if waiting else Status.OPENED)

    def shutdown(self) -> None:
        self.slot.generation += 1
        self.runner.shutdown()

    def _image_ready(self, study: Study) -> None:
        # The study the queue waits for was decoded (or could not be: then the next one goes).
        if study is self._waiting:
            self.schedule()

    def _current_changed(self, study: Study | None) -> None:
        # The reader wants to see this one: a cancelled study runs when shown.
        if study is not None and study.status is Status.CANCELLED and self.predictor is not None:
            self.model.queue.requeue([study])
            self.schedule()
