"""sr_viewer.state.ground_truth: BBox_List and test_gt boxes scaled to the image, added late or early."""

from __future__ import annotations

import pytest

from sr_viewer.state import GroundTruth, GroundTruthError

from .conftest import loaded_model


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
