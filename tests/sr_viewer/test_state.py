"""The Qt-free document model: studies, finding, threshold, overlay, ground truth."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sr_core.boxes import threshold_regions
from sr_core.io import XrayImage, read_image
from sr_viewer.state import (
    IMAGES_AHEAD,
    GroundTruth,
    GroundTruthError,
    GtBox,
    Status,
    ViewerModel,
    ViewSettings,
    compare_boxes,
)


class FakePrediction:
    """Prediction's interface over hand-made maps (no model, no torch)."""

    def __init__(self, maps, probabilities, thresholds=None, default=0.5):
        self.maps, self.probabilities = maps, probabilities
        self.thresholds, self.default_threshold = thresholds or {}, default
        self.calls = 0

    @property
    def findings(self):
        return sorted(self.probabilities, key=self.probabilities.get, reverse=True)

    def fpm(self, finding=None):
        return self.maps[finding or self.findings[0]]

    def threshold_for(self, finding=None):
        return self.thresholds.get(finding, self.default_threshold)

    def regions(self, threshold, finding=None, mode="largest"):
        self.calls += 1
        return threshold_regions(self.fpm(finding), threshold, mode)


def blobs(shape=(200, 300)) -> np.ndarray:
    """A big blob (peak 1.0) at (x=80, y=60) and a small one (peak 0.7) at (x=220, y=150)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    big = np.exp(-((cols - 80) ** 2 + (rows - 60) ** 2) / (2 * 25.0**2))
    small = 0.7 * np.exp(-((cols - 220) ** 2 + (rows - 150) ** 2) / (2 * 10.0**2))
    return np.maximum(big, small).astype(np.float32)


def loaded_model(tmp_path, n=3):
    model = ViewerModel()
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(b"")
        paths.append(path)
    studies = model.add_studies(paths)
    for study in studies:
        model.image_loaded(study, XrayImage(np.zeros((200, 300), np.float32), path=study.path))
    return model, studies


def predict(model, study, thresholds=None):
    fpm = blobs()
    pred = FakePrediction({"Mass": fpm, "Nodule": fpm[::-1].copy()}, {"Mass": 0.7, "Nodule": 0.3}, thresholds)
    model.set_prediction(study, pred)
    return pred


def test_state_imports_neither_qt_nor_torch():
    code = ("import sys, sr_viewer.state, sr_viewer.export, sr_viewer.settings, sr_viewer.jobs, sr_viewer.app; "
            "print(sorted(m for m in ('PySide6', 'torch', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_view_settings_have_one_event_per_field_fired_only_on_a_change():
    view = ViewSettings()
    assert sorted(e.name for e in view.events) == sorted(f.name for f in dataclasses.fields(view))
    seen = []
    view.events.opacity.connect(seen.append)
    view.opacity = 0.45  # the default: no change, no event
    view.opacity = 7  # clamped to [0, 1]
    view.toggle("mode")
    view.toggle("invert")
    assert seen == [1.0] and view.mode == "all" and view.invert is True
    with pytest.raises(ValueError, match="colormap must be one of"):
        view.colormap = "rainbow"
    assert view.colormap == ViewSettings.default("colormap") == "inferno"


def test_studies_are_added_once_and_the_first_becomes_current(tmp_path):
    model, studies = loaded_model(tmp_path)
    seen = []
    model.events.studies_added.connect(seen.append)
    assert model.add_studies([studies[0].path, tmp_path / "img1.png"]) == []
    assert seen == [] and model.current is studies[0]
    assert [s.status for s in studies] == [Status.OPENED] * 3  # no model: image only


def test_next_and_previous_stop_at_the_ends(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.step(+1)
    model.step(+1)
    model.step(+1)
    assert model.current is studies[2]
    model.step(-1)
    assert model.current is studies[1]


def test_threshold_defaults_to_the_weights_threshold_of_the_top_finding(tmp_path):
    model, studies = loaded_model(tmp_path)
    predict(model, studies[0], thresholds={"Mass": 0.6, "Nodule": 0.4})
    assert model.finding == "Mass" and model.threshold == 0.6
    changes = []
    model.events.threshold_changed.connect(changes.append)
    model.set_finding("Nodule")
    assert model.threshold == 0.4 and changes == [0.4]


def test_reader_threshold_is_remembered_per_model_and_finding_until_reset(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.set_model_status(name="w.safetensors")
    for study in studies[:2]:
        predict(model, study)
    model.set_threshold(0.33)
    assert model.threshold_memory == {"w.safetensors": {"Mass": 0.33}}
    model.set_current(studies[1])  # same finding on the next study: the reader's threshold
    assert model.threshold == pytest.approx(0.33)
    model.reset_threshold()
    assert model.threshold == 0.5 and model.threshold_memory["w.safetensors"] == {}
    model.set_threshold(7)
    assert model.threshold == 1.0


def test_threshold_change_updates_boxes_with_one_regions_call(tmp_path):
    model, studies = loaded_model(tmp_path)
    pred = predict(model, studies[0])
    model.set_threshold(0.5)
    first = model.overlay()
    assert model.overlay() is first and pred.calls == 1  # cached until something changes
    (x0, y0, x1, y1), = first.regions.boxes
    assert x0 < 80 < x1 and y0 < 60 < y1  # the big blob
    model.set_threshold(0.8)
    smaller = model.overlay().regions.boxes[0]
    assert pred.calls == 2 and (smaller[2] - smaller[0]) < (x1 - x0)
    model.set_threshold(0.5)
    model.view.mode = "all"
    assert len(model.overlay().regions.boxes) == 2  # the small blob (peak 0.7) too


def test_gt_rows_carry_iou_and_hit_at_the_iou_threshold(tmp_path):
    model, studies = loaded_model(tmp_path)
    studies[0].gt_boxes = [GtBox("Mass", (40, 20, 120, 100)), GtBox("Mass", (250, 10, 290, 40))]
    predict(model, studies[0])
    model.set_threshold(0.5)
    gt = model.overlay().gt_rows
    assert gt[0].iou > 0.3 and gt[0].hit is True
    assert gt[1].iou == 0.0 and gt[1].hit is False
    assert model.overlay().pred_rows[0].iou == gt[0].iou
    model.view.iou_threshold = 0.95
    assert model.overlay().gt_rows[0].hit is False


DEMO_STUDY = Path(__file__).resolve().parents[2] / "resources" / "demo" / "00000072_000.png"


def test_gt_boxes_of_other_findings_are_context_on_the_demo_study():
    """Issue #13 item 4: the Mass map of 00000072_000 must not score its Atelectasis box."""
    model = ViewerModel()
    (study,) = model.add_studies([DEMO_STUDY])  # BBox_List_2017.csv beside it is found
    model.image_loaded(study, read_image(DEMO_STUDY))
    (atelectasis,) = study.gt_boxes
    assert atelectasis.finding == "Atelectasis"
    x0, y0, x1, y1 = (round(v) for v in atelectasis.box)
    on_box = np.zeros((study.height, study.width), np.float32)
    on_box[y0:y1, x0:x1] = 0.9
    beside = np.zeros_like(on_box)  # a Mass region that barely touches the Atelectasis box
    beside[y1 - 4 : y1 + 200, x1 - 4 : x1 + 200] = 0.9
    model.set_prediction(study, FakePrediction({"Mass": beside, "Atelectasis": on_box},
                                               {"Mass": 0.6, "Atelectasis": 0.4}))
    model.set_finding("Mass")
    overlay = model.overlay()
    (pred,) = overlay.pred_rows
    (gt,) = overlay.gt_rows
    assert gt.context and gt.finding == "Atelectasis" and gt.iou is None and gt.hit is None
    assert gt.label == "GT Atelectasis (other finding)"
    assert pred.finding == "Mass" and pred.iou is None  # no Mass box to compare with
    model.set_finding("Atelectasis")
    (gt,) = model.overlay().gt_rows
    assert not gt.context and gt.hit is True and gt.iou > 0.9
    assert gt.label.startswith("GT Atelectasis IoU ") and gt.label.endswith(" hit")


