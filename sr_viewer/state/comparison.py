"""Comparison: a second model ("B") read beside the document's own ("A"), Qt-free.

A reader compares two weights files on the same study: a model and one of its ablations, or
two checkpoints of one run. Model A stays the document's (ViewerModel: its queue, statuses,
threshold); B is held here, apart, so that removing it leaves A exactly as it was:

* B's status (a ModelStatus of its own: weights, state, message, metadata);
* B's prediction per study (studies keep A's in `study.prediction`), and the studies B
  failed on (not tried again until B is reopened);
* B's threshold for the shown study: like A's, it defaults to B's own per-finding threshold
  and a threshold the reader sets is remembered per weights file name and finding in the
  document's `threshold_memory` (saved with the settings), so B's weights opened later, on
  either side, start from it. Two files of the same name share that memory;
* B's overlay (state/overlay.py's `overlay_of`, the function A's overlay comes from) and
  the rows of the comparison table (`comparison_rows`).

B shows the finding A shows, so that the two maps answer the same question; before A has
answered, B shows its own top finding; a finding B's weights do not know is shown on B's
side as nothing to cut (the table still lists both probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sr_core.prediction import Prediction

from sr_viewer.state.compare import same_finding
from sr_viewer.state.events import Events
from sr_viewer.state.model_status import ModelStatus
from sr_viewer.state.overlay import Overlay, overlay_of
from sr_viewer.state.study import Study
from sr_viewer.state.threshold import ThresholdChoice

if TYPE_CHECKING:  # the comparison reads the document; only the type is needed here
    from sr_viewer.state.document import ViewerModel

EVENT_NAMES = (
    "status_changed",  # (ModelStatus): B opened, loading, ready, failed or removed
    "prediction_changed",  # (Study): B's answer for a study arrived or was dropped
    "threshold_changed",  # (float): B's threshold for the shown study
)
NO_COMPARISON = "no comparison model"


@dataclass(frozen=True)
class ComparisonRow:
    """One line of the comparison table.

    Attributes:
        kind: "finding" (both models' probabilities) or "gt" (a GT box of the shown finding
            with each model's best IoU and hit/miss at the IoU threshold).
        finding: The finding (for "gt": the finding the box was drawn for).
        probability_a, probability_b: Each model's probability (None: that model has not
            answered, or does not know the finding); "finding" rows only.
        iou_a, iou_b: Each model's best IoU with this GT box (None: no map to compare).
        hit_a, hit_b: Whether that IoU is > the IoU threshold (None as for the IoU).
        box: The GT box (x0, y0, x1, y1) ("gt" rows only).
        shown: The finding whose maps are shown ("finding" rows).
    """

    kind: str
    finding: str
    probability_a: float | None = None
    probability_b: float | None = None
    iou_a: float | None = None
    iou_b: float | None = None
    hit_a: bool | None = None
    hit_b: bool | None = None
    box: tuple[float, float, float, float] | None = None
    shown: bool = False


def comparison_rows(prediction_a: Prediction | None, prediction_b: Prediction | None,
                    overlay_a: Overlay | None, overlay_b: Overlay | None) -> list[ComparisonRow]:
    """The comparison table: every finding with both probabilities (A's order, then the
    findings only B knows), the shown finding's GT boxes with both models' IoUs right under
    its row (where the eye is, however many findings follow).

    The IoUs are the overlays' own (state/compare.py's scoring, each model at its own
    threshold), so the table says what the two canvases draw.
    """
    shown = (overlay_a.finding if overlay_a is not None and overlay_a.prediction is not None else None) or (
        overlay_b.finding if overlay_b is not None else None)
    findings = list(prediction_a.findings) if prediction_a is not None else []
    if prediction_b is not None:
        findings += [f for f in prediction_b.findings if f not in findings]
    rows = []
    for finding in findings:
        rows.append(ComparisonRow("finding", finding, _probability(prediction_a, finding),
                                  _probability(prediction_b, finding), shown=finding == shown))
        if finding == shown and overlay_a is not None and overlay_b is not None:
            rows += _gt_rows(overlay_a, overlay_b, shown)
    return rows


def _gt_rows(overlay_a: Overlay, overlay_b: Overlay, shown: str) -> list[ComparisonRow]:
    # Both overlays score the same study's GT boxes in the same order.
    return [ComparisonRow("gt", a.finding, iou_a=a.iou, iou_b=b.iou, hit_a=a.hit, hit_b=b.hit, box=a.box)
            for a, b in zip(overlay_a.gt_rows, overlay_b.gt_rows) if same_finding(a.finding, shown)]


def _probability(prediction: Prediction | None, finding: str) -> float | None:
    if prediction is None or finding not in prediction.probabilities:
        return None
    return float(prediction.probabilities[finding])


class Comparison(ThresholdChoice):
    """Model B's state beside a ViewerModel (see the module docstring).

    Args:
        document: The ViewerModel whose studies, shown study, finding, view settings and
            threshold memory B follows.
    """

    def __init__(self, document: ViewerModel) -> None:
        self.document = document
        self.events = Events(*EVENT_NAMES)
        self.status = ModelStatus(message=NO_COMPARISON)
        self._predictions: dict[int, Prediction] = {}  # id(study) -> B's answer
        self._failed: dict[int, str] = {}  # id(study) -> why B could not answer
        self._threshold = 0.5
        self._followed: tuple[int, str | None] | None = None  # (study, finding) the threshold is for
        self._overlay_cache: tuple[tuple, Overlay] | None = None
        events = document.events
        events.current_changed.connect(lambda study: self._follow_finding())
        events.finding_changed.connect(lambda finding: self._follow_finding())
        # A's answer for the shown study arrived: B turns to A's finding.
        events.study_changed.connect(lambda study: self._follow_finding() if study is document.current else None)
        events.studies_removed.connect(self._forget)

    # --- the model --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """A comparison model is open (loading, ready, or loading failed and not yet removed)."""
        return self.status.state != "none"

    @property
    def name(self) -> str:
        return self.status.name

    def set_status(self, **changes: Any) -> None:
        self.status.update(**changes)
        self.events.status_changed.emit(self.status)

    def open(self, weights: str | Path, device: str) -> None:
        """B becomes these weights, loading: earlier answers of B are dropped."""
        weights = Path(weights)
        self._clear()
        self.status = ModelStatus(state="loading", weights=weights, device=device, name=weights.name,
                                  message=f"loading {weights.name} ({device}) ...")
        self.events.status_changed.emit(self.status)

    def remove(self) -> None:
        """No comparison any more: B's status, answers and overlay are dropped."""
        self._clear()
        self.status = ModelStatus(message=NO_COMPARISON)
        self.events.status_changed.emit(self.status)

    def _clear(self) -> None:
        studies = [s for s in self.document.studies if id(s) in self._predictions]
        self._predictions.clear()
        self._failed.clear()
        self._overlay_cache = None
        self._followed = None
        for study in studies:
            self.events.prediction_changed.emit(study)

    # --- answers ----------------------------------------------------------------------------

    def prediction_for(self, study: Study | None) -> Prediction | None:
        return self._predictions.get(id(study)) if study is not None else None

    def failure_for(self, study: Study | None) -> str | None:
        return self._failed.get(id(study)) if study is not None else None

    def needs_prediction(self, study: Study | None) -> bool:
        """Whether B should run on the study: B ready, the study readable and not answered
        (nor failed) by B yet."""
        return (study is not None and self.status.ready and study.readable and study in self.document.studies
                and id(study) not in self._predictions and id(study) not in self._failed)

    def set_prediction(self, study: Study, prediction: Prediction) -> None:
        """B's answer for a study; its threshold follows B's value for the finding if shown."""
        self._predictions[id(study)] = prediction
        self._failed.pop(id(study), None)
        self._overlay_cache = None
        if study is self.document.current:
            self._follow_finding()
        self.events.prediction_changed.emit(study)

    def set_failed(self, study: Study, message: str) -> None:
        self._failed[id(study)] = message
        self.events.prediction_changed.emit(study)

    def _forget(self, studies: list[Study]) -> None:
        for study in studies:
            self._predictions.pop(id(study), None)
            self._failed.pop(id(study), None)
        self._overlay_cache = None

    # --- finding and threshold --------------------------------------------------------------

    def finding_for(self, study: Study | None) -> str | None:
        """The finding B shows for a study: A's (see the module docstring), else B's top one
        before A has answered; None when B has not answered or does not know A's finding."""
        prediction = self.prediction_for(study)
        if prediction is None:
            return None
        finding = study.shown_finding
        if finding is None:
            return prediction.findings[0]
        return finding if finding in prediction.probabilities else None

    @property
    def finding(self) -> str | None:
        return self.finding_for(self.document.current)

    @property
    def threshold_memory(self) -> dict[str, dict[str, float]]:
        """The document's memory: B's thresholds are kept under B's weights file name."""
        return self.document.threshold_memory

    @property
    def threshold_model(self) -> str:
        return self.name

    def weights_threshold(self, finding: str | None = None, study: Study | None = None) -> float:
        """B's weights' own threshold for a finding (what "reset" returns to)."""
        prediction = self.prediction_for(study or self.document.current)
        if prediction is not None:
            return float(prediction.threshold_for(finding or self.finding))
        return float(self.status.metadata.get("default_threshold", 0.5))

    def _follow_finding(self) -> None:
        # Another study or finding shown: B's threshold becomes B's for that finding (the
        # reader's remembered one, else the weights'); the same pair again changes nothing.
        followed = (id(self.document.current), self.finding)
        if followed == self._followed:
            return
        self._followed = followed
        value = self._default_threshold(self.finding)
        if value != self._threshold:
            self._threshold = value
            self.events.threshold_changed.emit(value)

    # --- what to draw -----------------------------------------------------------------------

    def overlay(self) -> Overlay | None:
        """B's overlay of the shown study, computed once per change of its inputs (B's canvas
        and the comparison table share it)."""
        study = self.document.current
        if study is None or not self.active:
            return None
        prediction, finding = self.prediction_for(study), self.finding
        if finding is None:
            prediction = None  # nothing of B's to cut for this finding
        view = self.document.view
        key = (id(study), id(prediction), finding, self._threshold, view.mode, view.iou_threshold,
               tuple(study.all_gt_boxes))
        if self._overlay_cache is not None and self._overlay_cache[0] == key:
            return self._overlay_cache[1]
        overlay = overlay_of(study, prediction, finding, self._threshold, view)
        self._overlay_cache = (key, overlay)
        return overlay

    def overlay_for(self, study: Study) -> Overlay | None:
        """B's overlay of any study (exports): the shown one's as on screen, another's at the
        threshold B would open it with; None without a comparison."""
        if not self.active:
            return None
        if study is self.document.current:
            return self.overlay()
        prediction, finding = self.prediction_for(study), self.finding_for(study)
        return overlay_of(study, prediction if finding is not None else None, finding,
                          self._default_threshold(finding, study), self.document.view)

    def rows(self) -> list[ComparisonRow]:
        """The comparison table of the shown study (see comparison_rows)."""
        study = self.document.current
        if study is None or not self.active:
            return []
        return comparison_rows(study.prediction, self.prediction_for(study), self.document.overlay(), self.overlay())
