"""ViewerModel: the viewer's document, plain Python and evented (no Qt).

Holds the studies and the selection: which study is shown, its finding, threshold and
window, and the thresholds the reader chose per model and finding. Its parts are models of
their own: `view` (ViewSettings: how the overlay looks), `queue` (InferenceQueue: what the
model takes next, which images may go), `ground_truth` and `model_status`. Views subscribe
to `model.events.<name>` (and `model.view.events.<name>`); user intent comes back through
the setters. The threshold is derived from the cached FPM each time (never by re-running the
model): `overlay()` computes the regions once per change and the canvas and the box table
share them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sr_core.data.layout import NIH_BOX_FINDINGS
from sr_core.io import XrayImage
from sr_core.prediction import Prediction

from sr_viewer.state.events import Events
from sr_viewer.state.ground_truth import GroundTruth
from sr_viewer.state.inference_queue import InferenceQueue
from sr_viewer.state.model_status import ModelStatus
from sr_viewer.state.overlay import Overlay, compute_overlay
from sr_viewer.state.study import Status, Study
from sr_viewer.state.threshold import ThresholdChoice
from sr_viewer.state.view import ViewSettings

# What the document's own events carry; the view settings' events come from their fields.
EVENT_NAMES = (
    "studies_added",  # (list[Study])
    "studies_removed",  # (list[Study])
    "study_changed",  # (Study): status, image, prediction or ground truth changed
    "current_changed",  # (Study | None)
    "finding_changed",  # (str | None)
    "threshold_changed",  # (float)
    "window_changed",  # ((center, width) | None)
    "model_changed",  # (ModelStatus)
    "measurements_changed",  # (Study): a distance of the study was added, moved or removed
    "drawn_boxes_changed",  # (Study): a box the reader drew was added, moved or removed
)


class ViewerModel(ThresholdChoice):
    """The document every view reads and every action writes."""

    def __init__(self) -> None:
        self.events = Events(*EVENT_NAMES)
        self.studies: list[Study] = []
        self.ground_truth = GroundTruth()
        self.ground_truth.events.changed.connect(self._refresh_ground_truth)
        self.model_status = ModelStatus()
        # {model name: {finding: threshold}}: thresholds the reader set, persisted in settings.
        self.threshold_memory: dict[str, dict[str, float]] = {}
        self.view = ViewSettings()
        self.queue = InferenceQueue(self)
        self.recent: list[Study] = []  # most recently shown first (the queue's eviction order)
        self._current: Study | None = None
        self._threshold = 0.5
        self._overlay_cache: tuple[tuple, Overlay] | None = None
        self._gt_version = 0

    # --- studies ---------------------------------------------------------------------------

    def add_studies(self, paths: Iterable[str | Path]) -> list[Study]:
        """Add image files as studies (already open files are skipped) and look for GT.

        Returns:
            The new studies, in the given order. The first becomes current if none was.
        """
        known = {s.path.resolve() for s in self.studies}
        added = []
        for path in paths:
            path = Path(path)
            resolved = path.resolve()
            if resolved in known:
                continue
            known.add(resolved)
            self.ground_truth.discover(path)
            status = Status.QUEUED if self.model_status.state in ("ready", "loading") else Status.OPENED
            study = Study(path, status=status)
            study.measurements.events.changed.connect(lambda s=study: self.events.measurements_changed.emit(s))
            study.drawn_boxes.events.changed.connect(lambda s=study: self.events.drawn_boxes_changed.emit(s))
            added.append(study)
        if added:
            self.studies.extend(added)
            self.events.studies_added.emit(added)
            if self._current is None:
                self.set_current(added[0])
        return added

    def remove_studies(self, studies: Iterable[Study]) -> None:
        gone = [s for s in studies if s in self.studies]
        if not gone:
            return
        index = self.studies.index(self._current) if self._current in self.studies else 0
        for study in gone:
            self.studies.remove(study)
            if study in self.recent:
                self.recent.remove(study)
        self.events.studies_removed.emit(gone)
        if self._current in gone:
            self.set_current(self.studies[min(index, len(self.studies) - 1)] if self.studies else None)

    def study_for(self, path: str | Path) -> Study | None:
        resolved = Path(path).resolve()
        return next((s for s in self.studies if s.path.resolve() == resolved), None)

    @property
    def current(self) -> Study | None:
        return self._current

    def set_current(self, study: Study | None) -> None:
        """Show a study; the finding and threshold follow its prediction."""
        if study is self._current:
            return
        self._current = study
        if study is not None:
            if study in self.recent:
                self.recent.remove(study)
            self.recent.insert(0, study)
            self._threshold = self._default_threshold(study.shown_finding, study)
        self.events.current_changed.emit(study)

    def step(self, offset: int) -> None:
        """Move to the next (+1) or previous (-1) study, stopping at the ends."""
        if not self.studies:
            return
        index = self.studies.index(self._current) if self._current in self.studies else -offset
        self.set_current(self.studies[max(0, min(len(self.studies) - 1, index + offset))])

    def set_status(self, study: Study, status: Status, error: str | None = None) -> None:
        study.status = status
        study.error = error if status is Status.ERROR else None
        self.events.study_changed.emit(study)

    def image_loaded(self, study: Study, image: XrayImage, thumbnail: Any = None) -> None:
        """A worker decoded the study's image: keep it, its thumbnail and its GT boxes."""
        study.attach_image(image)
        if thumbnail is not None:
            study.thumbnail = thumbnail
        study.gt_boxes = self.ground_truth.boxes_for(study.path, study.width, study.height)
        self._overlay_cache = None
        self.events.study_changed.emit(study)

    def image_failed(self, study: Study, message: str) -> None:
        study.image = None
        self.set_status(study, Status.ERROR, message)

    def set_prediction(self, study: Study, prediction: Prediction) -> None:
        """The model's answer for a study; the threshold follows its finding if shown."""
        study.prediction = prediction
        study.status, study.error = Status.DONE, None
        if study is self._current:
            self._threshold = self._default_threshold(study.shown_finding)
        self._overlay_cache = None
        self.events.study_changed.emit(study)

    def forget_prediction(self, study: Study) -> None:
        """Drop a study's prediction (it came from another model; the queue runs it again)."""
        study.prediction = None
        self._overlay_cache = None

    # --- finding and threshold --------------------------------------------------------------

    @property
    def finding(self) -> str | None:
        """The finding shown for the current study (None before the model ran)."""
        return self._current.shown_finding if self._current is not None else None

    def finding_choices(self, study: Study | None = None) -> list[str]:
        """The findings the reader can choose for a study (default: the current one).

        With a prediction: its findings, most likely first. Before one (no weights, or the
        model still busy) the reader may still label: the loaded weights' classes, which
        the prediction will score a drawn box against, else NIH's eight box findings, the
        labels of BBox_List_2017 that sr-core-eval and the importer read (a study's loaded
        GT names only what is already boxed, and often nothing).
        """
        study = study or self._current
        if study is not None and study.prediction is not None:
            return study.findings
        names = self.model_status.metadata.get("class_names")
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return list(names)
        return list(NIH_BOX_FINDINGS)

    def set_finding(self, finding: str | None) -> None:
        """Choose the current study's finding: the map shown, and what a drawn box is for.

        Before the study's prediction only the choice is kept (for the box tool and, once
        the model answers, for the map when it knows the finding).

        Raises:
            KeyError: A finding that is not one of `finding_choices()`.
        """
        study = self._current
        if study is None:
            return
        if finding is not None and finding not in self.finding_choices(study):
            raise KeyError(f"unknown finding {finding!r}")
        if study.prediction is None:
            if finding != study.finding:
                study.finding = finding
                self.events.finding_changed.emit(finding)
            return
        if finding == study.shown_finding and study.finding is not None:
            return
        study.finding = finding
        self._threshold = self._default_threshold(study.shown_finding)
        self.events.finding_changed.emit(study.shown_finding)
        self.events.threshold_changed.emit(self._threshold)

    def step_finding(self, offset: int) -> None:
        """Choose the next (+1) or previous (-1) finding in probability order."""
        study = self._current
        if study is None or study.prediction is None:
            return
        findings = study.findings
        index = findings.index(study.shown_finding)
        self.set_finding(findings[(index + offset) % len(findings)])

    @property
    def threshold_model(self) -> str:
        """The weights file name the reader's thresholds are remembered under (ThresholdChoice)."""
        return self.model_status.name

    def weights_threshold(self, finding: str | None = None, study: Study | None = None) -> float:
        """The weights' own threshold for a finding (what "reset" returns to)."""
        study = study or self._current
        if study is not None and study.prediction is not None:
            return float(study.prediction.threshold_for(finding or study.shown_finding))
        return float(self.model_status.metadata.get("default_threshold", 0.5))

    # --- window ------------------------------------------------------------------------------

    @property
    def window(self) -> tuple[float, float] | None:
        """The current study's (center, width), or None for the file's own display."""
        return self._current.window if self._current is not None else None

    def set_window(self, window: tuple[float, float] | None, study: Study | None = None) -> None:
        """Set a study's window (default: the current study's); window_changed fires for the
        current study only (a session gives the others theirs before they are shown)."""
        study = study or self._current
        if study is None:
            return
        if window is not None:
            center, width = (float(v) for v in window)
            window = (min(2.0, max(-1.0, center)), min(4.0, max(1e-3, width)))
        if study.window == window:
            return
        study.window = window
        if study is self._current:
            self.events.window_changed.emit(window)

    # --- model ------------------------------------------------------------------------------

    def set_model_status(self, **changes: Any) -> None:
        self.model_status.update(**changes)
        self.events.model_changed.emit(self.model_status)

    # --- what to draw -----------------------------------------------------------------------

    def overlay(self) -> Overlay | None:
        """The overlay of the current study, computed once per change of its inputs."""
        study = self._current
        if study is None:
            return None
        key = (id(study), id(study.prediction), study.shown_finding, self._threshold, self.view.mode,
               self.view.iou_threshold, self._gt_version, len(study.gt_boxes),
               tuple(study.drawn_boxes))
        if self._overlay_cache is not None and self._overlay_cache[0] == key:
            return self._overlay_cache[1]
        overlay = compute_overlay(study, self._threshold, self.view)
        self._overlay_cache = (key, overlay)
        return overlay

    def overlay_for(self, study: Study) -> Overlay:
        """The overlay of any study: the current threshold for the shown study, else the
        threshold it would open with (batch export)."""
        if study is self._current:
            return self.overlay()
        threshold = self.shown_threshold(study)
        return compute_overlay(study, threshold if threshold is not None else self._threshold, self.view)

    def shown_threshold(self, study: Study) -> float | None:
        """The threshold a study is shown at: the current one for the shown study, else the
        one it would open with; None before its prediction (there is no map to cut)."""
        if study.prediction is None:
            return None
        return self._threshold if study is self._current else self._default_threshold(study.shown_finding, study)

    def _refresh_ground_truth(self) -> None:
        self._gt_version += 1
        for study in self.studies:
            if study.width:
                study.gt_boxes = self.ground_truth.boxes_for(study.path, study.width, study.height)
                self.events.study_changed.emit(study)
