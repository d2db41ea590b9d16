"""Edit > Undo / Redo driven through the real widgets: a threshold slider drag of many moves is
one step, a window/level drag is one step, a box and a distance drawn with the mouse go and
come back, and the shortcuts are the usual ones, clashing with none."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider

from sr_viewer.qt.actions import ACTIONS

from ..conftest import FakePrediction
from ..state.conftest import blobs
from .test_draw_boxes import box_tool_on
from .test_measure import drag, tool_on, viewport_point, write_png


def predicted_window(make_window, qtbot, tmp_path, width=400, height=300):
    """A window showing one PNG with a prediction over hand-made maps (no model: no torch)."""
    window = make_window()
    window.model.set_model_status(name="fake.safetensors")
    window.open_paths([write_png(tmp_path / "study.png", width, height)], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.image is not None,
                    timeout=20_000)
    fpm = blobs((height, width))
    window.model.set_prediction(window.model.current, FakePrediction(
        {"Mass": fpm, "Nodule": fpm[::-1].copy()}, {"Mass": 0.7, "Nodule": 0.3}))
    window.canvas.fit()
    QApplication.processEvents()
    return window, window.model.current


def send_mouse(widget, kind: QEvent.Type, point: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
    event = QMouseEvent(kind, QPointF(point), QPointF(widget.mapToGlobal(point)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def handle_centre(slider) -> QPoint:
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    return slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                         QStyle.SubControl.SC_SliderHandle, slider).center()


def drag_slider(qtbot, slider, dx: int, steps: int = 8) -> None:
    """Press the slider's handle, move it `dx` pixels in `steps` moves, release."""
    left = Qt.MouseButton.LeftButton
    start = handle_centre(slider)
    send_mouse(slider, QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        qtbot.wait(10)
        send_mouse(slider, QEvent.Type.MouseMove, start + QPoint(round(dx * i / steps), 0), Qt.MouseButton.NoButton,
                   left)
    send_mouse(slider, QEvent.Type.MouseButtonRelease, start + QPoint(dx, 0), left, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def test_a_threshold_slider_drag_is_one_undo_step_and_redoes(make_window, qtbot, tmp_path):
    window, study = predicted_window(make_window, qtbot, tmp_path)
    model, slider = window.model, window.overlay_panel.slider
    start = model.threshold
    seen = []
    model.events.threshold_changed.connect(seen.append)
    drag_slider(qtbot, slider, -80)
    assert len(seen) >= 4  # the drag moved the threshold live, step by step
    dragged = model.threshold
    assert dragged < start - 0.05
    undo, redo = window.actions_by_name["undo"], window.actions_by_name["redo"]
    assert undo.isEnabled() and undo.text() == f"Undo Mass threshold {start:.2f} -> {dragged:.2f}"
    undo.trigger()
    assert model.threshold == pytest.approx(start)
    assert slider.value() == round(start * 1000)  # the panel follows
    assert not undo.isEnabled()  # the whole drag was one step
    redo.trigger()
    assert model.threshold == pytest.approx(dragged) and slider.value() == round(dragged * 1000)
    assert not redo.isEnabled()

    window.actions_by_name["threshold_up"].trigger()  # keys are one step each
    window.actions_by_name["threshold_up"].trigger()
    undo.trigger()
    assert model.threshold == pytest.approx(round(dragged + 0.01, 3))


def test_a_window_level_drag_is_one_undo_step(make_window, qtbot, tmp_path):
    window, study = predicted_window(make_window, qtbot, tmp_path)
    canvas, right = window.canvas, Qt.MouseButton.RightButton
    viewport = canvas.viewport()
    a = viewport_point(canvas, 200, 150)
    send_mouse(viewport, QEvent.Type.MouseButtonPress, a, right, right)
    for i in range(1, 7):
        qtbot.wait(25)
        send_mouse(viewport, QEvent.Type.MouseMove, a + QPoint(12 * i, 8 * i), Qt.MouseButton.NoButton, right)
    qtbot.wait(25)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, a + QPoint(72, 48), right, Qt.MouseButton.NoButton)
    assert study.window is not None
    assert window.undo.history.undo_label() == "window/level"
    window.actions_by_name["undo"].trigger()
    assert study.window is None and not window.actions_by_name["undo"].isEnabled()


def test_a_drawn_box_and_a_measurement_are_undone_and_redone(make_window, qtbot, tmp_path):
    window, study = predicted_window(make_window, qtbot, tmp_path)
    undo, redo = window.actions_by_name["undo"], window.actions_by_name["redo"]
    box_tool_on(window)
    drag(qtbot, window.canvas, (50, 60), (250, 200))
    (box,) = study.drawn_boxes
    tool_on(window)
    drag(qtbot, window.canvas, (20, 250), (300, 250))
    (distance,) = study.measurements
    assert undo.text() == "Undo measurement added"

    undo.trigger()
    assert len(study.measurements) == 0 and not window.canvas.measurements.items
    assert undo.text() == "Undo drawn box added"
    undo.trigger()
    assert len(study.drawn_boxes) == 0 and not window.canvas.drawn_boxes.items
    assert not [r for r in window.model.overlay().gt_rows if r.drawn]
    assert not undo.isEnabled()

    redo.trigger()
    redo.trigger()
    assert list(study.drawn_boxes) == [box] and list(study.measurements) == [distance]
    assert set(window.canvas.drawn_boxes.items) == {box.id} and set(window.canvas.measurements.items) == {distance.id}

    window.actions_by_name["draw_box"].trigger()  # tool off: a corner drag resizes, one step
    drag(qtbot, window.canvas, box.box[2:], (330, 260))
    (resized,) = study.drawn_boxes
    assert resized.box != box.box and undo.text() == "Undo drawn box resized"
    undo.trigger()
    assert list(study.drawn_boxes) == [box]
    roi = window.canvas.drawn_boxes.items[box.id]  # the handles are back where the box is
    assert (roi.pos().x(), roi.pos().y(), roi.pos().x() + roi.size().x(), roi.pos().y() + roi.size().y()) == (
        pytest.approx(box.box))

    study.drawn_boxes.select(box.id)
    box_tool_on(window)
    window.actions_by_name["delete_measurement"].trigger()  # Del removes it: undo brings it back
    assert len(study.drawn_boxes) == 0
    undo.trigger()
    assert list(study.drawn_boxes) == [box]


def test_undo_shortcuts_are_the_usual_and_unique():
    keys = {a.name: a.shortcut for a in ACTIONS}
    assert (keys["undo"], keys["redo"], keys["redo_alt"]) == ("Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+Y")
    assert [a.menu for a in ACTIONS if a.name in ("undo", "redo")] == ["Edit", "Edit"]
    used = [k for k in keys.values() if k]
    assert len(set(used)) == len(used)
