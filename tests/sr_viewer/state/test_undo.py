"""UndoHistory: the reader's threshold, window/level, drawn box and measurement edits undone and
redone per study, a gesture as one step, and changes that are not the reader's left out."""

from __future__ import annotations

import pytest

from sr_viewer.state.undo import UndoHistory

from .conftest import loaded_model, predict


def test_threshold_steps_undo_and_redo_in_order(tmp_path):
    model, (a, b, c) = loaded_model(tmp_path)
    predict(model, a)
    history = UndoHistory(model)
    start = model.threshold
    model.set_threshold(0.3)
    model.set_threshold(0.2)
    assert history.undo_label() == "Mass threshold 0.30 -> 0.20"
    assert history.undo() and model.threshold == pytest.approx(0.3)
    assert history.undo() and model.threshold == pytest.approx(start)
    assert history.undo() is None and not history.can_undo()
    assert history.redo() == f"Mass threshold {start:.2f} -> 0.30" and model.threshold == pytest.approx(0.3)
    model.set_threshold(0.6)  # a new edit: the undone one cannot come back
    assert not history.can_redo()


def test_a_gesture_is_one_step_and_one_that_ends_where_it_began_is_none(tmp_path):
    model, (a, *_) = loaded_model(tmp_path)
    predict(model, a)
    history = UndoHistory(model)
    start = model.threshold
    history.begin_gesture()
    for value in (0.45, 0.4, 0.35, 0.3):  # a slider drag
        model.set_threshold(value)
    history.end_gesture()
    assert history.undo() and model.threshold == pytest.approx(start)
    assert not history.can_undo()
    assert history.redo() and model.threshold == pytest.approx(0.3)

    history.begin_gesture()
    model.set_window((0.4, 0.8))
    model.set_window(None)  # dragged and put back
    history.end_gesture()
    assert history.undo_label() == f"Mass threshold {start:.2f} -> 0.30"


def test_history_is_per_study(tmp_path):
    model, (a, b, _) = loaded_model(tmp_path)
    history = UndoHistory(model)
    a.measurements.add((0, 0), (10, 0))
    model.set_current(b)
    assert not history.can_undo()  # what was done on a is not undone from b
    model.set_window((0.3, 0.5))
    assert history.undo() == "window/level" and b.window is None
    assert len(a.measurements) == 1
    model.set_current(a)
    assert history.undo() == "measurement added" and len(a.measurements) == 0


def test_drawn_box_add_move_resize_and_delete_undo_back_to_each_state(tmp_path):
    model, (a, *_) = loaded_model(tmp_path)
    history = UndoHistory(model)
    box = a.drawn_boxes.add("Mass", (10, 10, 50, 40))
    a.drawn_boxes.move(box.id, (20, 20, 60, 50))
    a.drawn_boxes.move(box.id, (20, 20, 90, 70))
    a.drawn_boxes.remove(box.id)
    labels = []
    while history.can_undo():
        labels.append(history.undo())
        labels.append([d.box for d in a.drawn_boxes])
    assert labels == ["drawn box deleted", [(20, 20, 90, 70)], "drawn box resized", [(20, 20, 60, 50)],
                      "drawn box moved", [(10, 10, 50, 40)], "drawn box added", []]
    history.redo()
    (again,) = a.drawn_boxes
    assert again.id == box.id and again.box == (10, 10, 50, 40)
    assert a.drawn_boxes.add("Mass", (0, 0, 5, 5)).id > box.id  # ids stay unique


def test_window_preset_and_measurement_adjust_undo(tmp_path):
    model, (a, *_) = loaded_model(tmp_path)
    history = UndoHistory(model)
    model.set_window((0.5, 0.5))
    distance = a.measurements.add((0, 0), (10, 0))
    a.measurements.move(distance.id, end=(30, 40))
    assert history.undo() == "measurement adjusted"
    assert a.measurements.get(distance.id).end == (10, 0)
    history.undo()
    assert history.undo() == "window/level" and a.window is None


def test_thresholds_the_reader_did_not_set_are_not_steps(tmp_path):
    model, (a, b, _) = loaded_model(tmp_path)
    history = UndoHistory(model)
    predict(model, a, thresholds={"Nodule": 0.2})  # the threshold follows the prediction
    model.set_finding("Nodule")  # and the finding: a new map, not a threshold edit
    predict(model, b)
    model.set_current(b)
    assert not history.can_undo()
    model.set_current(a)
    assert not history.can_undo()
    with history.quiet():
        model.set_threshold(0.7)
        a.drawn_boxes.add("Mass", (1, 1, 9, 9))
    assert not history.can_undo()
    model.set_threshold(0.6)
    assert history.undo() and model.threshold == pytest.approx(0.7)


def test_undoing_a_threshold_of_another_finding_shows_that_finding(tmp_path):
    model, (a, *_) = loaded_model(tmp_path)
    predict(model, a)
    history = UndoHistory(model)
    model.set_threshold(0.25)  # on Mass
    model.set_finding("Nodule")
    history.undo()
    assert model.finding == "Mass" and model.threshold == pytest.approx(0.5)


def test_closed_studies_take_their_history_with_them(tmp_path):
    model, (a, b, _) = loaded_model(tmp_path)
    history = UndoHistory(model)
    a.measurements.add((0, 0), (5, 5))
    model.remove_studies([a])
    assert model.current is b and not history.can_undo()
    assert a not in history._undo and a not in history._seen


def test_a_window_given_out_of_sight_is_the_starting_point_when_shown(tmp_path):
    model, (a, b, _) = loaded_model(tmp_path)
    history = UndoHistory(model)
    with history.quiet():
        model.set_window((0.4, 0.7), b)  # a session restores b's window while a is shown
    model.set_current(b)
    model.set_window((0.2, 0.3))
    history.undo()
    assert b.window == (0.4, 0.7)
