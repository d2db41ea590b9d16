"""sr_viewer.state.document: studies, the current one, and the threshold remembered per finding."""

from __future__ import annotations

import pytest

from sr_viewer.state import Status

from .conftest import loaded_model, predict


def test_studies_are_added_once_and_the_first_becomes_current(tmp_path):
    model, studies = loaded_model(tmp_path)
    seen = []
    model.events.studies_added.connect(seen.append)
    assert model.add_studies([studies[0].path, tmp_path / "img1.png"]) == []
    assert seen == [] and model.current is studies[0]
    assert [s.status for s in studies] == [Status.OPENED] * 3  # no model: image only


def test_next_and_previous_stop_at_the_ends(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.step(+1)
    model.step(+1)
    model.step(+1)
    assert model.current is studies[2]
    model.step(-1)
    assert model.current is studies[1]


def test_threshold_defaults_to_the_weights_threshold_of_the_top_finding(tmp_path):
    model, studies = loaded_model(tmp_path)
    predict(model, studies[0], thresholds={"Mass": 0.6, "Nodule": 0.4})
    assert model.finding == "Mass" and model.threshold == 0.6
    changes = []
    model.events.threshold_changed.connect(changes.append)
    model.set_finding("Nodule")
    assert model.threshold == 0.4 and changes == [0.4]


def test_reader_threshold_is_remembered_per_model_and_finding_until_reset(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.set_model_status(name="w.safetensors")
    for study in studies[:2]:
        predict(model, study)
    model.set_threshold(0.33)
    assert model.threshold_memory == {"w.safetensors": {"Mass": 0.33}}
    model.set_current(studies[1])  # same finding on the next study: the reader's threshold
    assert model.threshold == pytest.approx(0.33)
    model.reset_threshold()
    assert model.threshold == 0.5 and model.threshold_memory["w.safetensors"] == {}
    model.set_threshold(7)
    assert model.threshold == 1.0


def test_threshold_change_updates_boxes_with_one_regions_call(tmp_path):
    model, studies = loaded_model(tmp_path)
    pred = predict(model, studies[0])
    model.set_threshold(0.5)
    first = model.overlay()
    assert model.overlay() is first and pred.calls == 1  # cached until something changes
    (x0, y0, x1, y1), = first.regions.boxes
    assert x0 < 80 < x1 and y0 < 60 < y1  # the big blob
    model.set_threshold(0.8)
    smaller = model.overlay().regions.boxes[0]
    assert pred.calls == 2 and (smaller[2] - smaller[0]) < (x1 - x0)
    model.set_threshold(0.5)
    model.view.mode = "all"
    assert len(model.overlay().regions.boxes) == 2  # the small blob (peak 0.7) too


def test_before_a_prediction_a_finding_is_chosen_from_the_labelling_list(tmp_path):
    """No prediction yet: the choices are NIH's box findings (no weights) or the weights'
    classes; the choice is kept and, once the model answers, its map is the one shown."""
    from sr_core.data.layout import NIH_BOX_FINDINGS

    model, studies = loaded_model(tmp_path)
    assert model.finding_choices() == list(NIH_BOX_FINDINGS)
    model.set_model_status(state="ready", metadata={"class_names": ["Mass", "Nodule", "Effusion"]})
    assert model.finding_choices() == ["Mass", "Nodule", "Effusion"]
    seen = []
    model.events.finding_changed.connect(seen.append)
    model.set_finding("Nodule")
    assert studies[0].finding == "Nodule" and seen == ["Nodule"] and model.finding is None
    with pytest.raises(KeyError):
        model.set_finding("Cardiomegaly")  # not one of these weights' classes
    predict(model, studies[0])
    assert model.finding == "Nodule" and model.finding_choices() == studies[0].findings
