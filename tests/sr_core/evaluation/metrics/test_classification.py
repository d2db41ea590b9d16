"""sr_core.evaluation.metrics.classification: AUC, the Youden cut-off and the report."""

import json
import math

import numpy as np
import pytest

from sr_core.evaluation.metrics import classification_report, roc_auc


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
