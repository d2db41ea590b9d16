"""The presentation state and structured report exports from a window: what the menu commands
write for the shown DICOM study, the one-line refusal for a PNG, never over the source."""

from __future__ import annotations

import shutil

import highdicom as hd
import numpy as np
import pydicom

from sr_viewer.qt.exporter import ask_export_presentation_state, ask_export_structured_report

from ..conftest import FakePrediction


def shown(make_window, qtbot, path):
    window = make_window()  # no weights: the prediction is set by hand
    window.open_paths([path], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.image is not None,
                    timeout=20_000)
    return window, window.model.current


def test_menu_commands_write_both_objects_for_a_dicom_and_refuse_a_png(make_window, qtbot, shared_data, tmp_path):
    source = tmp_path / "chest.dcm"
    shutil.copy(shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm", source)
    window, study = shown(make_window, qtbot, source)
    fpm = np.zeros((study.height, study.width), np.float32)
    fpm[300:500, 200:600] = 0.9
    window.model.set_prediction(study, FakePrediction({"Nodule": fpm}, {"Nodule": 0.7}))
    study.measurements.add((100.0, 100.0), (600.0, 100.0))
    messages, asked = [], []
    window.notifier.info.connect(messages.append)
    window._save_path = lambda title, name, filters: (asked.append(name), tmp_path / name)[1]

    pr_path = ask_export_presentation_state(window)
    sr_path = ask_export_structured_report(window)
    assert asked == ["chest_pr.dcm", "chest_report.dcm"]
    assert pydicom.dcmread(pr_path).GraphicAnnotationSequence[0].GraphicLayer == "PREDICTIONS"
    report = hd.sr.MeasurementReport.from_sequence(hd.sr.srread(sr_path).content)
    assert report.get_planar_roi_measurement_groups()[0].finding_type.value == "27925004"  # SCT Nodule
    assert messages[-2:] == [f"DICOM presentation state written to {pr_path}",
                             f"DICOM structured report written to {sr_path}"]
    again = window.exporter.export_presentation_state(study, pr_path)
    assert again.name == "chest_pr_1.dcm"  # an earlier export is kept
    window._export("PR", lambda: window.exporter.export_structured_report(study, source))
    assert "source image" in window.notifier.errors[-1]

    png = tmp_path / "chest.png"
    shutil.copy(shared_data / "nih-demo" / "00000732_005.png", png)
    window.open_paths([png], remember=False)
    window.model.set_current(window.model.studies[-1])
    qtbot.waitUntil(lambda: window.model.current.source_kind == "png", timeout=20_000)
    asked.clear()
    assert ask_export_structured_report(window) is None and asked == []  # no dialog
    assert messages[-1] == ("A DICOM structured report needs a DICOM source image: for PNG/JPEG use "
                            "File > Export annotated PNG or Export boxes (CSV/JSON)")


def test_secondary_capture_draws_the_distance_labelled_as_on_the_canvas(make_window, qtbot, shared_data, tmp_path):
    """Issue #16 item 1: File > Export DICOM Secondary Capture carries the reader's distances."""
    from sr_viewer.palette import PALETTE

    window, study = shown(make_window, qtbot, shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm")
    distance = study.measurements.add((100.0, 800.0), (600.0, 800.0))  # 500 px at 0.168 mm/pixel
    (roi, label) = window.canvas.measurements.items[distance.id]
    assert label.textItem.toPlainText() == "84.0 mm (PixelSpacing, patient)"
    window._save_path = lambda title, name, filters: tmp_path / name
    window.export_dicom()
    (path,) = tmp_path.glob("*.dcm")
    pixels = pydicom.dcmread(path).pixel_array
    assert pixels.shape == (study.height, study.width, 3)
    assert np.all(pixels[800, 105:595] == PALETTE.measure)  # no prediction needed for the line
    study.measurements.clear()
    rgb = window.exporter.render(study)
    from sr_viewer.qt.render import qimage_to_rgb

    assert not np.any(np.all(qimage_to_rgb(rgb)[800, 105:595] == PALETTE.measure, axis=1))