def test_only_the_shown_findings_gt_boxes_are_scored():
    gts = [GtBox("Mass", (0, 0, 10, 10)), GtBox("Nodule", (0, 0, 10, 10)), GtBox("mass", (20, 20, 30, 30))]
    rows = compare_boxes([(0, 0, 10, 10)], "Mass", gts)
    pred, mass, nodule, far_mass = rows
    assert pred.iou == pytest.approx(1.0)
    assert (mass.iou, mass.hit, mass.context) == (pytest.approx(1.0), True, False)
    assert (nodule.iou, nodule.hit, nodule.context) == (None, None, True)  # same place, other finding
    assert (far_mass.iou, far_mass.hit, far_mass.context) == (0.0, False, False)  # spelling case aside
    before = compare_boxes([], None, gts, has_prediction=False)
    assert not any(r.context for r in before) and all(r.iou is None for r in before)


def test_compare_uses_strictly_greater_than_like_sr_core_metrics():
    rows = compare_boxes([(0, 0, 10, 10)], "Mass", [GtBox("Mass", (0, 0, 10, 20))], iou_threshold=0.5)
    assert rows[1].iou == pytest.approx(0.5) and rows[1].hit is False
    before = compare_boxes([], None, [GtBox("Mass", (0, 0, 1, 1))], has_prediction=False)
    assert before[0].iou is None and before[0].hit is None


