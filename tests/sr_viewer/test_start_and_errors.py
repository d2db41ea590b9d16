"""Start-up without arguments, the pixel readout, recent files, the last-resort error hook,
the threshold before the model answered, the slider's steps and error lines in the study list."""

from __future__ import annotations

import logging
import math
import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetrics

from sr_core.prediction import Prediction
from sr_viewer.app import NO_BUNDLED_WEIGHTS, start
from sr_viewer.state import NO_WEIGHTS_MESSAGE, Status, ViewerModel

from .conftest import wait_done


def test_no_path_opens_the_demo_study_and_says_there_are_no_weights(make_window, qtbot, monkeypatch):
    monkeypatch.setattr("sr_viewer.app.default_weights", lambda: None)  # a build without resources/weights
    window = make_window()
    messages = []
    window.notifier.info.connect(messages.append)
    start(window, [], None)
    qtbot.waitUntil(lambda: len(window.model.studies) == 8, timeout=15_000)
    assert any(NO_BUNDLED_WEIGHTS in m for m in messages)
    assert window.model_panel.state.text() == NO_WEIGHTS_MESSAGE
    qtbot.waitUntil(lambda: window.model.current.image is not None, timeout=15_000)
    assert {s.status for s in window.model.studies} == {Status.OPENED}
    assert window.model.current.gt_boxes  # the demo's BBox_List_2017.csv was found beside it
    assert window.settings.recent_files == []  # the demo is not a "recent file"


def test_no_path_opens_the_demo_study_and_predicts_it_with_the_bundled_weights(make_window, qtbot):
    from sr_core.bundled import default_weights

    assert default_weights() is not None  # resources/weights/sr_efficientnet_lite0.safetensors
    window = make_window()
    with qtbot.waitSignal(window.inference.study_done, timeout=120_000) as blocker:
        start(window, [], None)
    study = blocker.args[0]
    assert len(window.model.studies) == 8 and study.status is Status.DONE
    assert study.prediction.findings and len(study.prediction.findings) == 8
    assert window.model_panel.state.text() != NO_WEIGHTS_MESSAGE


def test_pixel_readout_names_coordinates_and_values(make_window, qtbot, weights, nih_demo):
    window = make_window(weights=weights)
    window.open_paths([nih_demo / "00000830_000.png"])
    qtbot.waitUntil(lambda: window.model.current.prediction is not None and window.model.current.image is not None,
                    timeout=60_000)
    canvas = window.canvas
    scene_pos = canvas.view.mapViewToScene(QPointF(300.5, 200.5))
    with qtbot.waitSignal(canvas.pixel_info) as blocker:
        canvas._mouse_moved(scene_pos)
    text = blocker.args[0]
    value = window.model.current.image.pixels[200, 300]
    assert text.startswith("x 300  y 200") and f"value {value:.3f}" in text and "FPM " in text
    assert window.pixel_label.text() == text


def test_recent_files_are_remembered_and_offered(make_window, qtbot, nih_demo):
    window = make_window()
    window.open_paths([nih_demo / "00000150_002.png", nih_demo])
    assert window.settings.recent_files[:2] == [str(nih_demo.resolve()), str((nih_demo / "00000150_002.png").resolve())]
    assert [a.text() for a in window.recent_menu.actions()][:1] == [str(nih_demo.resolve())]


def test_uncaught_errors_are_logged_and_shown_as_one_line(qapp, qtbot, monkeypatch, caplog):
    from sr_viewer.qt.errors import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown = []
    install_excepthook(shown.append)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        with caplog.at_level(logging.ERROR, logger="sr_viewer.crash"):
            sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: bool(shown))
    assert shown[0].startswith("Unexpected error (RuntimeError: boom second line)") and "\n" not in shown[0]
    assert "Traceback" not in shown[0] and "boom" in caplog.text and caplog.records[0].exc_info


@pytest.mark.parametrize("name", ["dark", "light"])
def test_themes_apply(make_window, name):
    window = make_window()
    window.set_theme(name)
    assert window.settings.theme == name and window.actions_by_name[f"theme_{name}"].isChecked()
    window.set_theme("dark")


