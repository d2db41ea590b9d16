"""Exports while two models are compared, driven through the real window: File > Export
annotated PNG writes A's picture beside B's (each its own boxes, threshold and legend, the GT
and the distances on both), File > Export boxes lists B's boxes beside A's with a model
column; with the comparison removed both exports are A's alone, as before.

The models are test_comparison's fakes: A finds the blob on the left, B (mirrored) the one on
the right. The Nodule maps are the Mass maps upside down, so the boxes lie below the legend."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtGui import QImage

from sr_viewer.export import build_annotation
from sr_viewer.palette import PALETTE
from sr_viewer.qt.canvas import colormap_lut
from sr_viewer.qt.render import comparison_gap, qimage_to_rgb, render_annotation

from .test_comparison import HEIGHT, WIDTH, compared, fake_models  # noqa: F401 (fixtures)

NODULE_GT = (40, 200, 120, 280)  # around A's Nodule box (51, 210, 110, 269); B's is on the right
DISTANCE = ((200.0, 205.0), (200.0, 295.0))  # between the two boxes, below the legend


@pytest.fixture
def nodule(compared, tmp_path):
    """The compared window showing Nodule with a drawn Nodule GT box and a distance; the
    save dialog answers with its proposed name in tmp_path."""
    window, _ = compared
    window.model.set_finding("Nodule")
    study = window.model.current
    study.drawn_boxes.add("Nodule", NODULE_GT)
    study.measurements.add(*DISTANCE)
    asked = []
    window._save_path = lambda title, name, filters: (asked.append(name), tmp_path / name)[1]
    return window, study, asked


def read_rgb(path) -> np.ndarray:
    return qimage_to_rgb(QImage(str(path)))


def is_colour(pixels: np.ndarray, colour) -> np.ndarray:
    return np.all(pixels == np.asarray(colour[:3], np.uint8), axis=-1)


def test_comparison_png_puts_b_beside_a_each_with_its_own_boxes(nodule, tmp_path):
    window, study, asked = nodule
    box_a = window.model.overlay().regions.boxes[0]
    box_b = window.comparison.overlay().regions.boxes[0]
    assert box_a[2] < WIDTH / 2 < box_b[0]  # A's on the left blob, B's on the mirrored one
    window.export_png()
    assert asked == ["study_compare.png"] and not window.notifier.errors
    rgb = read_rgb(tmp_path / "study_compare.png")
    gap = comparison_gap(WIDTH)
    assert rgb.shape == (HEIGHT, 2 * WIDTH + gap, 3)
    assert is_colour(rgb[:, WIDTH:WIDTH + gap], PALETTE.divider).all()
    left, right = rgb[:, :WIDTH], rgb[:, WIDTH + gap:]

    def edges(half, box):  # the middle pixel of each border of a box, as drawn inside its own border
        x0, y0, x1, y1 = box
        mx, my = (x0 + x1) // 2, (y0 + y1) // 2
        return half[[my, my, y0, y1 - 1], [x0, x1 - 1, mx, mx]]

    assert is_colour(edges(left, box_a), PALETTE.pred_box).all()
    assert is_colour(edges(right, box_b), PALETTE.pred_box).all()
    assert not is_colour(edges(left, box_b), PALETTE.pred_box).any()  # A has no box where B's is
    assert not is_colour(edges(right, box_a), PALETTE.pred_box).any()
    # The GT box (dashed) and the reader's distance are on both halves.
    for half in (left, right):
        assert 0.3 < is_colour(half[NODULE_GT[1]:NODULE_GT[3], NODULE_GT[0]], PALETTE.gt_box).mean() < 0.9
        assert is_colour(half[250, 198:202], PALETTE.measure).any()


def test_comparison_legends_name_each_model_finding_probability_and_threshold(nodule):
    window, study, _ = nodule
    window.split_view.threshold_b.slider.setValue(420)  # B's own threshold: 0.42
    left, right = window.exporter.comparison_annotations(study)
    assert left.legend[1:4] == ["Finding: Nodule   p = 0.300", "Threshold: 0.50 (largest component, 1 box(es))",
                                "Model A: model_a.safetensors"]
    assert right.legend[1:4] == ["Finding: Nodule   p = 0.600", "Threshold: 0.42 (largest component, 1 box(es))",
                                 "Model B: model_b_ablation.safetensors"]
    assert "Ground truth Nodule: 1/1 hit at IoU > 0.30" in left.legend
    assert "Ground truth Nodule: 0/1 hit at IoU > 0.30" in right.legend
    assert [r.box for r in left.gt] == [r.box for r in right.gt] and len(left.gt) == 2  # Mass context + Nodule
    assert left.distances == right.distances and len(left.distances) == 1
    assert left.pred_boxes != right.pred_boxes and right.heat is not None


def test_boxes_csv_and_json_list_both_models(nodule, tmp_path):
    window, study, asked = nodule
    window.export_boxes()
    assert asked == ["study_boxes.csv"]
    rows = list(csv.DictReader(open(tmp_path / "study_boxes.csv", encoding="utf-8")))
    pred = [(r["model"], r["probability"], r["x0"]) for r in rows if r["kind"] == "pred"]
    assert pred == [("model_a.safetensors", "0.3", "51.0"), ("model_b_ablation.safetensors", "0.6", "290.0")]
    scored = [(r["model"], r["hit"]) for r in rows if r["kind"] == "gt" and r["hit"]]
    assert scored == [("model_a.safetensors", "True"), ("model_b_ablation.safetensors", "False")]
    context = [r for r in rows if r["kind"] == "gt" and r["context"] == "True"]
    assert len(context) == 1 and context[0]["model"] == ""  # the Mass box: listed once, no model's
    assert [r["kind"] for r in rows].count("distance") == 1
    written = window.exporter.export_boxes([study], tmp_path / "boxes.json", comparison=True)
    records = json.loads(written.read_text())
    assert {r["model"] for r in records if r["kind"] == "pred"} == {"model_a.safetensors",
                                                                     "model_b_ablation.safetensors"}


def test_without_a_comparison_the_exports_are_a_alone_as_before(nodule, tmp_path):
    window, study, asked = nodule
    window.actions_by_name["remove_comparison"].trigger()
    window.export_png()
    window.export_boxes()
    assert asked == ["study_sr.png", "study_boxes.csv"] and not window.notifier.errors
    view = window.model.view
    alone = build_annotation(study.image, window.model.overlay(), window=study.window, invert=view.invert,
                             lut=colormap_lut(view.colormap)[:, :3], opacity=view.opacity, mode=view.mode,
                             iou_threshold=view.iou_threshold, model_name="model_a.safetensors")
    assert "Model: model_a.safetensors" in alone.legend
    assert np.array_equal(read_rgb(tmp_path / "study_sr.png"), qimage_to_rgb(render_annotation(alone)))
    rows = list(csv.DictReader(open(tmp_path / "study_boxes.csv", encoding="utf-8")))
    assert [(r["kind"], r["model"]) for r in rows] == [("pred", "model_a.safetensors"), ("gt", ""), ("gt", ""),
                                                       ("distance", "")]
