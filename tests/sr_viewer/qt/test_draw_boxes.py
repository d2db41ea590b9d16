"""The box tool driven with the mouse (issue #16 item 3): a reader draws a ground-truth box
for the shown finding, it is scored against the prediction like a loaded GT box, its handles
resize and move it, Del removes it, and File > Save drawn boxes writes a BBox_List_2017 CSV
that sr_core's reader gives back in the image's pixels, never over the CSV the GT came from."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtWidgets import QApplication

from sr_core.data.layout import read_bbox_list_csv, read_localization_rows
from sr_viewer.qt.actions import ACTIONS
from sr_viewer.state import GroundTruth

from ..conftest import CLASSES, wait_done
from .test_measure import drag, tool_on, write_png

NAME = "00000732_005.png"  # a 1024 px NIH X-ray whose BBox_List row is Cardiomegaly


def box_tool_on(window) -> None:
    action = window.actions_by_name["draw_box"]
    if not action.isChecked():
        action.trigger()
    assert window.canvas.drawing_boxes and not window.canvas.measuring


def scored_study(make_window, qtbot, weights, path):
    window = make_window(weights=weights)
    window.open_paths([path], remember=False)
    wait_done(qtbot, window)
    window.model.set_finding("Cardiomegaly")
    window.model.set_threshold(0.05)  # a large predicted region
    window.canvas.fit()
    QApplication.processEvents()
    return window, window.model.current


def draw(qtbot, window, start, end):
    box_tool_on(window)
    drag(qtbot, window.canvas, start, end)
    return list(window.model.current.drawn_boxes)


def test_drawn_box_is_ground_truth_scored_and_saved(make_window, qtbot, weights, study_folder, tmp_path):
    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    assert (study.width, study.height) == (1024, 1024)
    pred = window.model.overlay().pred_rows[0].box
    (drawn,) = draw(qtbot, window, pred[:2], pred[2:])
    assert drawn.finding == "Cardiomegaly" and drawn.box == pytest.approx(pred, abs=2.0)

    (row,) = [r for r in window.model.overlay().gt_rows if r.drawn]
    assert row.iou > 0.9 and row.hit  # drawn over the predicted box
    (cells,) = [r for r in window.boxes_table.rows() if r[0] == "GT drawn"]
    assert cells[1] == "Cardiomegaly" and cells[6] == f"{row.iou:.2f}" and cells[7] == "hit"
    assert [r[0] for r in window.boxes_table.rows() if r[0].startswith("GT")] == ["GT", "GT other", "GT drawn"]
    labels = [label.textItem.toPlainText() for label in window.canvas.gt_labels]
    assert f"GT Cardiomegaly IoU {row.iou:.2f} hit" in labels
    assert drawn.id in window.canvas.drawn_boxes.items

    target = window.save_drawn_boxes(tmp_path / "mine.csv")
    assert target == tmp_path / "mine.csv"
    (saved,), problems = read_bbox_list_csv(target)
    assert not problems and (saved.image, saved.finding) == (NAME, "Cardiomegaly")
    assert saved.box == pytest.approx(drawn.box, abs=1e-3)  # NIH's 1024 frame is this image's pixels
    gt = GroundTruth()
    gt.add_file(target)
    (back,) = gt.boxes_for(study.path, study.width, study.height)
    assert back.box == pytest.approx(drawn.box, abs=1e-3)

    # Beside a copy of the image, the CSV is an official NIH folder to sr-core-eval's reader.
    (tmp_path / "eval").mkdir()
    shutil.copy(study.path, tmp_path / "eval" / NAME)
    window.save_drawn_boxes(tmp_path / "eval" / "BBox_List_2017_drawn.csv")
    rows = read_localization_rows(tmp_path / "eval", class_names=CLASSES)
    assert [(r.finding, r.file) for r in rows.rows] == [("Cardiomegaly", NAME)]
    assert rows.gt[("Cardiomegaly", NAME)].boxes == [pytest.approx(drawn.box, abs=1e-3)]


def test_boxes_on_a_smaller_image_come_back_in_its_pixels(make_window, qtbot, weights, tmp_path):
    window, study = scored_study(make_window, qtbot, weights, write_png(tmp_path / "small.png", 400, 300))
    (drawn,) = draw(qtbot, window, (50, 60), (250, 200))
    assert drawn.box == pytest.approx((50, 60, 250, 200), abs=1.5)
    target = window.save_drawn_boxes(tmp_path / "small_boxes.csv")
    (saved,), _ = read_bbox_list_csv(target)
    x0, y0, x1, y1 = drawn.box
    assert saved.box == pytest.approx((x0 * 1024 / 400, y0 * 1024 / 300, x1 * 1024 / 400, y1 * 1024 / 300), abs=1e-3)
    gt = GroundTruth()
    gt.add_file(target)
    (back,) = gt.boxes_for(study.path, 400, 300)
    assert back.box == pytest.approx(drawn.box, abs=1e-3)


def test_handles_resize_and_move_and_delete_removes(make_window, qtbot, weights, study_folder):
    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    (drawn,) = draw(qtbot, window, (300, 300), (500, 450))
    window.actions_by_name["draw_box"].trigger()  # tool off: the handles still drag
    assert not window.canvas.drawing_boxes
    drag(qtbot, window.canvas, drawn.box[2:], (600, 550))  # the bottom-right corner
    (resized,) = list(study.drawn_boxes)
    assert resized.id == drawn.id and resized.box[:2] == pytest.approx(drawn.box[:2], abs=0.5)
    assert resized.box[2:] == pytest.approx((600, 550), abs=3.0)
    drag(qtbot, window.canvas, (400, 400), (450, 420))  # inside: moves it whole
    (moved,) = list(study.drawn_boxes)
    assert moved.box == pytest.approx(tuple(v + d for v, d in zip(resized.box, (50, 20, 50, 20))), abs=3.0)
    drawn_rows = [r for r in window.model.overlay().gt_rows if r.drawn]
    assert [r.box for r in drawn_rows] == [moved.box]

    window.canvas.drawn_boxes.items[moved.id].setPos((-50, -40))  # past the top-left corner: kept inside
    (kept,) = list(study.drawn_boxes)
    width, height = moved.box[2] - moved.box[0], moved.box[3] - moved.box[1]
    assert kept.box == pytest.approx((0, 0, width - 50, height - 40))
    roi = window.canvas.drawn_boxes.items[kept.id]
    assert (roi.pos().x(), roi.pos().y(), roi.size().x()) == pytest.approx((0, 0, width - 50))
    moved = kept

    box_tool_on(window)
    study.measurements.add((10, 10), (100, 10))  # Del with the box tool on removes the box, not this
    study.drawn_boxes.select(moved.id)
    window.actions_by_name["delete_measurement"].trigger()
    assert len(study.drawn_boxes) == 0 and not window.canvas.drawn_boxes.items and len(study.measurements) == 1
    assert not [r for r in window.boxes_table.rows() if r[0].startswith("GT drawn")]


def test_a_click_with_the_box_tool_is_not_a_box(make_window, qtbot, weights, study_folder):
    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    assert draw(qtbot, window, (300, 300), (300.5, 300.5)) == []


def test_saving_over_the_source_csv_is_refused(make_window, qtbot, weights, study_folder, tmp_path):
    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    source = study_folder / "BBox_List_2017.csv"
    assert source.resolve() in window.model.ground_truth.files
    before = source.read_bytes()
    draw(qtbot, window, (300, 300), (500, 450))
    messages = []
    window.notifier.info.connect(messages.append)
    assert window.save_drawn_boxes(source) is None
    assert source.read_bytes() == before
    assert len(messages) == 1 and "refusing" in messages[0] and "\n" not in messages[0]
    assert window.save_drawn_boxes(study.path) is None  # nor over the image


def test_box_tool_and_save_have_shortcuts():
    keys = {a.name: a.shortcut for a in ACTIONS}
    assert keys["draw_box"] == "B" and keys["save_drawn_boxes"] == "Ctrl+Shift+B"
    assert len(set(keys.values()) - {""}) == len([k for k in keys.values() if k])  # no shortcut used twice


def test_a_drag_reshapes_one_item_in_place_for_both_tools(make_window, qtbot, weights, study_folder):
    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    made = []
    for items in (window.canvas.drawn_boxes, window.canvas.measurements):
        original = items._add_item
        items._add_item = lambda mark, original=original: made.append(mark.id) or original(mark)
    draw(qtbot, window, (300, 300), (600, 500))
    tool_on(window)
    drag(qtbot, window.canvas, (200, 200), (400, 350))
    assert len(made) == 2  # one item a drag, however many mouse moves it had
    (box,) = study.drawn_boxes
    (roi,) = window.canvas.drawn_boxes.items.values()
    assert window.canvas.drawn_boxes._matches(roi, box)
    (distance,) = study.measurements
    (entry,) = window.canvas.measurements.items.values()
    assert window.canvas.measurements._matches(entry, distance)


def test_proposed_file_name_is_not_read_back_as_ground_truth(make_window, qtbot, weights, study_folder, monkeypatch):
    """File > Save drawn boxes proposes a name the folder's GT discovery skips: reopened, the
    folder gives NIH's boxes alone, and the reader's file is theirs to load or overwrite."""
    from PySide6.QtWidgets import QFileDialog

    window, study = scored_study(make_window, qtbot, weights, study_folder / NAME)
    (drawn,) = draw(qtbot, window, (300, 300), (500, 450))
    window.settings.last_folder = str(study_folder)  # the dialog opens beside the images
    proposed = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda parent, title, path, filters: (proposed.append(path), (path, filters))[1])
    messages = []
    window.notifier.info.connect(messages.append)
    window.actions_by_name["save_drawn_boxes"].trigger()
    (path,) = proposed
    saved = study_folder / "drawn_boxes.csv"
    assert path == str(saved) and saved.is_file() and "ground truth" not in messages[-1]

    again = GroundTruth()
    assert again.discover(study_folder / NAME) == [study_folder / "BBox_List_2017.csv"]
    assert not [b for b in again.boxes_for(study.path, 1024, 1024) if b.box == pytest.approx(drawn.box, abs=1e-3)]
    window.save_drawn_boxes(saved)  # the reader's own file: replaced, not refused
    assert messages[-1].startswith("1 drawn box saved to")
    assert window.loader.load_ground_truth(saved) == 1  # File > Load ground truth reads it

    # A name the reader gives in NIH's pattern (e.g. for sr-core-eval's official folder) is said to be GT.
    window.save_drawn_boxes(study_folder / "BBox_List_2017_mine.csv")
    assert "read as ground truth when images beside it are opened" in messages[-1] and "\n" not in messages[-1]


def choose_finding(qtbot, window, finding: str) -> None:
    """Click a finding's row in the Findings panel, as a reader does."""
    from PySide6.QtCore import Qt

    table = window.findings.table
    (item,) = table.findItems(finding, Qt.MatchFlag.MatchExactly)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())


