"""Exports: annotated pictures painted at full size, DICOM Secondary Capture, tables, paths."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pydicom
import pytest

from sr_core.io import read_image
from sr_viewer.export import ExportError, build_annotation, box_records, safe_output_path, write_boxes_csv, write_boxes_json
from sr_viewer.export.dicom_sc import secondary_capture, write_secondary_capture
from sr_viewer.palette import PALETTE
from sr_viewer.state import GtBox, ViewerModel

from .test_state import FakePrediction

LUT = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)


def overlay_for(tmp_path, image, gt=()):
    model = ViewerModel()
    (study,) = model.add_studies([image.path])
    model.image_loaded(study, image)
    study.gt_boxes = list(gt)
    fpm = np.zeros((image.height, image.width), np.float32)
    fpm[300:500, 200:600] = 0.9
    model.set_prediction(study, FakePrediction({"Mass": fpm}, {"Mass": 0.8}))
    return model, model.overlay()


def test_safe_output_path_never_overwrites(tmp_path):
    source = tmp_path / "a.png"
    source.write_bytes(b"x")
    with pytest.raises(ExportError, match="source image"):
        safe_output_path(tmp_path / "." / "a.png", [source])
    out = tmp_path / "a_sr.png"
    assert safe_output_path(out, [source]) == out
    out.write_bytes(b"old")
    (tmp_path / "a_sr_1.png").write_bytes(b"old")
    assert safe_output_path(out, [source]) == tmp_path / "a_sr_2.png"


def test_legend_names_no_patient_unless_asked(nih_demo, tmp_path):
    image = read_image(nih_demo / "00000032_037.png")
    model, overlay = overlay_for(tmp_path, image)
    kwargs = dict(window=None, invert=False, lut=LUT, opacity=0.5, mode="largest", iou_threshold=0.3, model_name="m")
    plain = build_annotation(image, overlay, **kwargs)
    text = "\n".join(plain.legend)
    assert "Mass" in text and "0.800" in text and "0.50" in text and "m" in text
    assert "00000032" not in text
    named = build_annotation(image, overlay, include_identifiers=True, identifiers={"patient_id": "P-1"}, **kwargs)
    assert "00000032_037.png" in "\n".join(named.legend) and "patient id: P-1" in "\n".join(named.legend)
    assert plain.heat.shape == (1024, 1024, 4) and plain.heat[400, 400, 3] == 128 and plain.heat[10, 10, 3] == 0


def test_rendered_picture_shows_boxes_at_full_resolution(qapp, nih_demo, tmp_path):
    from sr_viewer.qt.render import qimage_to_rgb, render_annotation

    image = read_image(nih_demo / "00000032_037.png")
    gt = [GtBox("Mass", (100.0, 700.0, 300.0, 900.0))]
    model, overlay = overlay_for(tmp_path, image, gt)
    annotation = build_annotation(image, overlay, window=None, invert=False, lut=LUT, opacity=0.5,
                                  mode="largest", iou_threshold=0.3, model_name="m")
    rgb = qimage_to_rgb(render_annotation(annotation))
    assert rgb.shape == (1024, 1024, 3)
    (x0, y0, x1, y1), = overlay.regions.boxes
    assert (x0, y0, x1, y1) == (200, 300, 600, 500)
    for y, x in ((400, x0), (400, x1 - 1), (y0, 400), (y1 - 1, 400)):  # border pixels, inside the box
        assert tuple(rgb[y, x]) == PALETTE.pred_box
    assert tuple(rgb[400, x1]) != PALETTE.pred_box
    dashed = np.all(rgb[700:900, 100] == PALETTE.gt_box, axis=1)
    assert 0.3 < dashed.mean() < 0.9  # dashes and gaps
    assert tuple(rgb[400, 400]) != tuple(rgb[400, x0])  # inside: image + heatmap, not a line


def test_box_tables_csv_and_json(nih_demo, tmp_path):
    image = read_image(nih_demo / "00000032_037.png")
    model, overlay = overlay_for(tmp_path, image, [GtBox("Mass", (200.0, 300.0, 600.0, 450.0))])
    records = box_records(overlay, "m.safetensors")
    assert [r["kind"] for r in records] == ["pred", "gt"]
    assert records[1]["iou"] == pytest.approx(0.75) and records[1]["hit"] is True
    rows = list(csv.DictReader(open(write_boxes_csv(records, tmp_path / "b.csv"))))
    assert rows[0]["x1"] == "600.0" and rows[1]["probability"] == ""
    assert json.loads(write_boxes_json(records, tmp_path / "b.json").read_text())[0]["finding"] == "Mass"


def test_exports_score_only_the_shown_findings_gt_boxes(qapp, nih_demo, tmp_path):
    """Issue #13 item 4: another finding's GT box is context in tables and pictures alike."""
    from sr_viewer.qt.render import qimage_to_rgb, render_annotation

    image = read_image(nih_demo / "00000032_037.png")
    other = GtBox("Atelectasis", (210.0, 310.0, 590.0, 440.0))  # over the Mass region: would score high
    model, overlay = overlay_for(tmp_path, image, [GtBox("Mass", (200.0, 300.0, 600.0, 450.0)), other])
    pred, mass, atelectasis = box_records(overlay, "m.safetensors")
    assert pred["finding"] == "Mass" and pred["iou"] == pytest.approx(0.75) and pred["context"] is None
    assert (mass["finding"], mass["hit"], mass["context"]) == ("Mass", True, False)
    assert atelectasis["finding"] == "Atelectasis" and atelectasis["context"] is True
    assert atelectasis["iou"] is None and atelectasis["hit"] is None
    rows = list(csv.DictReader(open(write_boxes_csv([pred, mass, atelectasis], tmp_path / "b.csv"))))
    assert (rows[2]["finding"], rows[2]["iou"], rows[2]["hit"], rows[2]["context"]) == ("Atelectasis", "", "", "True")
    assert json.loads(write_boxes_json([atelectasis], tmp_path / "b.json").read_text())[0]["iou"] is None

    annotation = build_annotation(image, overlay, window=None, invert=False, lut=LUT, opacity=0.5,
                                  mode="largest", iou_threshold=0.3, model_name="m")
    assert [r.label for r in annotation.gt] == ["GT Mass IoU 0.75 hit", "GT Atelectasis (other finding)"]
    legend = "\n".join(annotation.legend)
    assert "Ground truth Mass: 1/1 hit" in legend and "other findings: 1 box(es), not scored" in legend
    rgb = qimage_to_rgb(render_annotation(annotation))
    plain = qimage_to_rgb(render_annotation(dataclasses.replace(annotation, gt=annotation.gt[:1])))
    edge = rgb[330:430, 211].astype(int)  # the context box's left border, below the legend
    drawn = np.any(edge != plain[330:430, 211], axis=1)
    assert 0.2 < drawn.mean() < 0.9  # dotted: dots and gaps
    assert not np.any(np.all(edge == PALETTE.gt_box, axis=1))  # faded, never the scored GT colour
    assert PALETTE.gt_context == (*PALETTE.gt_box, 120)
    alpha = PALETTE.gt_context[3] / 255
    expected = alpha * np.array(PALETTE.gt_box) + (1 - alpha) * plain[330:430, 211][drawn]
    assert np.abs(edge[drawn] - expected).max() <= 2


