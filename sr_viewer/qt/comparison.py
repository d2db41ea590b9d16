"""The comparison model ("B"): its weights loaded and the shown study predicted off the UI thread.

B runs on InferenceController's serial Runner through a ModelSlot of its own (the class
model A's controller is built on), so the two models' loads and passes take turns on one
worker thread and never race. B predicts the study on screen, when it is shown (A's queue
goes on through the other studies meanwhile): a comparison is read one study at a time, and
a second background run through a long list would halve A's speed on a CPU. Answers of B
are kept per study, so going back to a study shows them at once.

B never reads a file: the StudyLoader's decode of the shown study (the one A uses) is what
B gets. Weights B cannot use are one line in the status bar and a dialog, and the
comparison is closed: the viewer keeps A alone, as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sr_core.prediction import Prediction
from sr_viewer import jobs
from sr_viewer.qt.inference import InferenceController, ModelSlot
from sr_viewer.qt.notify import Notifier
from sr_viewer.qt.study_loader import SHOWN_PRIORITY, StudyLoader
from sr_viewer.state import Study, ViewerModel
from sr_viewer.state.comparison import Comparison

log = logging.getLogger(__name__)


class ComparisonController(QObject):
    """Loads model B and runs it on the shown study.

    Args:
        model: The document (A's side; B follows its shown study).
        comparison: B's Qt-free state.
        inference: A's controller: B's work goes on its Runner, the device follows A's.
        loader: The study loader (the pixels B predicts on).
        notifier: Where one-line messages go.

    Signals:
        ready(): B's weights loaded.
        failed(str): B's weights could not be used (the comparison is closed).
        study_done(Study): B answered for a study.
    """

    ready = Signal()
    failed = Signal(str)
    study_done = Signal(object)

    def __init__(self, model: ViewerModel, comparison: Comparison, inference: InferenceController,
                 loader: StudyLoader, notifier: Notifier, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.comparison = comparison
        self.inference = inference
        self.loader = loader
        self.notifier = notifier
        self.slot = ModelSlot(inference.runner)
        self._running: Study | None = None
        model.events.current_changed.connect(self._current_changed)
        model.events.studies_removed.connect(lambda studies: self.schedule())
        loader.image_ready.connect(lambda study: self.schedule() if study is model.current else None)

    @property
    def busy(self) -> bool:
        return self._running is not None or self.comparison.status.state == "loading"

    def open(self, weights: str | Path, device: str | None = None) -> None:
        """Load weights as model B in the background (replacing any earlier B)."""
        weights = Path(weights)
        device = device or self.model.model_status.device
        self._running = None
        self.comparison.open(weights, device)
        self.notifier.say(f"Loading comparison model {weights.name} ...")

        def done(loaded: jobs.LoadedModel) -> None:
            self.comparison.set_status(state="ready", metadata=loaded.metadata, active_device=loaded.active_device,
                                       cuda_available=loaded.cuda_available,
                                       message=f"{weights.name} on {loaded.active_device}")
            log.info("comparison model %s ready on %s in %.1f s", weights.name, loaded.active_device, loaded.seconds)
            self.notifier.say(f"Comparison model ready: {weights.name} on {loaded.active_device}")
            self.ready.emit()
            self.schedule()

        def failed(message: str) -> None:
            self.slot.drop()
            self.comparison.remove()
            self.notifier.fail(f"Cannot use comparison weights {weights.name}: {message}")
            self.failed.emit(message)

        self.slot.load(weights, device, done, failed)

    def remove(self) -> None:
        """Close the comparison: B's model and answers are let go (a pass in flight finishes
        on the worker and its result is dropped)."""
        if not self.comparison.active:
            return
        name = self.comparison.name
        self.slot.drop()
        self._running = None
        self.comparison.remove()
        self.notifier.say(f"Comparison removed: {name}")

    def set_device(self, device: str) -> None:
        """A's device changed: B follows it (reloaded there), so both run where the reader chose."""
        status = self.comparison.status
        if self.comparison.active and status.weights is not None and status.device != device:
            self.open(status.weights, device)

    def schedule(self) -> None:
        """Run B on the shown study if it has no answer of B's yet and B is idle; without
        its pixels, ask the loader for them (image_ready brings us back)."""
        study = self.model.current
        if self._running is not None or self.slot.predictor is None or not self.comparison.needs_prediction(study):
            return
        if study.image is None:
            self.loader.load(study, priority=SHOWN_PRIORITY)
            return
        self._running = study

        def done(result: Prediction, current: bool) -> None:
            if not current:  # B was removed or replaced meanwhile: not its answer
                return
            self._running = None
            if study in self.model.studies:
                self.comparison.set_prediction(study, result)
                self.study_done.emit(study)
            self.schedule()

        def failed(message: str, current: bool) -> None:
            if not current:
                return
            self._running = None
            if study in self.model.studies:
                self.comparison.set_failed(study, message)
                self.notifier.fail(f"Comparison model failed on {study.name}: {message}")
            self.schedule()

        self.slot.predict(study, done, failed)

    def shutdown(self) -> None:
        self.slot.generation += 1

    def _current_changed(self, study: Study | None) -> None:
        # Full-size maps of B's answers for studies out of sight go (they are rebuilt from
        # the small maps when shown again), as the loader does for A's.
        for other in self.model.studies:
            prediction = self.comparison.prediction_for(other)
            if other is not study and prediction is not None and other.image is None:
                prediction.drop_cache()
        self.schedule()
