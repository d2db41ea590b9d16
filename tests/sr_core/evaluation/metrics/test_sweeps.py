"""sr_core.evaluation.metrics.sweeps: MaxBoxAccV2 and the GT-known curves over thresholds."""

import json

import numpy as np
import pytest

from sr_core.boxes import upsample_fpm
from sr_core.evaluation.metrics import (
    FpmRecord,
    best_thresholds,
    gt_known_curve,
    max_box_acc_v2,
    sweep_metrics,
)


# --- MaxBoxAccV2 and curves -------------------------------------------------------------------


def blob_map(size, box):
    fpm = np.zeros(size, np.float32)
    x0, y0, x1, y1 = box
    fpm[y0:y1, x0:x1] = 1.0
    return fpm


def test_maxboxacc_is_one_when_a_blob_matches_the_gt():
    gt = (10, 20, 30, 44)
    records = [FpmRecord("a.png", "Mass", blob_map((64, 64), gt), [gt, (0, 0, 2, 2)])]
    result = max_box_acc_v2(records)
    assert result["0.3"] == result["0.5"] == result["0.7"] == result["mean"] == 1.0
    assert result["best_threshold"]["0.7"] == pytest.approx(0.01)  # 0.0 boxes the whole image
    assert json.loads(json.dumps(result)) == result


def test_maxboxacc_is_zero_when_the_map_never_matches():
    records = [FpmRecord("a.png", "Mass", blob_map((64, 64), (40, 40, 60, 60)), [(2, 2, 10, 10)])]
    result = max_box_acc_v2(records, step=0.05)
    # best case is the whole-image box at threshold 0: IoU 64/4096 < 0.3
    assert result["mean"] == 0.0 and result["0.3"] == 0.0


def test_maxboxacc_scales_a_small_map_to_image_pixels():
    gt = (64, 32, 192, 96)  # in a 256 x 128 image
    small = blob_map((64, 128), (32, 16, 96, 48))  # same box on a half-size grid
    records = [FpmRecord("a.png", "Mass", small, [gt], image_size=(128, 256))]
    assert max_box_acc_v2(records, step=0.1)["mean"] == 1.0


def test_maxboxacc_averages_records_and_uses_all_components():
    gt_a, gt_b = (4, 4, 20, 20), (40, 40, 60, 60)
    two = blob_map((64, 64), gt_a) * 0.9 + blob_map((64, 64), gt_b)  # the GT blob is the smaller
    records = [
        FpmRecord("a.png", "Mass", two, [gt_a]),
        FpmRecord("b.png", "Mass", blob_map((64, 64), (40, 40, 60, 60)), [(0, 0, 8, 8)]),
    ]
    result = max_box_acc_v2(records, thresholds=[0.5])
    assert result["0.7"] == 0.5  # first record found among several boxes, second missed


def test_gt_known_curve_and_operating_points():
    gt = (8, 8, 24, 24)
    fpm = np.zeros((32, 32), np.float32)
    fpm[4:28, 4:28] = 0.4  # a wide halo: box (4, 4, 28, 28), IoU 256/576 = 0.44
    fpm[8:24, 8:24] = 0.8  # the core matches the GT
    records = [FpmRecord("a.png", "Mass", fpm, [gt]), FpmRecord("b.png", "Nodule", fpm, [(0, 0, 2, 2)])]
    curve = gt_known_curve(records, thresholds=[0.0, 0.3, 0.6, 0.9], iou_threshold=0.5)
    np.testing.assert_array_equal(curve["per_class"]["Mass"], [0, 0, 1, 0])
    np.testing.assert_array_equal(curve["per_class"]["Nodule"], [0, 0, 0, 0])
    np.testing.assert_array_equal(curve["class_mean"], [0, 0, 0.5, 0])
    np.testing.assert_array_equal(curve["image_mean"], [0, 0, 0.5, 0])
    points = best_thresholds(curve)
    assert points["Mass"] == 0.6 and points["class_mean"] == 0.6


