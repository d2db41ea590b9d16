"""The main window end to end: drop, inference, threshold, ground truth, export, errors, settings."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from sr_core.data.layout import NIH_BOX_FINDINGS
from sr_viewer.palette import PALETTE
from sr_viewer.state import NO_WEIGHTS_MESSAGE, Status

from ..conftest import INFERENCE_TIMEOUT_MS, wait_done
from .conftest import drop


DEMO = Path(__file__).resolve().parents[3] / "resources" / "demo"


def test_dropped_file_is_predicted_and_probabilities_are_shown(make_window, qtbot, weights, nih_demo):
    window = make_window(weights=weights)
    with qtbot.waitSignal(window.inference.study_done, timeout=INFERENCE_TIMEOUT_MS) as blocker:
        drop(window, nih_demo / "00000732_005.png")
    study = blocker.args[0]
    assert window.model.studies == [study] and study.status is Status.DONE
    assert window.study_list.item_for(study).text().startswith("00000732_005.png\ndone")
    rows = window.findings.rows()
    assert [r[0] for r in rows] == study.prediction.findings and len(rows) == 8
    probabilities = [float(r[1]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 0.01
    marks = dict((r[0], r[2]) for r in rows)
    assert marks["Effusion"].endswith("0.20") and marks["Mass"] == "-"  # operating points from the weights
    assert window.model.finding == study.prediction.findings[0]
    assert window.canvas.grey.image.shape == (1024, 1024) and window.canvas.heat.image is not None
    assert "torch" in sys.modules  # loaded by the worker, see test_start_up_never_imports_torch


def test_threshold_change_updates_boxes_contour_and_table(make_window, qtbot, weights, nih_demo):
    window = make_window(weights=weights)
    window.open_paths([nih_demo / "00000150_002.png"])
    wait_done(qtbot, window)
    canvas, model = window.canvas, window.model
    assert model.threshold == 0.5  # the weights' threshold
    window.overlay_panel.slider.setValue(300)  # the reader drags to 0.3
    assert model.threshold == pytest.approx(0.3) and window.overlay_panel.spin.value() == pytest.approx(0.3)
    low_box = model.overlay().regions.boxes[0]
    xs, ys = canvas.boxes.getData()
    assert (np.nanmin(xs), np.nanmin(ys), np.nanmax(xs), np.nanmax(ys)) == low_box
    window.overlay_panel.spin.setValue(0.8)
    high_box = model.overlay().regions.boxes[0]
    xs, ys = canvas.boxes.getData()
    assert (np.nanmin(xs), np.nanmax(xs)) == (high_box[0], high_box[2])
    assert (high_box[2] - high_box[0]) * (high_box[3] - high_box[1]) < (low_box[2] - low_box[0]) * (low_box[3] - low_box[1])
    table = window.boxes_table.rows()
    assert table[0][:6] == ["pred", model.finding, *(str(v) for v in high_box)]
    cx, cy = canvas.contour.getData()
    assert high_box[0] <= np.nanmin(cx) and np.nanmax(cx) <= high_box[2]
    # The heatmap is cut at the threshold: exactly the mask's pixels are visible.
    mask = model.overlay().regions.mask
    assert np.array_equal(canvas.heat.mask, mask)
    canvas.heat.render()
    ys, xs = np.nonzero(mask)
    outside = np.argwhere(mask == 0)[0]
    assert canvas.heat.qimage.pixelColor(int(xs[0]), int(ys[0])).alpha() > 0
    assert canvas.heat.qimage.pixelColor(int(outside[1]), int(outside[0])).alpha() == 0
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert model.threshold == pytest.approx(0.81)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert model.threshold == 0.5
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert not model.view.overlay_visible and not canvas.boxes.isVisible()


def test_ground_truth_next_to_images_shows_iou(make_window, qtbot, weights, study_folder):
    window = make_window(weights=weights)
    drop(window, study_folder)
    qtbot.waitUntil(lambda: len(window.model.studies) == 2, timeout=10_000)
    window.model.set_current(window.model.study_for(study_folder / "00000732_005.png"))
    wait_done(qtbot, window)
    study = window.model.current
    assert [g.finding for g in study.gt_boxes] == ["Cardiomegaly", "Pneumothorax"]
    window.model.set_finding("Cardiomegaly")
    window.model.set_threshold(0.05)  # a large predicted region: overlaps the GT boxes
    gt_rows = [r for r in window.boxes_table.rows() if r[0].startswith("GT")]
    assert [r[:2] for r in gt_rows] == [["GT", "Cardiomegaly"], ["GT other", "Pneumothorax"]]
    scored, other = gt_rows
    assert float(scored[6]) == pytest.approx(window.model.overlay().gt_rows[0].iou, abs=0.005)
    assert scored[7] in ("hit", "miss") and float(scored[6]) > 0
    assert other[6:8] == ["", ""]  # Pneumothorax is not scored against the Cardiomegaly map
    labels = [label.textItem.toPlainText() for label in window.canvas.gt_labels[:2]]
    assert labels[0].startswith("GT Cardiomegaly IoU ") and labels[0].endswith(("hit", "miss"))
    assert labels[1] == "GT Pneumothorax (other finding)"
    window.overlay_panel.iou.setValue(0.0)
    assert all(r.hit for r in window.model.overlay().gt_rows if r.iou)


def test_demo_study_scores_gt_boxes_only_against_their_own_findings_map(make_window, qtbot, weights, tmp_path):
    """Issue #13 item 4: the Mass map of demo study 00000072_000 left its Atelectasis GT box
    reading "IoU 0.01 miss"; that box is context for Mass, and scored for Atelectasis."""
    window = make_window(weights=weights)
    window.open_paths([DEMO / "00000072_000.png"])
    wait_done(qtbot, window)
    model, canvas = window.model, window.canvas
    (box,) = model.current.gt_boxes
    assert box.finding == "Atelectasis"
    model.set_finding("Mass")
    model.set_threshold(0.05)  # a predicted region over much of the image, the Atelectasis box too
    assert model.overlay().regions.boxes
    (row,) = [r for r in window.boxes_table.rows() if r[0].startswith("GT")]
    assert row[:2] == ["GT other", "Atelectasis"] and row[6:8] == ["", ""]
    assert window.boxes_table.rows()[0][:2] == ["pred", "Mass"] and window.boxes_table.rows()[0][6] == ""
    assert canvas.gt_labels[0].textItem.toPlainText() == "GT Atelectasis (other finding)"
    xs, ys = canvas.gt_context.getData()  # drawn dotted and faded, not as a scored GT box
    assert (np.nanmin(xs), np.nanmin(ys), np.nanmax(xs), np.nanmax(ys)) == pytest.approx(box.box)
    assert len(canvas.gt.getData()[0]) == 0 and canvas.gt_context.opts["pen"].color().alpha() < 255
    written = window.exporter.export_boxes([model.current], tmp_path / "boxes.csv")
    (exported,) = [r for r in csv.DictReader(open(written)) if r["kind"] == "gt"]
    assert (exported["finding"], exported["iou"], exported["hit"], exported["context"]) == ("Atelectasis", "", "", "True")
    model.set_finding("Atelectasis")
    model.set_threshold(0.05)
    (row,) = [r for r in window.boxes_table.rows() if r[0].startswith("GT")]
    assert row[:2] == ["GT", "Atelectasis"] and row[7] in ("hit", "miss") and row[6] != ""
    assert canvas.gt_labels[0].textItem.toPlainText().startswith("GT Atelectasis IoU ")
    assert len(canvas.gt_context.getData()[0]) == 0 and len(canvas.gt.getData()[0]) > 0


def test_export_png_shows_the_boxes(make_window, qtbot, weights, study_folder, tmp_path):
    window = make_window(weights=weights)
    window.open_paths([study_folder / "00000344_003.png"])
    wait_done(qtbot, window)
    window.model.set_finding("Effusion")  # the finding of its GT box: scored, drawn dashed
    window.model.set_threshold(0.7)  # a box clear of the legend
    study = window.model.current
    (x0, y0, x1, y1) = window.model.overlay().regions.boxes[0]
    out = window.exporter.export_png(study, tmp_path / "a.png")
    picture = QImage(str(out)).convertToFormat(QImage.Format.Format_RGB888)
    assert (picture.width(), picture.height()) == (1024, 1024)
    def pixel(x, y):
        c = picture.pixelColor(x, y)
        return (c.red(), c.green(), c.blue())
    x_mid, y_mid = (x0 + x1) // 2, (y0 + y1) // 2
    # The outline covers the box's own border pixels (x0 .. x1-1), even at the image edge.
    edges = [(x0, y_mid), (x1 - 1, y_mid), (x_mid, y0), (x_mid, y1 - 1)]
    assert [pixel(x, y) for x, y in edges] == [PALETTE.pred_box] * 4
    gt = study.gt_boxes[0].box  # Effusion, dashed magenta
    column = [pixel(int(gt[0]) + 1, y) for y in range(round(gt[1]), round(gt[3]))]
    assert column.count(PALETTE.gt_box) > len(column) // 4
    # Never over a source; never over an earlier export.
    second = window.exporter.export_png(study, out)
    assert second.name == "a_1.png" and out.exists()
    window._export("PNG", lambda: window.exporter.export_png(study, study.path))
    assert "source image" in window.notifier.errors[-1]
    csv_path = window.exporter.export_boxes([study], tmp_path / "boxes.csv")
    assert "pred" in csv_path.read_text()


def test_batch_export_writes_every_study_off_the_ui_thread(make_window, qtbot, weights, study_folder, tmp_path):
    import threading

    window = make_window(weights=weights)
    window.open_paths([study_folder])
    qtbot.waitUntil(lambda: len(window.model.studies) == 2 and all(s.status is Status.DONE for s in window.model.studies),
                    timeout=INFERENCE_TIMEOUT_MS)
    shown = next(st for st in window.model.studies if st.path.name == "00000732_005.png")
    shown.measurements.add((100.0, 800.0), (600.0, 800.0))  # the reader's distance goes into every export
    threads, render = [], window.exporter.render
    window.exporter.render = lambda *args, **kwargs: (threads.append(threading.current_thread()), render(*args, **kwargs))[1]
    report = window.batch_export.run(tmp_path / "batch")
    assert len(threads) == 2 and threading.main_thread() not in threads
    assert sorted(p.name for p in report.written) == ["00000344_003_sr.png", "00000732_005_sr.png", "boxes.csv"]
    assert report.skipped == []
    assert not report.cancelled and report.exported_studies == 2
    window.exporter.render = render
    # Painted off the UI thread, the PNG is the picture the UI thread paints (legend text too).
    import cv2
    import numpy as np

    from sr_viewer.qt.render import qimage_to_rgb

    study = next(st for st in window.model.studies if st.path.name == "00000732_005.png")
    on_ui = qimage_to_rgb(window.exporter.render(study))
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "batch" / "00000732_005_sr.png")), cv2.COLOR_BGR2RGB)
    assert written.shape == on_ui.shape and np.array_equal(written, on_ui)
    assert np.all(written[800, 105:595] == PALETTE.measure)  # the distance, drawn off the UI thread too
    rows = list(csv.DictReader(open(tmp_path / "batch" / "boxes.csv")))
    (distance,) = [r for r in rows if r["kind"] == "distance"]
    assert (distance["image"], distance["x0"], distance["y1"], distance["length"], distance["unit"]) == (
        "00000732_005.png", "100.0", "800.0", "500.0", "px")
    # Stopped by the progress callback after the first study: that study and its boxes stay.
    part = window.exporter.export_all(tmp_path / "part", progress=lambda done, total: done < 1)
    assert part.cancelled and part.exported_studies == 1
    assert sorted(p.name for p in part.written) == ["00000344_003_sr.png", "boxes.csv"]
    assert len((tmp_path / "part" / "boxes.csv").read_text().splitlines()) >= 2


def test_batch_export_cancel_button_stops_and_says_so(make_window, qtbot, weights, study_folder, tmp_path,
                                                      monkeypatch):
    window = make_window(weights=weights)
    window.open_paths([study_folder])
    qtbot.waitUntil(lambda: len(window.model.studies) == 2 and all(s.status is Status.DONE for s in window.model.studies),
                    timeout=INFERENCE_TIMEOUT_MS)
    messages = []
    window.notifier.info.connect(messages.append)
    from sr_viewer.qt.workers import Task

    # As if Cancel was pressed before the first study (the worker checks between studies).
    monkeypatch.setattr(Task, "cancelled", property(lambda self: True))
    report = window.batch_export.run(tmp_path / "cancelled")
    assert report.cancelled and report.exported_studies == 0 and report.written == []
    assert any("cancelled after 0 of 2" in m for m in messages)


def test_bad_file_is_reported_and_the_app_goes_on(make_window, qtbot, weights, nih_demo, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    window = make_window(weights=weights)
    drop(window, bad, nih_demo / "00001555_002.png")
    qtbot.waitUntil(lambda: bool(window.notifier.errors), timeout=10_000)
    assert "broken.png" in window.notifier.errors[0]
    broken = window.model.study_for(bad)
    qtbot.waitUntil(lambda: broken.status is Status.ERROR, timeout=10_000)
    assert "broken.png" in window.study_list.item_for(broken).text() or "error" in window.study_list.item_for(broken).text()
    good = window.model.study_for(nih_demo / "00001555_002.png")
    wait_done(qtbot, window, good)
    window.model.set_current(broken)  # shows the message, nothing breaks
    assert "broken.png" in window.canvas.message.textItem.toPlainText()
    assert window._error_box is not None and "broken.png" in window._error_box.text()
    window.model.step(+1)
    assert window.model.current is good and window.isVisible()


def test_wrong_weights_are_named_and_images_still_open(make_window, qtbot, nih_demo, tmp_path):
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x80\x04not weights")
    window = make_window()
    with qtbot.waitSignal(window.inference.model_failed, timeout=INFERENCE_TIMEOUT_MS):
        window.load_weights(fake)
    window.open_paths([nih_demo / "00000072_000.png"])
    qtbot.waitUntil(lambda: window.model.current.image is not None, timeout=10_000)
    assert "fake.safetensors" in window.notifier.errors[-1] and "pickle" in window.notifier.errors[-1]
    assert window.model.current.status is Status.OPENED and window.model_panel.state.text()


def test_without_weights_the_model_panel_says_what_to_do(make_window, qtbot, nih_demo):
    window = make_window()
    window.load_weights(None)
    window.open_paths([nih_demo / "00000072_000.png"])
    qtbot.waitUntil(lambda: window.model.current.image is not None, timeout=10_000)
    assert window.model_panel.state.text() == NO_WEIGHTS_MESSAGE
    assert window.model.current.status is Status.OPENED
    # No probabilities, but the findings a reader can label (the box tool draws for the one chosen).
    assert window.findings.rows() == [(f, "-", "-") for f in NIH_BOX_FINDINGS]


def test_settings_survive_a_restart(make_window, qtbot, weights, nih_demo, config_dir):
    window = make_window(weights=weights)
    window.open_paths([nih_demo / "00000072_000.png"])
    wait_done(qtbot, window)
    model = window.model
    model.view.colormap = "viridis"
    model.view.opacity = 0.8
    model.set_threshold(0.42)
    model.view.mode = "all"
    finding = model.finding
    window.set_device("cpu")  # the same weights move: predictions are kept
    qtbot.waitUntil(lambda: model.model_status.ready and model.model_status.device == "cpu", timeout=INFERENCE_TIMEOUT_MS)
    assert model.current.prediction is not None and model.finding == finding
    window.set_theme("light")
    window.close()
    assert (config_dir / "settings.json").is_file()
    again = make_window()
    assert again.model.view.colormap == "viridis" and again.model.view.opacity == 0.8 and again.model.view.mode == "all"
    assert again.overlay_panel.colormap.currentText() == "viridis"
    assert again.model.threshold_memory == {"nano.safetensors": {finding: 0.42}}
    assert again.settings.weights == str(weights) and again.settings.device == "cpu"
    assert again.settings.theme == "light" and again.settings.recent_files[0].endswith("00000072_000.png")
    again.set_theme("dark")


def test_keyboard_moves_between_studies_and_findings(make_window, qtbot, weights, study_folder):
    window = make_window(weights=weights)
    window.open_paths([study_folder])
    qtbot.waitUntil(lambda: all(s.status is Status.DONE for s in window.model.studies) and len(window.model.studies) == 2,
                    timeout=INFERENCE_TIMEOUT_MS)
    first, second = window.model.studies
    assert window.model.current is first
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert window.model.current is second and "(2/2)" in window.windowTitle()
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert window.model.current is first
    findings = first.findings
    qtbot.keyClick(window, Qt.Key.Key_Period)
    assert window.model.finding == findings[1]
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert window.model.view.invert and window.canvas.grey.lut is not None
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert window.model.window == (0.5, 1.0)


def test_cancel_stops_the_queue_and_showing_a_study_runs_it(make_window, qtbot, weights, study_folder, nih_demo):
    window = make_window(weights=weights)
    qtbot.waitUntil(lambda: window.model.model_status.ready, timeout=INFERENCE_TIMEOUT_MS)
    for name in ("00000032_037.png", "00000830_000.png"):
        shutil.copy(nih_demo / name, study_folder / name)
    window.open_paths(sorted(study_folder.glob("*.png")))
    window.inference.cancel()
    statuses = [s.status for s in window.model.studies]
    queued = [s for s in window.model.studies if s.status is Status.QUEUED]
    assert Status.CANCELLED in statuses and queued in ([], [window.model.current])  # the shown one, next in, runs
    qtbot.waitUntil(lambda: not window.inference.busy, timeout=INFERENCE_TIMEOUT_MS)
    cancelled = next(s for s in window.model.studies if s.status is Status.CANCELLED)
    window.model.set_current(cancelled)
    wait_done(qtbot, window, cancelled)


def test_esc_says_the_queue_was_cancelled_only_when_something_was(make_window, qtbot, weights, study_folder):
    """Issue #13 item 7: Esc (which also closes dialogs) claimed a cancel with nothing queued."""
    from sr_viewer.qt.actions import shortcut_rows
    from sr_viewer.qt.dialogs import show_shortcuts

    window = make_window()  # no model yet: opened studies wait for none
    said = []
    window.notifier.info.connect(said.append)
    window.open_paths(sorted(study_folder.glob("*.png")))
    dialog = show_shortcuts(window, shortcut_rows())
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # closes the dialog
    assert not dialog.isVisible()
    window.activateWindow()  # offscreen, the window gets keys once active again
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    esc = []
    window.actions_by_name["cancel_inference"].triggered.connect(lambda *args: esc.append(True))
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert esc and not [m for m in said if "cancelled" in m] and window.inference.cancel() == 0
    window.load_weights(weights)  # both studies wait for the model while it loads
    studies = window.model.studies
    assert [s.status for s in studies] == [Status.QUEUED] * 2
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert [m for m in said if "cancelled" in m] == ["Inference queue cancelled: 2 studies not run"]
    assert [s.status for s in studies] == [Status.CANCELLED] * 2
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # again: nothing left to cancel, nothing said
    assert len(esc) == 3 and len([m for m in said if "cancelled" in m]) == 1


