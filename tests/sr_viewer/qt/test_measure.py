"""The distance tool driven with the mouse: millimetres from the DICOM's spacing (and where
they come from), pixels for a PNG, handles, delete, the boxes table and the box export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from sr_viewer.qt.actions import ACTIONS

from ...sr_core.io.conftest import gradient, make_dicom, save  # the io tests' DICOM writer


def write_dicom(path: Path, width: int = 400, height: int = 300, **elements) -> Path:
    """A grey DX DICOM with the given spacing elements (PixelSpacing, ImagerPixelSpacing ...)."""
    return save(make_dicom(gradient(height, width), **elements), path)


def write_png(path: Path, width: int = 400, height: int = 300) -> Path:
    import cv2

    ramp = np.linspace(0, 255, width * height).reshape(height, width).astype(np.uint8)
    assert cv2.imwrite(str(path), ramp)
    return path


def open_study(make_window, qtbot, path: Path):
    window = make_window()  # no weights: measuring needs only the image
    window.open_paths([path], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.image is not None,
                    timeout=20_000)
    window.canvas.fit()
    QApplication.processEvents()
    return window, window.model.current


def viewport_point(canvas, x: float, y: float) -> QPoint:
    """Where the image point (x, y) is on the canvas's viewport."""
    scene = canvas.view.mapViewToScene(QPointF(x, y))
    return canvas.mapFromScene(scene)


def mouse(canvas, kind: QEvent.Type, point: QPoint, buttons: Qt.MouseButton) -> None:
    button = Qt.MouseButton.LeftButton
    global_point = canvas.viewport().mapToGlobal(point)
    event = QMouseEvent(kind, QPointF(point), QPointF(global_point), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), event)


