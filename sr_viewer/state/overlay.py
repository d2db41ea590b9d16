"""What is drawn over a study: its regions at a threshold and the box table beside them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sr_core.boxes import Regions
from sr_core.prediction import Prediction

from sr_viewer.state.compare import BoxRow, compare_boxes
from sr_viewer.state.study import Study
from sr_viewer.state.view import ViewSettings


@dataclass
class Overlay:
    """What is drawn over the current study at the current settings.

    Attributes:
        study: The study.
        finding: The finding whose map is shown (None before the model ran).
        threshold: The FPM threshold.
        probability: The finding's probability (None before the model ran).
        regions: Boxes, contours and mask at the threshold (None before the model ran).
        rows: The box table: predicted boxes, then GT boxes (loaded, then drawn) with IoU and hit/miss.
        prediction: The prediction the regions were cut from: the study's own, or a
            comparison model's (state/comparison.py), so a canvas draws either alike.
    """

    study: Study
    finding: str | None
    threshold: float
    probability: float | None
    regions: Regions | None
    rows: list[BoxRow] = field(default_factory=list)
    prediction: Prediction | None = None

    @property
    def pred_rows(self) -> list[BoxRow]:
        return [r for r in self.rows if r.kind == "pred"]

    @property
    def gt_rows(self) -> list[BoxRow]:
        return [r for r in self.rows if r.kind == "gt"]


def compute_overlay(study: Study, threshold: float, view: ViewSettings) -> Overlay:
    """The study's shown finding cut at `threshold`, its boxes scored against its GT.

    This is the one Prediction.regions call per change (ViewerModel.overlay caches it).
    """
    return overlay_of(study, study.prediction, study.shown_finding, threshold, view)


def overlay_of(study: Study, prediction: Prediction | None, finding: str | None, threshold: float,
               view: ViewSettings) -> Overlay:
    """Any prediction of the study (its own, or a comparison model's) cut at `threshold`.

    Args:
        study: The study (its GT boxes are scored).
        prediction: The model's answer, or None (nothing to cut: GT rows carry no IoU).
        finding: The finding whose map is cut (one the prediction knows).
        threshold: The FPM threshold.
        view: Mode and IoU threshold.
    """
    regions = prediction.regions(threshold, finding, view.mode) if prediction is not None else None
    rows = compare_boxes(regions.boxes if regions else [], finding, study.all_gt_boxes, view.iou_threshold,
                         has_prediction=prediction is not None)
    probability = float(prediction.probabilities[finding]) if prediction is not None else None
    return Overlay(study, finding, threshold, probability, regions, rows, prediction)
