"""Session files: the document written and read back field by field, atomically, damaged or
foreign files refused in one line naming the file, and a study's state given back once its
prediction arrives (and kept in the session until then)."""

from __future__ import annotations

import json
import os

import pytest

from sr_viewer.state import ViewerModel
from sr_viewer.state.session import (
    FORMAT,
    VERSION,
    SessionError,
    SessionRestore,
    StudyState,
    read_session,
    session_of,
    to_json,
    write_session,
)

from .conftest import loaded_model, predict


def edited_model(tmp_path):
    model, (a, b, c) = loaded_model(tmp_path)
    model.set_model_status(name="fake.safetensors")  # thresholds are remembered per model and finding
    predict(model, a)
    model.set_finding("Nodule")
    model.set_threshold(0.33)
    model.set_window((0.4, 0.7))
    a.view_range = (10.0, 20.0, 110.0, 95.0)
    a.drawn_boxes.add("Nodule", (5, 6, 50, 60))
    a.measurements.add((1, 2), (30, 40))
    model.set_current(b)
    return model, (a, b, c)


def test_session_round_trips_through_its_file(tmp_path):
    model, (a, b, c) = edited_model(tmp_path)
    path = write_session(session_of(model), tmp_path / "reading.srsession")
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION
    back = read_session(path)
    assert back.current == 1 and [s.path for s in back.studies] == [s.path.resolve() for s in (a, b, c)]
    first = back.studies[0]
    assert (first.finding, first.threshold, first.window) == ("Nodule", pytest.approx(0.33), (0.4, 0.7))
    assert first.view_range == (10.0, 20.0, 110.0, 95.0)
    assert first.drawn_boxes == [("Nodule", (5.0, 6.0, 50.0, 60.0))]
    assert first.measurements == [((1.0, 2.0), (30.0, 40.0))]
    assert back.studies[1] == StudyState(b.path.resolve())  # untouched, not predicted: nothing but the path


def test_restore_gives_marks_at_once_and_finding_and_threshold_with_the_prediction(tmp_path):
    model, _ = edited_model(tmp_path)
    saved = read_session(write_session(session_of(model), tmp_path / "s.srsession"))
    fresh = ViewerModel()
    restore = SessionRestore(fresh)
    (a, b, c) = fresh.add_studies([s.path for s in saved.studies])
    fresh.set_model_status(name="fake.safetensors")
    for study, state in zip((a, b, c), saved.studies):
        restore.apply(study, state)
    assert a.window == (0.4, 0.7) and [d.box for d in a.drawn_boxes] == [(5, 6, 50, 60)]
    assert [(d.start, d.end) for d in a.measurements] == [((1, 2), (30, 40))]
    assert a.finding is None and restore.pending(a) is not None
    # Autosaved before the model answered: the pending finding and threshold are not lost.
    assert session_of(fresh, restore).studies[0].threshold == pytest.approx(0.33)
    assert session_of(fresh, restore).studies[0].finding == "Nodule"

    predict(fresh, a)  # a is current
    assert fresh.finding == "Nodule" and fresh.threshold == pytest.approx(0.33)
    assert restore.pending(a) is None
    predict(fresh, b)
    fresh.set_current(b)
    assert fresh.finding == "Mass"  # b had no chosen finding


def test_a_study_predicted_in_the_background_opens_with_its_threshold(tmp_path):
    model = ViewerModel()
    model.set_model_status(name="fake.safetensors")
    restore = SessionRestore(model)
    paths = [tmp_path / "x.png", tmp_path / "y.png"]
    x, y = model.add_studies(paths)
    restore.apply(y, StudyState(y.path, finding="Nodule", threshold=0.41))
    predict(model, y)  # not shown
    assert y.finding == "Nodule" and model.shown_threshold(y) == pytest.approx(0.41)
    model.set_current(y)
    assert model.threshold == pytest.approx(0.41)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    model, _ = edited_model(tmp_path)
    target = tmp_path / "out" / "s.srsession"
    write_session(session_of(model), target)
    before = target.read_bytes()

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_session(session_of(ViewerModel()), target)
    assert target.read_bytes() == before  # the old session is whole
    assert os.listdir(target.parent) == ["s.srsession"]


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not JSON"),
    ('{"format": "something-else", "version": 1}', "not an SR Viewer session"),
    ('[1, 2]', "not an SR Viewer session"),
    (json.dumps({"format": FORMAT, "version": VERSION + 1}), f"newer SR Viewer (session version {VERSION + 1}"),
    (json.dumps({"format": FORMAT, "version": 0}), "older SR Viewer (session version 0"),
    (json.dumps({"format": FORMAT, "version": "1"}), "version must be a whole number"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": {"a": 1}}), "studies must be a list"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [{"path": 3}]}), "studies[0].path must be a string"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [{"path": "a.png", "window": [0.5]}]}),
     "studies[0].window must be a list of 2 numbers"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [{"path": "a.png", "threshold": 7}]}),
     "studies[0].threshold must be between 0 and 1"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [
        {"path": "a.png", "drawn_boxes": [{"finding": "Mass", "box": [0, 0, "x", 1]}]}]}),
     "studies[0].drawn_boxes[0].box[2] must be a number"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [
        {"path": "a.png", "measurements": [{"start": [0, 0], "end": [1, True]}]}]}),
     "studies[0].measurements[0].end[1] must be a number"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [], "current": 0}), "current must be a study index"),
])
def test_damaged_or_foreign_files_are_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "broken.srsession"
    path.write_text(content)
    with pytest.raises(SessionError) as caught:
        read_session(path)
    message = str(caught.value)
    assert message.startswith("cannot open session 'broken.srsession': ") and problem in message
    assert "\n" not in message


def test_a_missing_file_is_one_line_too(tmp_path):
    with pytest.raises(SessionError, match=r"^cannot open session 'gone.srsession': No such file"):
        read_session(tmp_path / "gone.srsession")


def test_the_file_is_plain_json_a_reader_can_edit(tmp_path):
    model, (a, *_) = edited_model(tmp_path)
    data = to_json(session_of(model))
    data["studies"][0]["threshold"] = 0.5  # ints and floats alike
    data["studies"][0]["window"] = [0, 1]
    path = tmp_path / "edited.srsession"
    path.write_text(json.dumps(data))
    state = read_session(path).studies[0]
    assert state.threshold == 0.5 and state.window == (0.0, 1.0)
