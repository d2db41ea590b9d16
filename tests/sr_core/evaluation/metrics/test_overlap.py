"""sr_core.evaluation.metrics.overlap: IoU and IoBB on hand-computed boxes."""

import pytest

from sr_core.evaluation.metrics import iobb, iobb_matrix, iou, iou_matrix


# --- overlap ----------------------------------------------------------------------------------


def test_iou_of_half_shifted_boxes():
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_iou_identical_is_one_and_touching_is_zero():
    assert iou((3, 4, 13, 24), (3, 4, 13, 24)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # exclusive ends: sharing an edge
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty union


def test_iobb_divides_by_the_predicted_box():
    assert iobb((0, 0, 10, 10), (0, 0, 100, 100)) == 1.0  # prediction inside the GT
    assert iobb((0, 0, 20, 10), (0, 0, 10, 10)) == 0.5
    assert iobb((0, 0, 10, 10), (5, 0, 15, 10)) == 0.5
    assert iobb((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_matrices_match_scalar_functions():
    preds = [(0, 0, 10, 10), (5, 5, 25, 15), (30, 30, 31, 31)]
    gts = [(0, 0, 10, 20), (4, 4, 14, 14)]
    ious, iobbs = iou_matrix(preds, gts), iobb_matrix(preds, gts)
    assert ious.shape == iobbs.shape == (3, 2)
    for p, pred in enumerate(preds):
        for g, gt in enumerate(gts):
            assert ious[p, g] == pytest.approx(iou(pred, gt))
            assert iobbs[p, g] == pytest.approx(iobb(pred, gt))
    assert iou_matrix([], gts).shape == (0, 2)


def test_malformed_box_raises():
    with pytest.raises(ValueError, match="x1 < x0"):
        iou((10, 0, 0, 10), (0, 0, 1, 1))