def test_without_weights_a_labeller_chooses_an_nih_finding_and_draws(make_window, qtbot, study_folder, tmp_path):
    """No model at all: the Findings panel lists NIH's eight box findings (the labels that
    BBox_List_2017, sr-core-eval and the importer use); the box tool draws for the one chosen."""
    from sr_core.data.layout import NIH_BOX_FINDINGS, read_bbox_list_csv

    window = make_window()  # no weights
    window.open_paths([study_folder / NAME], remember=False)
    qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.image is not None,
                    timeout=20_000)
    study = window.model.current
    assert study.prediction is None
    assert window.findings.rows() == [(f, "-", "-") for f in NIH_BOX_FINDINGS]
    window.canvas.fit()
    QApplication.processEvents()
    messages = []
    window.notifier.info.connect(messages.append)
    assert draw(qtbot, window, (300, 300), (500, 450)) == []  # nothing chosen yet: said, not guessed
    assert "choose one in the Findings panel" in messages[-1]

    choose_finding(qtbot, window, "Effusion")
    assert study.finding == "Effusion" and window.model.finding is None  # chosen; no map to show
    (drawn,) = draw(qtbot, window, (300, 300), (500, 450))
    assert drawn.finding == "Effusion" and drawn.box == pytest.approx((300, 300, 500, 450), abs=2.0)
    (cells,) = [r for r in window.boxes_table.rows() if r[0] == "GT drawn"]
    assert cells[1] == "Effusion"
    assert "GT Effusion" in [label.textItem.toPlainText() for label in window.canvas.gt_labels]
    assert [r for r in window.findings.table.selectedItems() if r.column() == 0][0].text() == "Effusion"
    (saved,), _ = read_bbox_list_csv(window.save_drawn_boxes(tmp_path / "labels.csv"))
    assert (saved.image, saved.finding) == (NAME, "Effusion")


