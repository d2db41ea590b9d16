"""sr_core.evaluation.metrics.localization: GT-known and top-1 localization on hand-computed records."""

import json

import pytest

from sr_core.evaluation.metrics import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    LocalizationRecord,
    localization_report,
    threshold_key,
)

from ..conftest import record


def test_several_gt_boxes_take_the_best_match():
    # IoU 0 with the first GT box, 0.5 with the second
    rec = record("Mass", [(0, 0, 10, 10)], [(50, 50, 60, 60), (0, 0, 10, 20)])
    report = localization_report([rec], iou_thresholds=[0.4, 0.5])
    assert report["gt_known"]["iou"]["0.4"]["image_mean"] == 1.0
    assert report["gt_known"]["iou"]["0.5"]["image_mean"] == 0.0  # strict: IoU 0.5 is not > 0.5


def test_threshold_is_strict_for_iobb_too():
    rec = record("Mass", [(0, 0, 20, 10)], [(0, 0, 10, 10)])  # IoBB exactly 0.5
    report = localization_report([rec], iou_thresholds=[0.1], iobb_thresholds=[0.25, 0.5])
    assert report["gt_known"]["iobb"]["0.25"]["image_mean"] == 1.0
    assert report["gt_known"]["iobb"]["0.5"]["image_mean"] == 0.0


def test_no_predicted_box_is_a_miss_everywhere():
    report = localization_report([record("Nodule", [], [(0, 0, 5, 5)])], iou_thresholds=[0.0, 0.1])
    assert report["gt_known"]["iou"]["0"]["image_mean"] == 0.0
    assert report["gt_known"]["iobb"]["0.1"]["image_mean"] == 0.0


def test_top1_needs_the_right_class():
    good = record("Mass", [(0, 0, 10, 10)], [(0, 0, 10, 10)], top1="Mass")
    wrong_class = record("Mass", [(0, 0, 10, 10)], [(0, 0, 10, 10)], top1="Nodule")
    report = localization_report([good, wrong_class], iou_thresholds=[0.5])
    assert report["gt_known"]["iou"]["0.5"]["image_mean"] == 1.0
    assert report["top1_loc"]["iou"]["0.5"]["image_mean"] == 0.5


def test_top1_is_not_applicable_without_a_classifier():
    rec = LocalizationRecord("img.png", "Mass", [(0, 0, 10, 10)], [(0, 0, 10, 10)], None)
    report = localization_report([rec], iou_thresholds=[0.5])
    assert report["top1_loc"] is None
    assert report["gt_known"]["iou"]["0.5"]["image_mean"] == 1.0


def test_class_mean_and_image_mean_differ_on_unbalanced_findings():
    hit, miss = [(0, 0, 10, 10)], [(90, 90, 99, 99)]
    gt = [(0, 0, 10, 10)]
    records = [
        record("Mass", hit, gt),
        record("Mass", hit, gt),
        record("Mass", miss, gt),
        record("Nodule", miss, gt),
    ]
    block = localization_report(records, iou_thresholds=[0.1])["gt_known"]["iou"]["0.1"]
    # Mass 2/3, Nodule 0/1: class mean (2/3 + 0) / 2 = 1/3; image mean 2/4
    assert block["per_class"] == {"Mass": pytest.approx(2 / 3), "Nodule": 0.0}
    assert block["class_mean"] == pytest.approx(1 / 3)
    assert block["image_mean"] == 0.5


def test_report_shape_and_json_keys():
    report = localization_report([record("Mass", [(0, 0, 10, 10)], [(0, 0, 10, 12)])])
    assert set(report["gt_known"]["iou"]) == {threshold_key(t) for t in IOU_THRESHOLDS}
    assert list(report["gt_known"]["iobb"]) == ["0.1", "0.25", "0.5", "0.75", "0.9"]
    assert len(IOBB_THRESHOLDS) == 5
    assert report["counts"] == {"Mass": 1} and report["n_records"] == 1
    assert json.loads(json.dumps(report)) == report
    assert threshold_key(0.1 + 0.2) == "0.3"


def test_record_without_gt_box_and_empty_input_raise():
    with pytest.raises(ValueError, match="no ground-truth box"):
        localization_report([record("Mass", [(0, 0, 1, 1)], [])])
    with pytest.raises(ValueError, match="at least one record"):
        localization_report([])