def drag(qtbot, canvas, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    """A left-button drag as a reader does it: press, a few moves (slower than pyqtgraph's
    mouse rate limit), release, between two image points."""
    a, b = viewport_point(canvas, *start), viewport_point(canvas, *end)
    held = Qt.MouseButton.LeftButton
    mouse(canvas, QEvent.Type.MouseButtonPress, a, held)
    for i in range(1, steps + 1):
        qtbot.wait(25)
        t = i / steps
        mouse(canvas, QEvent.Type.MouseMove, QPoint(round(a.x() + (b.x() - a.x()) * t), round(a.y() + (b.y() - a.y()) * t)),
              held)
    qtbot.wait(25)
    mouse(canvas, QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton)
    QApplication.processEvents()


def tool_on(window) -> None:
    action = window.actions_by_name["measure_distance"]
    if not action.isChecked():
        action.trigger()
    assert window.canvas.measuring


def measure(qtbot, window, start, end):
    tool_on(window)
    drag(qtbot, window.canvas, start, end)
    (distance,) = list(window.model.current.measurements)
    return distance


def test_distance_drawn_with_the_mouse_is_millimetres_of_pixel_spacing(make_window, qtbot, tmp_path):
    # 0.5 mm between rows, 0.25 mm between columns: a 240 px horizontal line is 60 mm, a
    # 160 px vertical one is 80 mm (an anisotropic spacing tells the two axes apart).
    path = write_dicom(tmp_path / "calibrated.dcm", PixelSpacing=[0.5, 0.25])
    window, study = open_study(make_window, qtbot, path)
    distance = measure(qtbot, window, (80, 150), (320, 150))
    assert distance.start == pytest.approx((80, 150), abs=1.0) and distance.end == pytest.approx((320, 150), abs=1.0)
    assert study.scale.source == "PixelSpacing" and study.scale.unit == "mm"
    expected = np.hypot((distance.end[0] - distance.start[0]) * 0.25, (distance.end[1] - distance.start[1]) * 0.5)
    assert study.scale.length(distance.start, distance.end) == pytest.approx(expected)
    assert expected == pytest.approx(60.0, abs=0.5)
    (row,) = [r for r in window.boxes_table.rows() if r[0] == "distance"]
    assert row[8] == f"{expected:.1f} mm"
    assert "PixelSpacing" in window.boxes_panel.scale_label.text()
    assert "at the patient" in window.boxes_panel.scale_label.text()
    (roi, label) = window.canvas.measurements.items[distance.id]
    assert label.textItem.toPlainText().startswith(f"{expected:.1f} mm")

    study.measurements.clear()
    vertical = measure(qtbot, window, (200, 60), (200, 220))
    assert study.scale.length(vertical.start, vertical.end) == pytest.approx(80.0, abs=0.6)


def test_a_distance_along_the_image_edge_keeps_its_label_in_the_view(make_window, qtbot, tmp_path):
    # Drawn along the right and the top edges (as a reader measures a film's border), the
    # label grows into the picture instead of past the edge, where the canvas cuts it off.
    window, study = open_study(make_window, qtbot, write_png(tmp_path / "film.png"))
    view = window.canvas.view.sceneBoundingRect()
    for start, end in (((398, 60), (398, 220)), ((60, 2), (300, 2)), ((2, 100), (2, 250))):
        study.measurements.clear()
        distance = measure(qtbot, window, start, end)
        _, label = window.canvas.measurements.items[distance.id]
        QApplication.processEvents()
        assert view.contains(label.sceneBoundingRect()), (start, end)


def test_imager_pixel_spacing_is_labelled_at_the_detector(make_window, qtbot, tmp_path):
    path = write_dicom(tmp_path / "detector.dcm", ImagerPixelSpacing=[0.2, 0.2])
    window, study = open_study(make_window, qtbot, path)
    distance = measure(qtbot, window, (100, 100), (300, 100))
    assert study.scale.source == "ImagerPixelSpacing" and study.scale.where == "at the detector"
    assert study.scale.length(distance.start, distance.end) == pytest.approx(40.0, abs=0.3)
    text = window.boxes_panel.scale_label.text()
    assert "at the detector" in text and "ImagerPixelSpacing" in text and "no magnification factor" in text
    assert "detector" in window.canvas.measurements.items[distance.id][1].textItem.toPlainText()


def test_magnification_factor_brings_imager_spacing_to_the_patient(make_window, qtbot, tmp_path):
    # PS3.3: spacing at the patient = ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor.
    path = write_dicom(tmp_path / "magnified.dcm", ImagerPixelSpacing=[0.2, 0.2],
                       EstimatedRadiographicMagnificationFactor=1.25)
    window, study = open_study(make_window, qtbot, path)
    distance = measure(qtbot, window, (100, 100), (300, 100))
    assert study.scale.row_mm == pytest.approx(0.16) and study.scale.magnification_factor == pytest.approx(1.25)
    assert study.scale.length(distance.start, distance.end) == pytest.approx(32.0, abs=0.3)
    text = window.boxes_panel.scale_label.text()
    assert "at the patient" in text and "EstimatedRadiographicMagnificationFactor 1.25" in text


def test_png_measures_in_pixels(make_window, qtbot, tmp_path):
    window, study = open_study(make_window, qtbot, write_png(tmp_path / "plain.png"))
    distance = measure(qtbot, window, (50, 50), (250, 50))
    assert study.scale.unit == "px" and study.scale.source == "pixels"
    assert study.scale.length(distance.start, distance.end) == pytest.approx(200.0, abs=1.0)
    (row,) = [r for r in window.boxes_table.rows() if r[0] == "distance"]
    assert row[8].endswith(" px")
    assert "pixels" in window.boxes_panel.scale_label.text()


def test_handle_drag_moves_an_end_and_delete_removes_it(make_window, qtbot, tmp_path):
    path = write_dicom(tmp_path / "calibrated.dcm", PixelSpacing=[0.5, 0.5])
    window, study = open_study(make_window, qtbot, path)
    distance = measure(qtbot, window, (100, 100), (200, 100))
    window.actions_by_name["measure_distance"].trigger()  # tool off: the handle still drags
    assert not window.canvas.measuring
    drag(qtbot, window.canvas, distance.end, (300, 100))
    (moved,) = list(study.measurements)
    assert moved.id == distance.id and moved.start == distance.start
    assert moved.end == pytest.approx((300, 100), abs=1.5)
    assert study.scale.length(moved.start, moved.end) == pytest.approx(100.0, abs=0.8)

    window.actions_by_name["delete_measurement"].trigger()
    assert len(study.measurements) == 0 and not window.canvas.measurements.items
    assert not [r for r in window.boxes_table.rows() if r[0] == "distance"]


def test_a_click_with_the_tool_is_not_a_measurement(make_window, qtbot, tmp_path):
    window, study = open_study(make_window, qtbot, write_png(tmp_path / "plain.png"))
    tool_on(window)
    drag(qtbot, window.canvas, (100, 100), (100.2, 100))
    assert len(study.measurements) == 0


def test_box_export_lists_the_measurement_and_box_sizes(make_window, qtbot, tmp_path):
    path = write_dicom(tmp_path / "calibrated.dcm", PixelSpacing=[0.5, 0.25])
    window, study = open_study(make_window, qtbot, path)
    distance = measure(qtbot, window, (80, 150), (320, 150))
    length = study.scale.length(distance.start, distance.end)
    (tmp_path / "out").mkdir()
    csv_path = window.exporter.export_boxes([study], tmp_path / "out" / "boxes.csv")
    (row,) = [r for r in csv.DictReader(open(csv_path)) if r["kind"] == "distance"]
    assert float(row["length"]) == pytest.approx(length, abs=1e-3) and row["unit"] == "mm"
    assert "PixelSpacing" in row["scale"] and float(row["x0"]) == pytest.approx(distance.start[0], abs=0.01)
    json_path = window.exporter.export_boxes([study], tmp_path / "out" / "boxes.json")
    (record,) = [r for r in json.loads(json_path.read_text()) if r["kind"] == "distance"]
    assert record["length"] == pytest.approx(length, abs=1e-3)


def test_measure_actions_have_shortcuts():
    keys = {a.name: a.shortcut for a in ACTIONS}
    assert keys["measure_distance"] == "D" and keys["delete_measurement"] == "Del"


def test_real_cr_dicom_is_measured_with_its_pixel_spacing(make_window, qtbot, shared_data):
    # The SIIM-ACR CR file says PixelSpacing 0.168 mm: 500 px across is 84 mm at the patient.
    window, study = open_study(make_window, qtbot, shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm")
    distance = measure(qtbot, window, (200, 500), (700, 500))
    assert study.scale.row_mm == pytest.approx(0.168) and study.scale.source == "PixelSpacing"
    assert study.scale.length(distance.start, distance.end) == pytest.approx(84.0, abs=0.5)
    assert "0.168 x 0.168 mm/pixel" in window.boxes_panel.scale_label.text()