def test_window_level_drag_moves_the_levels(make_window, qtbot, shared_data):
    window = make_window()
    window.open_paths([shared_data / "dicom" / "CR-MONO1-10-chest.dcm"])
    qtbot.waitUntil(lambda: window.model.current.image is not None, timeout=10_000)
    canvas = window.canvas
    before = canvas.grey.levels.copy()
    canvas.view.window_drag.emit(True, 0.0, 0.0)
    canvas.view.window_drag.emit(False, 0.3, -0.1)
    assert window.model.window is not None and not np.allclose(canvas.grey.levels, before)
    canvas.fit()
    canvas.actual_size()
    rect = canvas.view.viewRect()
    assert rect.width() == pytest.approx(canvas.view.width(), rel=0.01)


def test_model_card_and_shortcuts_dialogs(make_window, qtbot, weights):
    from PySide6.QtWidgets import QTableWidget

    from sr_viewer.qt.actions import shortcut_rows
    from sr_viewer.qt.dialogs import show_shortcuts
    from sr_viewer.qt.model_card import model_card_html, show_model_card

    window = make_window(weights=weights)
    qtbot.waitUntil(lambda: window.model.model_status.ready, timeout=INFERENCE_TIMEOUT_MS)

    html = model_card_html(window.model.model_status, window.inference.card_text)
    for text in ("sr_vmamba_nano", "Cardiomegaly", "Operating points", "test fixture, untrained", "0.5"):
        assert text in html
    assert html.count("nowrap") == html.count("<th")  # the names stay on one line beside long values
    status = dataclasses.replace(window.model.model_status,
                                 metadata={**window.model.model_status.metadata,
                                           "fpm_thresholds": {"Nodule": 0.8200000000000001}})
    assert '"Nodule": 0.82' in model_card_html(status, None).replace("&quot;", '"')
    assert "Detail size" not in html  # only files run above their training size carry one
    status = dataclasses.replace(status, metadata={**status.metadata, "detail_size": 256})
    assert "larger images are first reduced to 256 px an axis" in model_card_html(status, None)
    show_model_card(window, window.model.model_status, window.inference.card_text).close()
    dialog = show_shortcuts(window, shortcut_rows())
    table = dialog.findChild(QTableWidget)
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "F1" in keys and "O" in keys and "Right drag" in keys
    dialog.close()


