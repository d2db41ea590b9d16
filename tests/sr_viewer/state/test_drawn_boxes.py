"""sr_viewer.state.drawn_boxes: the reader's evented GT boxes, scored like loaded ground truth."""

from __future__ import annotations

import pytest

from sr_viewer.export import ExportError
from sr_viewer.export.bbox_list import write_drawn_boxes
from sr_viewer.state import DrawnBoxes, Study, ViewerModel, compare_boxes


def test_add_move_remove_fire_changed_and_keep_corners_ordered():
    boxes, fired = DrawnBoxes(), []
    boxes.events.changed.connect(lambda: fired.append(1))
    drawn = boxes.add("Mass", (50, 40, 10, 20))  # dragged up-left
    assert drawn.box == (10.0, 20.0, 50.0, 40.0) and boxes.selected == drawn.id
    boxes.move(drawn.id, (0, 0, 5, 5))
    boxes.move(drawn.id, (0, 0, 5, 5))  # unchanged: no event
    boxes.move(99, (0, 0, 1, 1))  # unknown: ignored
    assert boxes.get(drawn.id).box == (0.0, 0.0, 5.0, 5.0) and len(fired) == 2
    assert boxes.remove() and not boxes.remove() and len(boxes) == 0 and len(fired) == 3
    with pytest.raises(ValueError):
        boxes.add("Mass", (0, 0, float("nan"), 1))
    with pytest.raises(ValueError):
        boxes.add("", (0, 0, 1, 1))


def test_drawn_boxes_are_scored_as_ground_truth():
    study = Study("a.png")
    study.drawn_boxes.add("Mass", (0, 0, 10, 10))
    study.drawn_boxes.add("Nodule", (0, 0, 10, 10))
    rows = compare_boxes([(0, 0, 10, 5)], "Mass", study.all_gt_boxes, 0.4)
    mass, nodule = rows[1:]
    assert mass.drawn and mass.iou == pytest.approx(0.5) and mass.hit
    assert nodule.drawn and nodule.context and nodule.iou is None


def test_document_relays_drawn_box_changes(tmp_path):
    model = ViewerModel()
    (study,) = model.add_studies([tmp_path / "a.png"])
    seen = []
    model.events.drawn_boxes_changed.connect(seen.append)
    study.drawn_boxes.add("Mass", (0, 0, 1, 1))
    assert seen == [study]


def test_writer_refuses_protected_files_and_empty_lists(tmp_path):
    study = Study(tmp_path / "a.png")
    study.width, study.height = 512, 1024
    with pytest.raises(ExportError, match="no drawn box"):
        write_drawn_boxes(tmp_path / "out.csv", [study])
    study.drawn_boxes.add("Mass", (10, 20, 30, 60))
    source = tmp_path / "BBox_List_2017.csv"
    source.write_text("kept")
    with pytest.raises(ExportError, match="refusing"):
        write_drawn_boxes(source, [study], protected=[source])
    assert source.read_text() == "kept"
    assert write_drawn_boxes(tmp_path / "out.csv", [study]) == 1
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines == ["Image Index,Finding Label,Bbox [x,y,w,h]", "a.png,Mass,20,20,40,40"]
