"""Start-up without arguments, the pixel readout, recent files and the last-resort error hook."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtCore import QPointF

from sr_viewer.app import NO_BUNDLED_WEIGHTS, start
from sr_viewer.state import NO_WEIGHTS_MESSAGE, Status


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

    assert default_weights() is not None  # resources/weights/sr_vmamba_nano.safetensors
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

    bundled = model_card_text(default_weights())
    assert bundled.startswith("# Model card: sr_vmamba_nano") and "Intended use" in bundled
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    assert model_card_text(weights) is None
    (tmp_path / "MODEL_CARD.md").write_text("folder card")
    assert model_card_text(weights) == "folder card"
    (tmp_path / "w.md").write_text("own card")
    assert model_card_text(weights) == "own card"  # a card named after the file wins
