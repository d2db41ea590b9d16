"""Comparison state without Qt: model B follows A's study and finding, keeps its own
threshold per finding (remembered under B's weights), cuts its own overlay once per change,
and the comparison table holds both probabilities and both IoUs against the same GT."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_viewer.state.comparison import Comparison

from ..conftest import FakePrediction
from .conftest import blobs, loaded_model, predict

GT = (45, 25, 116, 96)  # around the big blob of blobs(): A finds it, B (mirrored map) does not


def prediction_b(thresholds=None, probabilities=None) -> FakePrediction:
    fpm = blobs()[:, ::-1].copy()
    return FakePrediction({"Mass": fpm, "Nodule": fpm[::-1].copy()},
                          probabilities or {"Mass": 0.4, "Nodule": 0.6}, thresholds)


def opened(tmp_path, n=2):
    model, studies = loaded_model(tmp_path, n)
    comparison = Comparison(model)
    comparison.open(Path("/models/b.safetensors"), "cpu")
    comparison.set_status(state="ready")
    return model, studies, comparison


def test_b_shows_a_finding_with_its_own_threshold_per_finding(tmp_path):
    model, (study, other), comparison = opened(tmp_path)
    comparison.set_prediction(study, prediction_b({"Mass": 0.35, "Nodule": 0.55}))
    assert comparison.finding == "Nodule"  # A has not answered: B's own top finding
    assert comparison.threshold == 0.55
    predict(model, study)
    assert model.finding == "Mass" and comparison.finding == "Mass"  # A answered: B follows its finding
    assert comparison.threshold == 0.35
    comparison.set_threshold(0.6)
    assert model.threshold == 0.5  # A's own threshold is untouched
    assert model.threshold_memory["b.safetensors"] == {"Mass": 0.6}
    model.set_finding("Nodule")
    assert comparison.finding == "Nodule" and comparison.threshold == 0.55
    model.set_finding("Mass")
    assert comparison.threshold == 0.6  # the reader's threshold for B and Mass came back
    comparison.reset_threshold()
    assert comparison.threshold == 0.35 and "Mass" not in model.threshold_memory["b.safetensors"]
    model.set_current(other)
    assert comparison.prediction_for(other) is None and comparison.needs_prediction(other)
    assert not comparison.needs_prediction(study)


def test_overlay_is_b_map_cut_at_b_threshold_and_computed_once(tmp_path):
    model, (study, _), comparison = opened(tmp_path)
    predict(model, study)
    b = prediction_b()
    comparison.set_prediction(study, b)
    overlay = comparison.overlay()
    assert overlay.prediction is b and overlay.finding == "Mass" and overlay.probability == 0.4
    assert overlay.regions.boxes[0][0] > 150  # the mirrored blob, on the right
    assert model.overlay().regions.boxes[0][2] < 150  # A's, on the left
    calls = b.calls
    assert comparison.overlay() is overlay and b.calls == calls
    comparison.set_threshold(0.9)
    assert comparison.overlay().threshold == 0.9 and b.calls == calls + 1


def test_overlay_for_another_study_is_cut_where_b_would_open_it(tmp_path):
    """What a comparison export of several studies reads: the shown study as on screen, any
    other at the threshold B would open it with (the reader's remembered one, else B's own)."""
    model, (study, other), comparison = opened(tmp_path)
    for each in (study, other):
        predict(model, each)
        comparison.set_prediction(each, prediction_b({"Mass": 0.35, "Nodule": 0.55}))
    assert comparison.overlay_for(study) is comparison.overlay()
    overlay = comparison.overlay_for(other)
    assert overlay.study is other and overlay.finding == "Mass" and overlay.threshold == 0.35
    assert overlay.regions.boxes[0][0] > 150  # B's mirrored blob
    comparison.set_threshold(0.6)  # remembered for B and Mass: other would open with it
    assert comparison.overlay_for(other).threshold == 0.6
    comparison.remove()
    assert comparison.overlay_for(other) is None and comparison.overlay_for(study) is None


def test_a_finding_b_does_not_know_is_nothing_to_cut(tmp_path):
    model, (study, _), comparison = opened(tmp_path)
    predict(model, study)
    comparison.set_prediction(study, FakePrediction({"Nodule": blobs()}, {"Nodule": 0.9}))
    assert model.finding == "Mass" and comparison.finding is None
    overlay = comparison.overlay()
    assert overlay.regions is None and overlay.prediction is None
    rows = comparison.rows()
    assert [(r.finding, r.probability_a, r.probability_b) for r in rows] == [("Mass", 0.7, None), ("Nodule", 0.3, 0.9)]


def test_table_rows_hold_both_probabilities_and_ious_against_the_gt(tmp_path):
    model, (study, _), comparison = opened(tmp_path)
    predict(model, study)
    study.drawn_boxes.add("Mass", GT)
    study.drawn_boxes.add("Nodule", (200, 100, 240, 140))  # another finding: not in the table
    comparison.set_prediction(study, prediction_b())
    assert [(r.kind, r.finding) for r in comparison.rows()] == [("finding", "Mass"), ("gt", "Mass"), ("finding", "Nodule")]
    finding_rows = [r for r in comparison.rows() if r.kind == "finding"]
    assert [(r.finding, r.probability_a, r.probability_b, r.shown) for r in finding_rows] == [
        ("Mass", 0.7, 0.4, True), ("Nodule", 0.3, 0.6, False)]
    (gt,) = [r for r in comparison.rows() if r.kind == "gt"]
    assert gt.finding == "Mass" and gt.box == GT
    assert gt.iou_a == model.overlay().gt_rows[0].iou and gt.iou_a > 0.3 and gt.hit_a
    assert gt.iou_b == 0.0 and gt.hit_b is False
    model.view.iou_threshold = 0.95
    (gt,) = [r for r in comparison.rows() if r.kind == "gt"]
    assert gt.hit_a is False  # hit/miss at the IoU threshold of the view


def test_remove_and_closed_studies_drop_b_answers(tmp_path):
    model, (study, other), comparison = opened(tmp_path)
    comparison.set_prediction(study, prediction_b())
    comparison.set_prediction(other, prediction_b())
    model.remove_studies([other])
    assert comparison.prediction_for(other) is None
    comparison.remove()
    assert not comparison.active and comparison.prediction_for(study) is None
    assert comparison.overlay() is None and comparison.rows() == []
    assert not comparison.needs_prediction(study)  # no model B: nothing to run


def test_failure_is_kept_until_b_is_reopened(tmp_path):
    model, (study, _), comparison = opened(tmp_path)
    comparison.set_failed(study, "out of memory")
    assert comparison.failure_for(study) == "out of memory" and not comparison.needs_prediction(study)
    comparison.open(Path("/models/c.safetensors"), "cpu")
    comparison.set_status(state="ready")
    assert comparison.failure_for(study) is None and comparison.needs_prediction(study)
    with pytest.raises(AttributeError):
        comparison.set_status(stat="ready")


def test_session_file_records_the_comparison_weights_and_older_files_have_none(tmp_path):
    from sr_viewer.state.session import from_json, session_of, to_json

    model, _, comparison = opened(tmp_path)
    data = to_json(session_of(model, comparison_weights=comparison.status.weights))
    assert data["comparison_weights"] == str(Path("/models/b.safetensors").resolve())
    assert from_json(data).comparison_weights == Path("/models/b.safetensors").resolve()
    del data["comparison_weights"]  # a file written before comparisons existed
    assert from_json(data).comparison_weights is None
