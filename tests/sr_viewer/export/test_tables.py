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
