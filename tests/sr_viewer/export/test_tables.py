"""sr_viewer.export.tables: the box tables as CSV and JSON."""

from __future__ import annotations

import csv
import json

import pytest

from sr_core.io import read_image
from sr_viewer.export import box_records, write_boxes_csv, write_boxes_json
from sr_viewer.state import GtBox

from .conftest import overlay_for


def test_box_tables_csv_and_json(nih_demo, tmp_path):
    image = read_image(nih_demo / "00000032_037.png")
    model, overlay = overlay_for(tmp_path, image, [GtBox("Mass", (200.0, 300.0, 600.0, 450.0))])
    records = box_records(overlay, "m.safetensors")
    assert [r["kind"] for r in records] == ["pred", "gt"]
    assert records[1]["iou"] == pytest.approx(0.75) and records[1]["hit"] is True
    rows = list(csv.DictReader(open(write_boxes_csv(records, tmp_path / "b.csv"))))
    assert rows[0]["x1"] == "600.0" and rows[1]["probability"] == ""
    assert json.loads(write_boxes_json(records, tmp_path / "b.json").read_text())[0]["finding"] == "Mass"


def test_box_tables_give_box_sizes_and_distances_in_the_study_scale(nih_demo, tmp_path):
    image = read_image(nih_demo / "00000032_037.png")
    image.pixel_spacing, image.pixel_spacing_kind = (0.5, 0.25), "PixelSpacing"  # as a DICOM would say
    model, overlay = overlay_for(tmp_path, image, [GtBox("Mass", (200.0, 300.0, 600.0, 450.0))])
    overlay.study.measurements.add((10.0, 20.0), (10.0, 60.0))
    records = box_records(overlay, "m.safetensors")
    assert [r["kind"] for r in records] == ["pred", "gt", "distance"]
    gt = records[1]
    assert (gt["width"], gt["height"], gt["area"]) == pytest.approx((100.0, 75.0, 7500.0))  # 400 x 150 px
    assert gt["unit"] == "mm" and "PixelSpacing" in gt["scale"]
    distance = records[2]
    assert distance["length"] == pytest.approx(20.0) and distance["finding"] is None
    rows = list(csv.DictReader(open(write_boxes_csv(records, tmp_path / "b.csv"))))
    assert rows[2]["kind"] == "distance" and rows[2]["length"] == "20.0" and rows[2]["iou"] == ""


def test_box_tables_of_a_png_are_in_pixels(nih_demo, tmp_path):
    image = read_image(nih_demo / "00000032_037.png")
    model, overlay = overlay_for(tmp_path, image, [GtBox("Mass", (200.0, 300.0, 600.0, 450.0))])
    gt = box_records(overlay, "m.safetensors")[1]
    assert (gt["width"], gt["height"], gt["unit"]) == (400.0, 150.0, "px")
    assert gt["scale"].startswith("pixels")