def test_bbox_list_boxes_are_scaled_from_the_1024_frame(tmp_path):
    csv = tmp_path / "BBox_List_2017.csv"
    csv.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\nimg.png,Infiltrate,100,200,300,400\nbad,row\n")
    gt = GroundTruth()
    assert gt.discover(tmp_path / "sub" / "img.png") == [csv]  # found one folder up
    assert gt.problems and "row skipped" in gt.problems[0]
    (box,) = gt.boxes_for(tmp_path / "img.png", 256, 256)
    assert box.finding == "Infiltration" and box.box == pytest.approx((25, 50, 100, 150))


def test_test_gt_boxes_are_scaled_from_the_listed_size(tmp_path):
    gt_file = tmp_path / "test_gt.txt"
    gt_file.write_text("Mass/a.png 1024 1024;100 100 300 200\nNodule/a.png 1024 1024;0 0 10 10\n")
    gt = GroundTruth()
    gt.add_file(gt_file)
    boxes = gt.boxes_for(tmp_path / "test" / "Mass" / "a.png", 512, 512)
    assert [(b.finding, b.box) for b in boxes] == [("Mass", (50, 50, 150, 100))]  # the folder picks Mass
    assert len(gt.boxes_for(tmp_path / "a.png", 512, 512)) == 2
    (tmp_path / "empty.csv").write_text("Image Index,Finding Label\n")
    with pytest.raises(GroundTruthError, match="empty.csv"):
        gt.add_file(tmp_path / "empty.csv")


def test_ground_truth_added_later_reaches_loaded_studies(tmp_path):
    model, studies = loaded_model(tmp_path, n=1)
    (tmp_path / "gt.csv").write_text("img0.png,Mass,0,0,512,512\n")
    changed = []
    model.events.study_changed.connect(changed.append)
    model.ground_truth.add_file(tmp_path / "gt.csv")
    assert changed == studies and studies[0].gt_boxes[0].box == pytest.approx((0, 0, 150, 100))


def test_cancel_and_requeue(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.queue.requeue()
    assert [s.status for s in studies] == [Status.QUEUED] * 3
    assert model.queue.next_study() is studies[0]
    model.set_current(studies[2])
    assert model.queue.next_study() is studies[2]  # the shown study first
    model.queue.unqueue(Status.CANCELLED)
    assert model.queue.next_study() is None


def test_only_recent_images_stay_in_memory(tmp_path):
    model, studies = loaded_model(tmp_path, n=8)
    for study in studies:
        model.set_current(study)
    evict = model.queue.images_to_evict()
    assert studies[-1] not in evict and len(evict) == 8 - 5


def test_pixels_decoded_for_the_model_are_kept_until_it_ran(tmp_path):
    """The next IMAGES_AHEAD studies the model takes, and the running one, keep their image
    (evicting them would mean decoding them twice); done studies make room."""
    model, studies = loaded_model(tmp_path, n=10)
    model.queue.requeue()
    running = studies[0]
    model.set_status(running, Status.RUNNING)
    model.set_current(studies[7])  # shown first: it goes to the front of the queue
    ahead = model.queue.ahead(IMAGES_AHEAD)
    assert ahead == [studies[7], studies[1]] and model.queue.next_study() is studies[7]
    evict = model.queue.images_to_evict()
    assert set(evict) == set(studies) - {running, *ahead}
    model.set_prediction(studies[1], FakePrediction({"Mass": blobs()}, {"Mass": 1.0}))
    assert studies[1] in model.queue.images_to_evict() and studies[2] not in model.queue.images_to_evict()
    assert model.queue.unqueue(Status.CANCELLED) == [s for s in studies if s not in (running, studies[1])]
    assert model.queue.unqueue(Status.CANCELLED) == []  # nothing left to cancel
