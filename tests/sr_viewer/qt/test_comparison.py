"""Two models side by side, driven through the real window: Model > Open comparison weights
shows canvas B beside canvas A, each with its own boxes; a pan, a zoom or a window/level drag
on one side is the other's too; B's threshold moves B's boxes only; the comparison table
lists both probabilities and IoUs against the GT; Remove comparison hides B and lets its
model go; B predicts on a worker thread; corrupt B weights are one line and A stays as it was.

The models are fakes (jobs.load_model is replaced for the two fake files), so no CPU
inference runs; the corrupt file goes through the real loader."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from sr_core.prediction import Prediction
from sr_viewer import jobs

from ..state.conftest import blobs
from .test_measure import drag, write_png

WIDTH, HEIGHT = 400, 300
GT_BOX = (45, 25, 116, 96)  # around the big blob at (80, 60): A's map finds it, B's (mirrored) does not


class FakePredictor:
    """A model that answers with hand-made maps and notes the thread it ran on."""

    def __init__(self, probabilities: dict[str, float], mirrored: bool) -> None:
        self.probabilities, self.mirrored = probabilities, mirrored
        self.metadata = {"default_threshold": 0.5, "class_names": list(probabilities)}
        self.device, self.input_size = "cpu", 64
        self.threads: list[threading.Thread] = []

    def predict(self, image) -> Prediction:
        self.threads.append(threading.current_thread())
        fpm = blobs((image.height, image.width))
        if self.mirrored:
            fpm = fpm[:, ::-1].copy()
        return Prediction(dict(self.probabilities), {"Mass": fpm, "Nodule": fpm[::-1].copy()}, ["Mass"],
                          image.width, image.height)


@pytest.fixture
def fake_models(tmp_path, monkeypatch):
    """Two fake weights files, A and B; any other file goes to the real loader."""
    real = jobs.load_model
    paths = {"a": tmp_path / "model_a.safetensors", "b": tmp_path / "model_b_ablation.safetensors"}
    predictors = {}
    for path in paths.values():
        path.write_bytes(b"fake")

    def load_model(weights: Path, device: str) -> jobs.LoadedModel:
        if weights == paths["a"]:
            predictor = FakePredictor({"Mass": 0.7, "Nodule": 0.3}, mirrored=False)
        elif weights == paths["b"]:
            predictor = FakePredictor({"Mass": 0.4, "Nodule": 0.6}, mirrored=True)
        else:
            return real(weights, device)
        predictors[weights.name] = weakref.ref(predictor)
        return jobs.LoadedModel(predictor, dict(predictor.metadata), "cpu", False, None, 0.0)

    monkeypatch.setattr(jobs, "load_model", load_model)
    return paths, predictors


@pytest.fixture
def compared(make_window, qtbot, tmp_path, fake_models):
    """A window showing one study with a drawn GT box, model A's answer, then model B opened
    through Model > Bundled comparison weights' sibling: Model > Open comparison weights."""
    paths, predictors = fake_models
    window = make_window(weights=paths["a"])
    window.open_paths([write_png(tmp_path / "study.png", WIDTH, HEIGHT)], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.prediction is not None
                    and window.model.current.image is not None, timeout=20_000)
    window.model.current.drawn_boxes.add("Mass", GT_BOX)
    window.open_comparison(paths["b"])
    qtbot.waitUntil(lambda: window.comparison.prediction_for(window.model.current) is not None, timeout=20_000)
    window.resize(1400, 800)
    QApplication.processEvents()
    return window, predictors


def box_bounds(curve) -> tuple[float, float, float, float]:
    xs, ys = curve.getData()
    return float(np.nanmin(xs)), float(np.nanmin(ys)), float(np.nanmax(xs)), float(np.nanmax(ys))


def centre_and_scale(canvas) -> tuple[float, float, float]:
    """The image point at the view's centre and image pixels per screen pixel."""
    rect = canvas.view.viewRect()
    return rect.center().x(), rect.center().y(), rect.width() / canvas.view.width()


