"""Metrics on hand-computed examples: overlap, GT-known/top-1, MaxBoxAccV2, AUC, the table."""

import json
import math

import numpy as np
import pytest

from sr_core.boxes import upsample_fpm
from sr_core.evaluation.metrics import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    FpmRecord,
    LocalizationRecord,
    best_thresholds,
    classification_report,
    gt_known_curve,
    iobb,
    iobb_matrix,
    iou,
    iou_matrix,
    localization_report,
    max_box_acc_v2,
    roc_auc,
    sweep_metrics,
    threshold_key,
)
from sr_core.evaluation.reports import (
    WANG2017_LABEL,
    WANG2017_TABLE,
    format_comparison_table,
    report_name,
    report_table,
)

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


# --- GT-known / top-1 -------------------------------------------------------------------------


def record(finding, preds, gts, top1=None, image="img.png"):
    return LocalizationRecord(image, finding, preds, gts, top1 or finding)


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


# --- classification ---------------------------------------------------------------------------


def test_auc_hand_example():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75


def test_auc_counts_ties_as_half():
    # pairs (pos, neg): (0.5, 0.2) 1, (0.5, 0.5) 1/2, (0.9, 0.2) 1, (0.9, 0.5) 1 -> 3.5 / 4
    assert roc_auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == 0.875
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5


def test_auc_undefined_for_one_class():
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))


def test_classification_report_single_labels():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    report = classification_report(probabilities, np.array([0, 1, 1, 0]), ["A", "B", "C"])
    assert report["accuracy"] == 0.5
    assert report["auc_per_class"]["A"] == pytest.approx(0.75)  # positives 0.7, 0.2 vs 0.1, 0.5: 3 of 4 pairs
    assert report["auc_per_class"]["B"] == pytest.approx(1.0)  # positives 0.8, 0.3 vs negatives 0.2, 0.2
    assert report["auc_per_class"]["C"] is None  # no image is labelled C
    assert report["auc_mean"] == pytest.approx((0.75 + 1.0) / 2)
    # Youden cut-offs: A's scores 0.1- 0.2+ 0.5- 0.7+: J is 0.5 at >= 0.2 (first best), so the
    # midpoint 0.15; B's 0.2- 0.2- 0.3+ 0.8+ separate at 0.25; C has no positive: left out.
    assert report["operating_points"] == pytest.approx({"A": 0.15, "B": 0.25})
    assert json.loads(json.dumps(report)) == report


def test_youden_cutoff_hand_cases():
    from sr_core.evaluation.metrics.classification import youden_cutoff

    assert youden_cutoff([0.1, 0.2, 0.3, 0.4, 0.5], [0, 0, 1, 0, 1]) == pytest.approx(0.25)  # J 2/3
    assert youden_cutoff([0.5, 0.5, 0.9], [0, 1, 1]) == pytest.approx(0.7)  # tie at 0.5 cannot split
    assert youden_cutoff([0.3, 0.3], [0, 1]) == pytest.approx(0.3)  # nothing separates: J 0 everywhere
    assert youden_cutoff([0.3, 0.4], [1, 1]) is None


def test_classification_report_multi_hot():
    probabilities = np.array([[0.9, 0.8], [0.2, 0.7], [0.6, 0.1]])
    labels = np.array([[1, 1], [0, 1], [0, 0]])
    report = classification_report(probabilities, labels)
    assert report["accuracy"] == pytest.approx(2 / 3)  # third image: top class not a true one
    assert report["auc_per_class"] == {"0": 1.0, "1": 1.0}


def test_classification_report_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        classification_report(np.ones((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels"):
        classification_report(np.ones((2, 2)), np.ones((3,), int))


# --- published comparison ---------------------------------------------------------------------


def test_wang_table_holds_the_eight_findings():
    assert list(WANG2017_TABLE) == ["T(IoBB)0.1", "T(IoU)0.1", "T(IoU)0.3", "T(IoU)0.5"]
    for row in WANG2017_TABLE.values():
        assert len(row) == 8
    assert WANG2017_TABLE["T(IoBB)0.1"]["Cardiomegaly"] == 0.993
    assert WANG2017_TABLE["T(IoU)0.5"]["Nodule"] == 0.013


def test_comparison_table_puts_ours_beside_theirs():
    records = [
        record("Cardiomegaly", [(0, 0, 10, 10)], [(0, 0, 10, 10)]),
        record("Nodule", [], [(0, 0, 10, 10)]),
    ]
    text = format_comparison_table(localization_report(records))
    assert WANG2017_LABEL in text
    cardiomegaly = next(line for line in text.splitlines() if line.startswith("Cardiomegaly"))
    assert cardiomegaly.split()[1:] == ["1", "1.000", "0.993", "1.000", "0.938", "1.000", "0.459", "1.000", "0.178"]
    atelectasis = next(line for line in text.splitlines() if line.startswith("Atelectasis"))
    assert atelectasis.split()[1:4] == ["-", "-", "0.728"]  # not in our report


def test_comparison_table_reads_findings_from_the_accuracies():
    report = localization_report([record("Mass", [(0, 0, 10, 10)], [(0, 0, 10, 10)])], iou_thresholds=[0.1])
    report["counts"] = {"images": 1, "records": 1}  # a caller may reuse the key for its own counts
    text = format_comparison_table(report)
    assert not any(line.startswith(("images", "records")) for line in text.splitlines())
    mass = next(line for line in text.splitlines() if line.startswith("Mass"))
    assert mass.split()[1:6] == ["-", "1.000", "0.435", "1.000", "0.400"]
    assert mass.split()[6] == "-"  # IoU 0.3 not computed: no number on our side


def test_comparison_table_puts_two_reports_side_by_side():
    gt = [(0, 0, 10, 10)]
    model = localization_report([record("Mass", [(0, 0, 10, 10)], gt), record("Nodule", [], gt)])
    baseline = localization_report([record("Mass", [(0, 0, 10, 20)], gt), record("Nodule", [(0, 0, 10, 10)], gt)])
    table = report_table(baseline)
    # (0,0,10,20) on (0,0,10,10): IoU 0.5, IoBB 0.5.
    assert table["T(IoU)0.3"] == {"Mass": 1.0, "Nodule": 1.0}
    assert table["T(IoU)0.5"] == {"Mass": 0.0, "Nodule": 1.0}
    model.update(weights="sr_vmamba_nano.safetensors", baseline=None, source="sr_vmamba_nano.safetensors")
    baseline.update(weights=None, baseline="class-prior", source="class-prior baseline (mean GT boxes of test)")
    text = format_comparison_table(model, table, label=report_name(baseline))
    assert text.splitlines()[0] == "GT-known localization accuracy: sr_vmamba_nano.safetensors vs class-prior"
    # Each column is headed by its report's name (the weights without .safetensors).
    assert text.splitlines()[2].split() == ["finding"] + ["sr_vmamba_nano", "class-prior"] * 4
    assert "ours" not in text and "theirs" not in text
    rows = {line.split()[0]: line.split()[2:] for line in text.splitlines()[3:5]}
    # T(IoBB)0.1, T(IoU)0.1, T(IoU)0.3, T(IoU)0.5: the model then the baseline
    assert rows["Mass"] == ["1.000", "1.000", "1.000", "1.000", "1.000", "1.000", "1.000", "0.000"]
    assert rows["Nodule"] == ["0.000", "1.000", "0.000", "1.000", "0.000", "1.000", "0.000", "1.000"]
    class_mean = next(line for line in text.splitlines() if line.startswith("class mean")).split()[3:]
    assert class_mean[-2:] == ["0.500", "0.500"]  # the baseline's class mean at IoU 0.5
