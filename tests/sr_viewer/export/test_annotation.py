"""sr_viewer.export.annotation: annotated pictures painted at full size, the legend, the scored GT boxes."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from sr_core.io import read_image
from sr_viewer.export import build_annotation, box_records, write_boxes_csv, write_boxes_json
from sr_viewer.palette import PALETTE
from sr_viewer.state import GtBox

from .conftest import LUT, overlay_for


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


def test_distances_are_drawn_with_the_canvas_label(qapp, dicom_study):
    """Issue #16 item 1: the reader's distances are in the picture, labelled as on the canvas."""
    from sr_viewer.qt.render import line_width, qimage_to_rgb, render_annotation

    model, study, image = dicom_study
    study.measurements.clear()
    (x0, y), (x1, _) = distance = ((100.0, 800.0), (600.0, 800.0))  # 500 px at 0.168 mm/pixel, below the legend
    study.measurements.add(*distance)
    kwargs = dict(window=None, invert=False, lut=LUT, opacity=0.5, mode="largest", iou_threshold=0.3, model_name="m")
    annotation = build_annotation(image, model.overlay(), **kwargs)
    assert annotation.distances == [(*distance, "84.0 mm (PixelSpacing, patient)")]
    assert annotation.distances[0][2] == study.scale.distance_label(*distance)  # the canvas's label
    rgb = qimage_to_rgb(render_annotation(annotation))
    lw = line_width(image.width, image.height)
    line = rgb[int(y), int(x0) + 5:int(x1) - 5]
    assert np.all(line == PALETTE.measure)  # the whole length, at its own row
    assert tuple(rgb[int(y) + lw + 1, int(x0) + 250]) != PALETTE.measure  # a line, not a band
    middle = (x0 + x1) / 2
    label = rgb[int(y) - lw - 8, int(middle) - 60:int(middle) + 60]  # centred above the middle
    assert np.any(np.all(label == PALETTE.measure, axis=1))  # the label's text, in the line's colour

    def label_pixels(start, end):  # the label's text pixels, in the rows just above the line
        study.measurements.clear()
        study.measurements.add(start, end)
        picture = qimage_to_rgb(render_annotation(build_annotation(image, model.overlay(), **kwargs)))
        band = picture[int(start[1]) - lw - 40:int(start[1]) - lw]
        return int(np.all(band == PALETTE.measure, axis=2).sum())

    # A line at the image's right edge, its label centred on it, would run half off the picture:
    # moved inside, the label has as many text pixels as the same label in the middle.
    middle_of_image = label_pixels((300.0, 800.0), (300.0, 1000.0))
    assert middle_of_image > 0
    assert label_pixels((image.width - 2.0, 800.0), (image.width - 2.0, 1000.0)) == middle_of_image

    study.measurements.clear()
    plain = qimage_to_rgb(render_annotation(build_annotation(image, model.overlay(), **kwargs)))
    assert not np.any(np.all(plain[int(y), int(x0) + 5:int(x1) - 5] == PALETTE.measure, axis=1))
