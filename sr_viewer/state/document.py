"""ViewerModel: the viewer's document, plain Python and evented (no Qt).

Holds the studies, which one is shown, the finding, the threshold, the overlay settings and
the model status. Views subscribe to `model.events.<name>`; user intent comes back through
the setters. The threshold is derived from the cached FPM each time (never by re-running the
model): `overlay()` computes the regions once per change and the canvas and the box table
share them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sr_core.boxes import Regions
from sr_core.io import XrayImage
from sr_core.prediction import Prediction

from sr_viewer.state.compare import DEFAULT_IOU_THRESHOLD, BoxRow, compare_boxes
from sr_viewer.state.events import Events
from sr_viewer.state.ground_truth import GroundTruth
from sr_viewer.state.model_status import ModelStatus
from sr_viewer.state.study import Status, Study

COLORMAPS = ("inferno", "viridis", "magma", "plasma", "turbo", "cividis")
MODES = ("largest", "all")
IMAGES_KEPT = 4  # decoded images kept in memory besides the shown one (a 2k DICOM is 16 MB+)
IMAGES_AHEAD = 2  # queued studies decoded ahead of the model: the one it takes next, and one more

EVENT_NAMES = (
    "studies_added",  # (list[Study])
    "studies_removed",  # (list[Study])
    "study_changed",  # (Study): status, image, prediction or ground truth changed
    "current_changed",  # (Study | None)
    "finding_changed",  # (str | None)
    "threshold_changed",  # (float)
    "mode_changed",  # (str)
    "iou_threshold_changed",  # (float)
    "overlay_visible_changed",  # (bool)
    "gt_visible_changed",  # (bool)
    "colormap_changed",  # (str)
    "opacity_changed",  # (float)
    "window_changed",  # ((center, width) | None)
    "invert_changed",  # (bool)
    "model_changed",  # (ModelStatus)
)


@dataclass
class Overlay:
    """What is drawn over the current study at the current settings.

    Attributes:
        study: The study.
        finding: The finding whose map is shown (None before the model ran).
        threshold: The FPM threshold.
        probability: The finding's probability (None before the model ran).
        regions: Boxes, contours and mask at the threshold (None before the model ran).
        rows: The box table: predicted boxes, then GT boxes with IoU and hit/miss.
    """

    study: Study
    finding: str | None
    threshold: float
    probability: float | None
    regions: Regions | None
    rows: list[BoxRow] = field(default_factory=list)

    @property
    def pred_rows(self) -> list[BoxRow]:
        return [r for r in self.rows if r.kind == "pred"]

    @property
    def gt_rows(self) -> list[BoxRow]:
        return [r for r in self.rows if r.kind == "gt"]


class ViewerModel:
    """The document every view reads and every action writes."""

    def __init__(self) -> None:
        self.events = Events(*EVENT_NAMES)
        self.studies: list[Study] = []
        self.ground_truth = GroundTruth()
        self.ground_truth.events.changed.connect(self._refresh_ground_truth)
        self.model_status = ModelStatus()
        # {model name: {finding: threshold}}: thresholds the reader set, persisted in settings.
        self.threshold_memory: dict[str, dict[str, float]] = {}
        self._current: Study | None = None
        self._recent: list[Study] = []  # most recently shown first (image eviction order)
        self._threshold = 0.5
        self._mode = "largest"
        self._iou_threshold = DEFAULT_IOU_THRESHOLD
        self._overlay_visible = True
        self._gt_visible = True
        self._colormap = COLORMAPS[0]
        self._opacity = 0.45
        self._invert = False
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
            added.append(Study(path, status=status))
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
            if study in self._recent:
                self._recent.remove(study)
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
            if study in self._recent:
                self._recent.remove(study)
            self._recent.insert(0, study)
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

    def requeue(self, studies: Iterable[Study] | None = None, forget: bool = True) -> list[Study]:
        """Queue readable studies for the model again (a new model, or after cancel).

        Args:
            studies: Which ones (default: every readable study not already queued/running).
            forget: Drop existing predictions (they came from another model).
        """
        queued = []
        for study in self.studies if studies is None else studies:
            if not study.readable or study.status in (Status.QUEUED, Status.RUNNING):
                continue
            if study.status is Status.DONE and not forget:
                continue
            if forget:
                study.prediction = None
            study.status, study.error = Status.QUEUED, None
            queued.append(study)
            self.events.study_changed.emit(study)
        self._overlay_cache = None
        return queued

    def mark_unqueued(self, status: Status, keep: Study | None = None) -> list[Study]:
        """Queued studies become `status` (OPENED when the model is gone, CANCELLED on cancel).

        Args:
            status: The new status.
            keep: A queued study that stays queued (the one about to enter the model).

        Returns:
            The studies that were unqueued (empty when none was).
        """
        unqueued = [s for s in self.studies if s.status is Status.QUEUED and s is not keep]
        for study in unqueued:
            self.set_status(study, status)
        return unqueued

    def queued_for_inference(self, limit: int | None = None) -> list[Study]:
        """Queued studies in the order the model takes them: the shown one first, then list order."""
        queued = [s for s in self.studies if s.status is Status.QUEUED]
        if self._current in queued:
            queued.remove(self._current)
            queued.insert(0, self._current)
        return queued[:limit]

    def next_for_inference(self) -> Study | None:
        """The queued study to run next (see queued_for_inference)."""
        queued = self.queued_for_inference(1)
        return queued[0] if queued else None

    def images_to_evict(self) -> list[Study]:
        """Studies whose decoded image can be dropped: all but the IMAGES_KEPT most recently
        shown, the running study and the IMAGES_AHEAD the model takes next (their pixels were
        decoded for it: dropping them would mean decoding them twice)."""
        keep = set(self._recent[: IMAGES_KEPT + 1]) | ({self._current} if self._current else set())
        keep.update(s for s in self.studies if s.status is Status.RUNNING)
        keep.update(self.queued_for_inference(IMAGES_AHEAD))
        return [s for s in self.studies if s.image is not None and s not in keep]

    # --- finding and threshold --------------------------------------------------------------

    @property
    def finding(self) -> str | None:
        """The finding shown for the current study (None before the model ran)."""
        return self._current.shown_finding if self._current is not None else None

    def set_finding(self, finding: str | None) -> None:
        study = self._current
        if study is None or study.prediction is None:
            return
        if finding is not None and finding not in study.prediction.probabilities:
            raise KeyError(f"unknown finding {finding!r}")
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
    def threshold(self) -> float:
        return self._threshold

    def set_threshold(self, value: float, remember: bool = True) -> None:
        """Set the FPM threshold (clamped to [0, 1]).

        Args:
            value: The threshold.
            remember: Keep it as the reader's threshold for this model and finding.
        """
        value = float(value)
        if not math.isfinite(value):
            return
        value = min(1.0, max(0.0, value))
        finding = self.finding
        if remember and finding is not None and self.model_status.name:
            self.threshold_memory.setdefault(self.model_status.name, {})[finding] = value
        if value == self._threshold:
            return
        self._threshold = value
        self.events.threshold_changed.emit(value)

    def reset_threshold(self) -> None:
        """Forget the reader's threshold for this finding: back to the weights' one."""
        finding = self.finding
        memory = self.threshold_memory.get(self.model_status.name, {})
        memory.pop(finding, None)
        self.set_threshold(self._default_threshold(finding), remember=False)

    def weights_threshold(self, finding: str | None = None, study: Study | None = None) -> float:
        """The weights' own threshold for a finding (what "reset" returns to)."""
        study = study or self._current
        if study is not None and study.prediction is not None:
            return float(study.prediction.threshold_for(finding or study.shown_finding))
        return float(self.model_status.metadata.get("default_threshold", 0.5))

    def _default_threshold(self, finding: str | None, study: Study | None = None) -> float:
        remembered = self.threshold_memory.get(self.model_status.name, {}).get(finding) if finding else None
        return float(remembered) if remembered is not None else self.weights_threshold(finding, study)

    # --- view settings ----------------------------------------------------------------------

    def _set(self, attribute: str, value: Any, event: str) -> None:
        if getattr(self, attribute) == value:
            return
        setattr(self, attribute, value)
        getattr(self.events, event).emit(value)

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._set("_mode", mode, "mode_changed")

    def toggle_mode(self) -> None:
        self.set_mode("all" if self._mode == "largest" else "largest")

    @property
    def iou_threshold(self) -> float:
        return self._iou_threshold

    def set_iou_threshold(self, value: float) -> None:
        self._set("_iou_threshold", min(1.0, max(0.0, float(value))), "iou_threshold_changed")

    @property
    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def set_overlay_visible(self, visible: bool) -> None:
        self._set("_overlay_visible", bool(visible), "overlay_visible_changed")

    @property
    def gt_visible(self) -> bool:
        return self._gt_visible

    def set_gt_visible(self, visible: bool) -> None:
        self._set("_gt_visible", bool(visible), "gt_visible_changed")

    @property
    def colormap(self) -> str:
        return self._colormap

    def set_colormap(self, name: str) -> None:
        if name not in COLORMAPS:
            raise ValueError(f"colormap must be one of {COLORMAPS}, got {name!r}")
        self._set("_colormap", name, "colormap_changed")

    @property
    def opacity(self) -> float:
        return self._opacity

    def set_opacity(self, value: float) -> None:
        self._set("_opacity", min(1.0, max(0.0, float(value))), "opacity_changed")

    @property
    def invert(self) -> bool:
        return self._invert

    def set_invert(self, invert: bool) -> None:
        self._set("_invert", bool(invert), "invert_changed")

    @property
    def window(self) -> tuple[float, float] | None:
        """The current study's (center, width), or None for the file's own display."""
        return self._current.window if self._current is not None else None

    def set_window(self, window: tuple[float, float] | None) -> None:
        study = self._current
        if study is None:
            return
        if window is not None:
            center, width = (float(v) for v in window)
            window = (min(2.0, max(-1.0, center)), min(4.0, max(1e-3, width)))
        if study.window == window:
            return
        study.window = window
        self.events.window_changed.emit(window)

    # --- model ------------------------------------------------------------------------------

    def set_model_status(self, **changes: Any) -> None:
        for key, value in changes.items():
            if not hasattr(self.model_status, key):
                raise AttributeError(f"ModelStatus has no field {key!r}")
            setattr(self.model_status, key, value)
        self.events.model_changed.emit(self.model_status)

    # --- what to draw -----------------------------------------------------------------------

    def overlay(self) -> Overlay | None:
        """The overlay of the current study, computed once per change of its inputs."""
        study = self._current
        if study is None:
            return None
        key = (id(study), id(study.prediction), study.shown_finding, self._threshold, self._mode,
               self._iou_threshold, self._gt_version, len(study.gt_boxes))
        if self._overlay_cache is not None and self._overlay_cache[0] == key:
            return self._overlay_cache[1]
        overlay = self._compute_overlay(study, self._threshold)
        self._overlay_cache = (key, overlay)
        return overlay

    def overlay_for(self, study: Study) -> Overlay:
        """The overlay of any study: the current threshold for the shown study, else the
        threshold it would open with (batch export)."""
        if study is self._current:
            return self.overlay()
        threshold = self._default_threshold(study.shown_finding, study) if study.prediction is not None else self._threshold
        return self._compute_overlay(study, threshold)

    def _compute_overlay(self, study: Study, threshold: float) -> Overlay:
        prediction = study.prediction
        finding = study.shown_finding
        regions = prediction.regions(threshold, finding, self._mode) if prediction is not None else None
        rows = compare_boxes(regions.boxes if regions else [], finding, study.gt_boxes, self._iou_threshold,
                             has_prediction=prediction is not None)
        probability = float(prediction.probabilities[finding]) if prediction is not None else None
        return Overlay(study, finding, threshold, probability, regions, rows)

    def _refresh_ground_truth(self) -> None:
        self._gt_version += 1
        for study in self.studies:
            if study.width:
                study.gt_boxes = self.ground_truth.boxes_for(study.path, study.width, study.height)
                self.events.study_changed.emit(study)