def test_an_ensemble_file_is_used_like_any_weights(make_window, qtbot, weights, nih_demo, tmp_path):
    import torch

    from sr_core.checkpoint import save_weights
    from sr_core.ensemble import save_ensemble
    from sr_core.models import create_model
    from sr_viewer.qt.model_card import model_card_html

    torch.manual_seed(1)
    other = save_weights(create_model("sr_efficientnet_lite0", fpm=False), tmp_path / "lite0.safetensors",
                         {"class_names": NIH_BOX_FINDINGS})
    ensemble = save_ensemble([weights, other], [0.5, 0.5], tmp_path / "both.safetensors",
                             {"default_threshold": 0.45, "fpm_thresholds": {"Mass": 0.3}})
    window = make_window(weights=ensemble)
    with qtbot.waitSignal(window.inference.study_done, timeout=INFERENCE_TIMEOUT_MS) as blocker:
        drop(window, nih_demo / "00000732_005.png")
    study = blocker.args[0]
    assert study.status is Status.DONE and len(window.findings.rows()) == 8
    assert study.prediction.small_maps["Mass"].shape == (16, 16)  # Lite0's grid, finer than nano's 8x8
    assert study.prediction.threshold_for("Mass") == 0.3
    html = model_card_html(window.model.model_status, window.inference.card_text)
    assert "ensemble: 0.50 sr_vmamba_nano + 0.50 sr_efficientnet_lite0" in html


def test_start_up_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from sr_viewer.qt.main_window import MainWindow\n"
        "from sr_viewer.settings import Settings\n"
        "w = MainWindow(Settings(), persist=False); w.show(); app.processEvents()\n"
        "print('torch' in sys.modules, w.model_panel.state.text())\n"
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "SR_VIEWER_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"False {NO_WEIGHTS_MESSAGE}"