def test_secondary_capture_references_the_source_and_names_no_patient(shared_data, tmp_path):
    source = shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm"
    original = pydicom.dcmread(source, stop_before_pixels=True)
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[10, 20] = (255, 0, 0)
    path = write_secondary_capture(secondary_capture(rgb, source), tmp_path / "sc.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.SOPInstanceUID != original.SOPInstanceUID and ds.SeriesInstanceUID != original.SeriesInstanceUID
    for sequence in (ds.SourceImageSequence, ds.ReferencedImageSequence):
        assert sequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
        assert sequence[0].ReferencedSOPClassUID == original.SOPClassUID
    assert str(ds.PatientName) == "" and ds.PatientID == "" and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert ds.pixel_array.shape == (64, 80, 3) and tuple(ds.pixel_array[10, 20]) == (255, 0, 0)


def test_secondary_capture_with_identifiers_joins_the_source_study(shared_data, tmp_path):
    source = shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm"
    original = pydicom.dcmread(source, stop_before_pixels=True)
    ds = secondary_capture(np.zeros((32, 32, 3), np.uint8), source, include_identifiers=True)
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert str(ds.PatientName) == str(original.get("PatientName", "")) and ds.PatientID == original.get("PatientID", "")
    png = secondary_capture(np.zeros((32, 32, 3), np.uint8), None)
    assert "SourceImageSequence" not in png