def test_model_card_is_found_beside_the_weights_or_as_model_card_md(tmp_path):
    from sr_core.bundled import default_weights
    from sr_viewer.jobs import model_card_text

    bundled = model_card_text(default_weights())  # the folder's MODEL_CARD.md
    assert bundled.startswith("# Model card: sr_efficientnet_lite0") and "Intended use" in bundled
    vmamba = model_card_text(default_weights().parent / "sr_vmamba_nano_distilled.safetensors")  # its own card
    assert vmamba.startswith("# Model card: sr_vmamba_nano_distilled") and "Intended use" in vmamba
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    assert model_card_text(weights) is None
    (tmp_path / "MODEL_CARD.md").write_text("folder card")
    assert model_card_text(weights) == "folder card"
    (tmp_path / "w.md").write_text("own card")
    assert model_card_text(weights) == "own card"  # a card named after the file wins


def _prediction(width: int = 64, height: int = 64, **thresholds) -> Prediction:
    """A real Prediction over two findings whose weights' thresholds are not 0.5."""
    maps = {"Mass": np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), "Nodule": np.zeros((8, 8), np.float32)}
    return Prediction({"Mass": 0.7, "Nodule": 0.3}, maps, ["Mass"], width, height, default_threshold=0.35,
                      thresholds=thresholds)


@pytest.fixture
def overlay(qtbot, nih_demo):
    """An overlay panel over a model with one opened, not yet predicted study."""
    from sr_viewer.qt.overlay_panel import OverlayPanel

    model = ViewerModel()
    panel = OverlayPanel(model)
    qtbot.addWidget(panel)
    model.add_studies([nih_demo / "00000072_000.png"])
    return panel


def test_threshold_reads_a_dash_until_the_weights_value_is_known(overlay):
    model = overlay.model
    assert overlay.spin.text() == "-"  # not a made-up 0.500
    assert not overlay.slider.isEnabled() and not overlay.spin.isEnabled() and not overlay.reset.isEnabled()
    model.set_prediction(model.current, _prediction(Mass=0.42))
    assert overlay.spin.text() == "0.420" and overlay.slider.value() == 420
    assert overlay.slider.isEnabled() and overlay.spin.isEnabled() and overlay.reset.isEnabled()
    model.set_finding("Nodule")  # no operating point of its own: the weights' default
    assert overlay.spin.text() == "0.350"
    model.set_threshold(0.0)
    assert overlay.spin.text() == "0.000"  # a real 0 reads as a number, not as the dash


def test_threshold_shows_a_dash_in_the_window_while_the_model_loads(make_window, qtbot, weights, nih_demo):
    window = make_window(weights=weights)
    window.open_paths([nih_demo / "00000072_000.png"])
    panel = window.overlay_panel
    assert window.model.current.prediction is None and panel.spin.text() == "-" and not panel.slider.isEnabled()
    wait_done(qtbot, window)
    assert panel.spin.text() == f"{window.model.weights_threshold():.3f}" and panel.slider.isEnabled()


def test_a_click_on_the_slider_groove_moves_the_threshold_by_0_05(overlay, qtbot):
    model = overlay.model
    model.set_prediction(model.current, _prediction(Mass=0.42))
    overlay.resize(420, overlay.sizeHint().height())
    overlay.show()
    qtbot.waitExposed(overlay)
    slider = overlay.slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() - 3, slider.height() // 2))
    assert model.threshold == pytest.approx(0.47)
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(2, slider.height() // 2))
    assert model.threshold == pytest.approx(0.42)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)  # the arrow keys keep the fine step
    assert model.threshold == pytest.approx(0.421)


def test_study_list_wraps_an_error_line_instead_of_cutting_it_off(qtbot, nih_demo, tmp_path):
    from sr_viewer.qt.study_list import StudyList

    model = ViewerModel()
    studies = model.add_studies([nih_demo / "00000072_000.png", tmp_path / "report.dcm"])
    message = ("report.dcm: the DICOM file has no pixel data (PixelData element missing); it may be a "
               "structured report or a presentation state, not an image")
    model.image_failed(studies[1], message)
    view = StudyList(model)
    qtbot.addWidget(view)
    view.resize(240, 400)
    view.show()
    qtbot.waitExposed(view)
    item = view.item_for(studies[1])
    rect, width = view.visualItemRect(item), view.viewport().width()
    assert rect.width() <= width  # nothing hides behind a horizontal scroll bar
    metrics = QFontMetrics(view.font())
    lines = 1 + math.ceil(metrics.horizontalAdvance(f"error: {message}") / width)  # the name, then the error
    assert rect.height() >= lines * metrics.height()  # the row grew to show every wrapped line
    assert message in item.text() and message in item.toolTip()
    assert view.visualItemRect(view.item_for(studies[0])).height() < rect.height()  # others stay compact
