"""sr_viewer.state.overlay: predicted and ground-truth rows, scored only against the shown finding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sr_core.io import read_image
from sr_viewer.state import GtBox, ViewerModel, compare_boxes

from ..conftest import FakePrediction
from .conftest import loaded_model, predict


def test_gt_rows_carry_iou_and_hit_at_the_iou_threshold(tmp_path):
    model, studies = loaded_model(tmp_path)
    studies[0].gt_boxes = [GtBox("Mass", (40, 20, 120, 100)), GtBox("Mass", (250, 10, 290, 40))]
    predict(model, studies[0])
    model.set_threshold(0.5)
    gt = model.overlay().gt_rows
    assert gt[0].iou > 0.3 and gt[0].hit is True
    assert gt[1].iou == 0.0 and gt[1].hit is False
    assert model.overlay().pred_rows[0].iou == gt[0].iou
    model.view.iou_threshold = 0.95
    assert model.overlay().gt_rows[0].hit is False


DEMO_STUDY = Path(__file__).resolve().parents[3] / "resources" / "demo" / "00000072_000.png"


def test_gt_boxes_of_other_findings_are_context_on_the_demo_study():
    """Issue #13 item 4: the Mass map of 00000072_000 must not score its Atelectasis box."""
    model = ViewerModel()
    (study,) = model.add_studies([DEMO_STUDY])  # BBox_List_2017.csv beside it is found
    model.image_loaded(study, read_image(DEMO_STUDY))
    (atelectasis,) = study.gt_boxes
    assert atelectasis.finding == "Atelectasis"
    x0, y0, x1, y1 = (round(v) for v in atelectasis.box)
    on_box = np.zeros((study.height, study.width), np.float32)
    on_box[y0:y1, x0:x1] = 0.9
    beside = np.zeros_like(on_box)  # a Mass region that barely touches the Atelectasis box
    beside[y1 - 4 : y1 + 200, x1 - 4 : x1 + 200] = 0.9
    model.set_prediction(study, FakePrediction({"Mass": beside, "Atelectasis": on_box},
                                               {"Mass": 0.6, "Atelectasis": 0.4}))
    model.set_finding("Mass")
    overlay = model.overlay()
    (pred,) = overlay.pred_rows
    (gt,) = overlay.gt_rows
    assert gt.context and gt.finding == "Atelectasis" and gt.iou is None and gt.hit is None
    assert gt.label == "GT Atelectasis (other finding)"
    assert pred.finding == "Mass" and pred.iou is None  # no Mass box to compare with
    model.set_finding("Atelectasis")
    (gt,) = model.overlay().gt_rows
    assert not gt.context and gt.hit is True and gt.iou > 0.9
    assert gt.label.startswith("GT Atelectasis IoU ") and gt.label.endswith(" hit")


def test_only_the_shown_findings_gt_boxes_are_scored():
    gts = [GtBox("Mass", (0, 0, 10, 10)), GtBox("Nodule", (0, 0, 10, 10)), GtBox("mass", (20, 20, 30, 30))]
    rows = compare_boxes([(0, 0, 10, 10)], "Mass", gts)
    pred, mass, nodule, far_mass = rows
    assert pred.iou == pytest.approx(1.0)
    assert (mass.iou, mass.hit, mass.context) == (pytest.approx(1.0), True, False)
    assert (nodule.iou, nodule.hit, nodule.context) == (None, None, True)  # same place, other finding
    assert (far_mass.iou, far_mass.hit, far_mass.context) == (0.0, False, False)  # spelling case aside
    before = compare_boxes([], None, gts, has_prediction=False)
    assert not any(r.context for r in before) and all(r.iou is None for r in before)