def test_while_the_model_runs_the_weights_findings_are_offered_and_the_box_is_scored_after(
        make_window, qtbot, weights, study_folder, monkeypatch):
    """Weights loaded, inference still running: the weights' classes are offered, a box and a
    distance are drawn, and when the prediction comes the chosen finding is shown and scored."""
    import threading

    from sr_viewer import jobs
    from sr_viewer.state import Status

    from .test_measure import tool_on

    gate, predict = threading.Event(), jobs.predict
    monkeypatch.setattr(jobs, "predict", lambda predictor, image: (gate.wait(60), predict(predictor, image))[1])
    window = make_window(weights=weights)
    try:
        window.open_paths([study_folder / NAME], remember=False)
        qtbot.waitUntil(lambda: window.model.current is not None and window.model.current.image is not None
                        and window.model.current.status is Status.RUNNING, timeout=60_000)
        study = window.model.current
        assert [r[0] for r in window.findings.rows()] == CLASSES and study.prediction is None
        window.canvas.fit()
        QApplication.processEvents()
        choose_finding(qtbot, window, "Cardiomegaly")
        (drawn,) = draw(qtbot, window, (300, 300), (500, 450))
        tool_on(window)
        drag(qtbot, window.canvas, (100, 700), (300, 700))
        (distance,) = study.measurements
        assert drawn.finding == "Cardiomegaly" and distance.end[0] - distance.start[0] == pytest.approx(200, abs=2)
        (row,) = [r for r in window.model.overlay().gt_rows if r.drawn]
        assert row.iou is None and row.hit is None  # nothing to score against yet
    finally:
        gate.set()
    wait_done(qtbot, window)
    assert window.model.finding == "Cardiomegaly"  # the chosen finding's map is shown
    (row,) = [r for r in window.model.overlay().gt_rows if r.drawn]
    assert row.iou is not None and row.hit is not None and not row.context