def test_on_a_flat_top_the_threshold_with_the_tightest_boxes_wins_not_the_lowest():
    gt = (8, 8, 16, 16)
    fpm = np.zeros((32, 32), np.float32)
    fpm[4:20, 4:20] = 0.4  # a halo: box (4, 4, 20, 20), IoU 64/256 = 0.25
    fpm[8:16, 8:16] = 0.8  # the core matches the GT: IoU 1
    records = [FpmRecord("a.png", "Mass", fpm, [gt])]
    curve = gt_known_curve(records, thresholds=[0.1, 0.3, 0.6, 0.9], iou_threshold=0.2)
    np.testing.assert_array_equal(curve["per_class"]["Mass"], [1, 1, 1, 0])  # one flat top
    np.testing.assert_allclose(curve["mean_iou"]["per_class"]["Mass"], [0.25, 0.25, 1.0, 0.0])
    points = best_thresholds(curve)
    assert points["Mass"] == 0.6 and points["class_mean"] == 0.6 and points["image_mean"] == 0.6


def test_a_box_size_bound_takes_the_best_threshold_whose_boxes_are_small_enough():
    gt = (8, 8, 16, 16)  # 64 px^2
    fpm = np.zeros((32, 32), np.float32)
    fpm[0:24, 0:24] = 0.3  # a wide halo: box (0, 0, 24, 24), 576 px^2 = 9x, IoU 64/576
    fpm[6:18, 6:18] = 0.6  # 144 px^2 = 2.25x, IoU 64/144 = 0.44
    fpm[7:17, 7:17] = 0.8  # 100 px^2 = 1.56x, IoU 0.64
    records = [FpmRecord("a.png", "Mass", fpm, [gt])]
    curve = gt_known_curve(records, thresholds=[0.1, 0.5, 0.7, 0.9], iou_threshold=0.1)
    np.testing.assert_allclose(curve["box_ratio"]["per_class"]["Mass"][:3], [9.0, 2.25, 1.5625])
    assert np.isnan(curve["box_ratio"]["per_class"]["Mass"][3])  # no box above 0.8
    np.testing.assert_array_equal(curve["per_class"]["Mass"], [1, 1, 1, 0])
    assert best_thresholds(curve)["Mass"] == 0.7  # the tie rule already takes the tightest
    curve = gt_known_curve(records, thresholds=[0.1, 0.5, 0.7, 0.9], iou_threshold=0.4)
    np.testing.assert_array_equal(curve["per_class"]["Mass"], [0, 1, 1, 0])
    loose = gt_known_curve(records, thresholds=[0.1, 0.5], iou_threshold=0.05)
    assert best_thresholds(loose)["Mass"] == 0.5  # both hit; the better IoU
    assert best_thresholds(loose, max_box_ratio=2.0)["Mass"] == 0.5  # no threshold fits: unbounded
    bounded = gt_known_curve(records, thresholds=[0.1, 0.7], iou_threshold=0.05)
    assert best_thresholds(bounded, max_box_ratio=10.0)["class_mean"] == 0.7
    # Accuracy would prefer the halo at IoU > 0.1 only when the core misses: make it so.
    halo_only = gt_known_curve([FpmRecord("b.png", "Mass", fpm, [(0, 0, 22, 22)])], thresholds=[0.1, 0.7],
                               iou_threshold=0.5)
    np.testing.assert_array_equal(halo_only["per_class"]["Mass"], [1, 0])
    assert best_thresholds(halo_only)["Mass"] == 0.1
    assert best_thresholds(halo_only, max_box_ratio=0.5)["Mass"] == 0.7  # the halo is too large


def test_sweep_metrics_match_the_separate_sweeps():
    rng = np.random.default_rng(5)
    records = [
        FpmRecord(f"{k}.png", ("Mass", "Nodule")[k % 2], upsample_fpm(rng.random((6, 6)), (48, 64)),
                  [(8, 4, 40, 30), (50, 20, 60, 44)][: 1 + k % 2], image_size=(96, 128))
        for k in range(6)
    ]
    ious = (0.1, 0.3, 0.5)
    for mode in ("largest", "all"):
        maxbox, curves = sweep_metrics(records, ious, mode, step=0.05)
        assert maxbox == max_box_acc_v2(records, step=0.05)
        assert len(curves) == len(ious)
        for iou_threshold, curve in zip(ious, curves):
            expected = gt_known_curve(records, iou_threshold=iou_threshold, mode=mode, step=0.05)
            np.testing.assert_array_equal(curve["thresholds"], expected["thresholds"])
            for key in ("class_mean", "image_mean"):
                np.testing.assert_array_equal(curve[key], expected[key])
            assert curve["per_class"].keys() == expected["per_class"].keys()
            for name, values in expected["per_class"].items():
                np.testing.assert_array_equal(curve["per_class"][name], values)