def test_comparison_shows_both_canvases_each_with_its_own_boxes(compared):
    window, _ = compared
    a, b = window.canvas, window.compare_canvas
    assert window.split_view.comparing and a.isVisible() and b.isVisible()
    assert window.docks["comparison"].isVisible()
    box_a, box_b = box_bounds(a.boxes), box_bounds(b.boxes)
    assert box_a == window.model.overlay().regions.boxes[0]
    assert box_b == window.comparison.overlay().regions.boxes[0]
    assert box_a[2] < WIDTH / 2 < box_b[0]  # A's box on the left blob, B's on the mirrored one
    header_a = window.split_view.header_a
    assert header_a.isVisible() and header_a.height() > 10 and header_a.text().startswith("A: Mass p 0.70, threshold")
    assert header_a.text().endswith("   model_a")
    assert a.height() == b.height()  # the image level on both sides
    assert window.split_view.header_b.text() == "B: Mass p 0.40   model_b_ablation"


def test_pan_and_zoom_on_one_side_move_the_other(compared, qtbot):
    window, _ = compared
    a, b = window.canvas, window.compare_canvas
    assert centre_and_scale(b) == pytest.approx(centre_and_scale(a), rel=1e-3)
    a.zoom(2.0)
    QApplication.processEvents()
    zoomed = centre_and_scale(a)
    assert centre_and_scale(b) == pytest.approx(zoomed, rel=1e-3)
    drag(qtbot, b, (200, 150), (150, 120))  # a reader pans on B's side with the mouse
    panned = centre_and_scale(a)
    assert panned[0] - zoomed[0] == pytest.approx(50, abs=3) and panned[1] - zoomed[1] == pytest.approx(30, abs=3)
    assert centre_and_scale(b) == pytest.approx(panned, rel=1e-3)


def test_window_level_drag_on_either_side_changes_both(compared):
    window, _ = compared
    a, b = window.canvas, window.compare_canvas
    assert a.grey.levels is not None
    b.view.window_drag.emit(True, 0.2, -0.1)  # what a right drag on B's view sends
    b.view.window_drag.emit(False, 0.3, -0.2)
    QApplication.processEvents()
    assert window.model.window is not None
    assert np.allclose(a.grey.levels, b.grey.levels)
    window.actions_by_name["window_high"].trigger()
    assert np.allclose(a.grey.levels, b.grey.levels) and window.model.window is not None


def test_threshold_b_moves_only_b_boxes(compared):
    window, _ = compared
    a, b = window.canvas, window.compare_canvas
    box_a, box_b = box_bounds(a.boxes), box_bounds(b.boxes)
    threshold_a = window.model.threshold
    window.split_view.threshold_b.slider.setValue(850)  # the reader drags B's slider to 0.85
    assert window.comparison.threshold == pytest.approx(0.85)
    assert window.split_view.threshold_b.spin.value() == pytest.approx(0.85)
    small_b = box_bounds(b.boxes)
    assert (small_b[2] - small_b[0]) < (box_b[2] - box_b[0])
    assert box_bounds(a.boxes) == box_a and window.model.threshold == threshold_a
    window.actions_by_name["compare_threshold_down"].trigger()  # Alt+[
    assert window.comparison.threshold == pytest.approx(0.84) and window.model.threshold == threshold_a
    # Remembered per model and finding, like A's: B's weights open with it next time.
    assert window.model.threshold_memory["model_b_ablation.safetensors"]["Mass"] == pytest.approx(0.84)


def test_table_lists_both_probabilities_and_ious_against_the_gt(compared):
    window, _ = compared
    table = window.comparison_table
    rows = table.rows()
    assert rows[0] == ["Mass", "0.700", "0.400", "", ""]
    assert rows[2] == ["Nodule", "0.300", "0.600", "", ""]
    gt = rows[1]  # the shown finding's GT right under its row
    assert gt[0] == "GT Mass" and table.item(1, 0).toolTip() == "GT box (45, 25) to (116, 96), image pixels"
    iou_a, iou_b = window.model.overlay().gt_rows[0].iou, window.comparison.overlay().gt_rows[0].iou
    assert iou_a > 0.3 and iou_b == 0.0
    assert gt[3] == f"{iou_a:.2f} hit" and gt[4] == "0.00 miss"
    window.comparison_table.selectRow(2)  # choosing a finding in the table shows it on both sides
    assert window.model.finding == "Nodule" and window.comparison.finding == "Nodule"


def test_remove_comparison_hides_it_and_frees_model_b(compared):
    window, predictors = compared
    assert predictors["model_b_ablation.safetensors"]() is not None
    window.actions_by_name["remove_comparison"].trigger()
    QApplication.processEvents()
    assert not window.split_view.comparing and not window.compare_canvas.isVisible()
    assert not window.docks["comparison"].isVisible() and window.comparison_table.rowCount() == 0
    assert window.compare.slot.predictor is None and not window.comparison.active
    gc.collect()
    assert predictors["model_b_ablation.safetensors"]() is None  # nothing holds model B any more
    assert predictors["model_a.safetensors"]() is not None and window.model.model_status.ready


def test_model_b_predicts_off_the_ui_thread(compared):
    window, _ = compared
    threads = window.compare.slot.predictor.threads
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert window.inference.predictor.threads[0] is not threading.main_thread()


def test_corrupt_comparison_weights_are_one_line_and_model_a_is_untouched(make_window, qtbot, tmp_path,
                                                                          fake_models):
    paths, _ = fake_models
    window = make_window(weights=paths["a"])
    window.open_paths([write_png(tmp_path / "study.png", WIDTH, HEIGHT)], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.prediction is not None,
                    timeout=20_000)
    study, prediction = window.model.current, window.model.current.prediction
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00\x01 not safetensors at all" * 10)
    with qtbot.waitSignal(window.compare.failed, timeout=60_000):
        window.open_comparison(broken)
    message = window.notifier.errors[-1]
    assert message.startswith("Cannot use comparison weights broken.safetensors: ") and "\n" not in message
    assert not window.comparison.active and not window.split_view.comparing
    assert window.model.model_status.ready and window.model.model_status.name == "model_a.safetensors"
    assert study.prediction is prediction and window.model.current is study


def test_a_session_brings_the_comparison_back(compared, make_window, qtbot, tmp_path, fake_models):
    window, _ = compared
    paths, _ = fake_models
    path = window.session.save_session(tmp_path / "compare")
    assert json.loads(path.read_text())["comparison_weights"] == str(paths["b"].resolve())
    window.close()
    again = make_window()
    assert again.session.open_session(path)
    qtbot.waitUntil(lambda: again.model.current is not None
                    and again.comparison.prediction_for(again.model.current) is not None, timeout=20_000)
    assert again.split_view.comparing and again.comparison.name == "model_b_ablation.safetensors"
    assert again.model.model_status.name == "model_a.safetensors"


def test_screenshot_of_the_comparison_view(qapp, fake_models, tmp_path, capsys):
    from sr_viewer.app import main
    from sr_viewer.screenshot import COMPARE_SIZE

    paths, _ = fake_models
    study = write_png(tmp_path / "study.png", WIDTH, HEIGHT)
    out = tmp_path / "compare.png"
    assert main(["--screenshot", str(out), "--weights", str(paths["a"]), "--compare", str(paths["b"]), str(study)]) == 0
    picture = QImage(str(out))
    assert (picture.width(), picture.height()) == COMPARE_SIZE
    assert picture.format() == QImage.Format.Format_Indexed8  # the palette that keeps the file small
    missing = tmp_path / "missing.safetensors"
    assert main(["--screenshot", str(tmp_path / "x.png"), "--weights", str(paths["a"]), "--compare", str(missing),
                 str(study)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"sr-viewer: error: weights not found: {missing}"


def test_bundled_comparison_weights_menu_opens_model_b(make_window, qtbot, fake_models, monkeypatch):
    paths, _ = fake_models
    monkeypatch.setattr("sr_viewer.qt.main_window.bundled_weights", lambda: [paths["a"], paths["b"]])
    monkeypatch.setattr("sr_viewer.qt.main_window.default_weights", lambda: paths["a"])
    window = make_window(weights=paths["a"])
    menu = window.submenus["bundled_comparison"]
    menu.aboutToShow.emit()  # as when the reader opens Model > Bundled comparison weights
    entries = {a.text(): a for a in menu.actions()}
    assert list(entries) == ["model_a.safetensors (default)", "model_b_ablation.safetensors"]
    assert not window.actions_by_name["remove_comparison"].isEnabled()
    entries["model_b_ablation.safetensors"].trigger()
    qtbot.waitUntil(lambda: window.comparison.status.ready, timeout=20_000)
    assert window.split_view.comparing and window.actions_by_name["remove_comparison"].isEnabled()
    menu.aboutToShow.emit()
    assert [a.isChecked() for a in menu.actions()] == [False, True]  # B's file is the one checked here
