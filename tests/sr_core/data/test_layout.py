"""Parsers and writers of the NIH layout files (test_list, test_gt, BBox_List_2017 CSV)."""

import csv
import logging

import pytest

from sr_core.data.layout import (
    GtEntry,
    LayoutError,
    TestListRow,
    read_bbox_list_csv,
    read_localization_rows,
    read_test_gt,
    read_test_list,
    scan_split,
    write_test_gt,
    write_test_list,
)


def test_test_gt_tolerates_spaces_blank_lines_comments_and_several_boxes(tmp_path):
    path = tmp_path / "test_gt.txt"
    path.write_text(
        "# boxes in original pixels\n"
        "Mass/a.png 1024 1024;10 20 110 220\n"
        "\n"
        "Mass/a.png 1024 1024 ; 300 300 400 450\n"
        "   Nodule/b.png 2048 1536  ;  1.5 2.5 30.25 40\r\n"
    )
    gt, problems = read_test_gt(path)
    assert problems == []
    assert gt[("Mass", "a.png")] == GtEntry(1024, 1024, [(10, 20, 110, 220), (300, 300, 400, 450)])
    assert gt[("Nodule", "b.png")] == GtEntry(2048, 1536, [(1.5, 2.5, 30.25, 40)])


def test_malformed_gt_row_is_reported_with_its_line_and_skipped(tmp_path, caplog):
    path = tmp_path / "test_gt.txt"
    path.write_text(
        "Mass/a.png 1024 1024;10 20 110 220\n"
        "Mass/a.png 1024 1024;10 20 oops 220\n"  # line 2: not a number
        "Mass/c.png 1024;1 2 3 4\n"  # line 3: no height
        "Mass/d.png 1024 1024;50 50 50 80\n"  # line 4: empty box
        "Mass/a.png 512 512;1 2 3 4\n"  # line 5: size disagrees with line 1
        "Effusion/e.png 1024 1024;0 0 5 5\n"
    )
    with caplog.at_level(logging.WARNING):
        gt, problems = read_test_gt(path)
    assert sorted(gt) == [("Effusion", "e.png"), ("Mass", "a.png")]
    assert gt[("Mass", "a.png")].boxes == [(10, 20, 110, 220)]
    assert [p.split(":")[1] for p in problems] == ["2", "3", "4", "5"]
    assert all(str(path) in p for p in problems)
    assert "test_gt.txt:2" in caplog.text


def test_gt_box_outside_the_image_is_clipped(tmp_path):
    path = tmp_path / "test_gt.txt"
    path.write_text("Mass/a.png 100 80;-5 10 120 90\n")
    gt, problems = read_test_gt(path)
    assert problems == [] and gt[("Mass", "a.png")].boxes == [(0, 10, 100, 80)]


def test_test_list_parses_spaces_and_reports_bad_rows(tmp_path):
    path = tmp_path / "test_list.txt"
    path.write_text("Mass/a.png;Mass\n\nNodule/b.png ; Nodule\nno-folder.png;Mass\nMass/c.png\n# c\n")
    rows, problems = read_test_list(path)
    assert rows == [TestListRow("Mass", "a.png", "Mass"), TestListRow("Nodule", "b.png", "Nodule")]
    assert [p.split(":")[1] for p in problems] == ["4", "5"]


def test_writers_round_trip(tmp_path):
    rows = [TestListRow("Mass", "a.png", "Mass"), TestListRow("Effusion", "b c.png", "Effusion")]
    gt = {("Mass", "a.png"): GtEntry(1024, 1024, [(1.25, 2, 3, 4.5), (10, 10, 20, 20)]),
          ("Effusion", "b c.png"): GtEntry(640, 480, [(0, 0, 639.5, 479)])}
    write_test_list(tmp_path / "test_list.txt", rows)
    write_test_gt(tmp_path / "test_gt.txt", gt)
    assert read_test_list(tmp_path / "test_list.txt") == (rows, [])
    assert read_test_gt(tmp_path / "test_gt.txt") == (gt, [])


def test_gt_entry_scales_boxes_to_a_resized_copy():
    entry = GtEntry(1024, 1024, [(100, 200, 300, 400)])
    assert entry.boxes_at(256, 256) == [(25, 50, 75, 100)]


def test_official_bbox_list_csv_maps_infiltrate_and_keeps_every_row(shared_data):
    path = shared_data / "nih-val" / "BBox_List_2017_val.csv"
    rows, problems = read_bbox_list_csv(path)
    with open(path, newline="") as handle:
        raw = [r for r in csv.reader(handle) if r and r[0] != "Image Index"]
    assert problems == []
    assert len(rows) == len(raw)
    findings = {r.finding for r in rows}
    assert "Infiltration" in findings and "Infiltrate" not in findings
    first = raw[0]
    x, y, w, h = (float(v) for v in first[2:6])
    assert rows[0].image == first[0]
    assert rows[0].box == pytest.approx((x, y, x + w, y + h))


def test_bbox_list_tolerates_stray_columns_and_reports_bad_rows(tmp_path):
    path = tmp_path / "BBox_List_2017.csv"
    path.write_text(
        "\ufeffImage Index,Finding Label,Bbox [x,y,w,h],,,\n"
        "a.png,Infiltrate,10,20,30,40,,\n"
        "b.png,Mass,1,2\n"  # line 3: too few columns
        "c.png,Mass,1,2,-3,4\n"  # line 4: negative width
        "\n"
        "d.png, Nodule ,5,5,5,5\n"
    )
    rows, problems = read_bbox_list_csv(path)
    assert [(r.image, r.finding, r.box) for r in rows] == [
        ("a.png", "Infiltration", (10, 20, 40, 60)),
        ("d.png", "Nodule", (5, 5, 10, 10)),
    ]
    assert [p.split(":")[1] for p in problems] == ["3", "4"]


def test_scan_split_takes_class_names_from_train_folders(tmp_path):
    for split, name in [("train", "Zeta"), ("train", "Alpha"), ("test", "Zeta")]:
        (tmp_path / split / name).mkdir(parents=True)
        (tmp_path / split / name / "x.png").write_bytes(b"\x89PNG")
    names, samples = scan_split(tmp_path, "test")
    assert names == ["Alpha", "Zeta"]
    assert samples == [(tmp_path / "test" / "Zeta" / "x.png", 1)]
    (tmp_path / "test" / "Other").mkdir()
    with pytest.raises(LayoutError, match="Other"):
        scan_split(tmp_path, "test")


def _official_folder(tmp_path, images=("a.png",)):
    """A folder in NIH's official format: BBox_List_2017 CSV beside images/."""
    folder = tmp_path / "official"
    (folder / "images").mkdir(parents=True)
    (folder / "BBox_List_2017.csv").write_text(
        "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
        "a.png,Mass,100,200,50,60\n"
        "a.png,Infiltrate,0,0,1024,1024\n"
        "b.png,Nodule,10,10,20,20\n"
    )
    for name in images:
        (folder / "images" / name).write_bytes(b"")  # rows are read without decoding images
    return folder


def test_an_official_folder_gives_the_rows_its_import_would_and_names_a_missing_image(tmp_path):
    found = read_localization_rows(_official_folder(tmp_path))
    assert found.class_names == ["Infiltration", "Mass"]
    assert found.rows == [TestListRow("Mass", "a.png", "Mass"), TestListRow("Infiltration", "a.png", "Infiltration")]
    assert found.gt[("Mass", "a.png")] == GtEntry(1024, 1024, [(100, 200, 150, 260)])
    assert found.image_path(found.rows[0]) == tmp_path / "official" / "images" / "a.png"
    assert len(found.problems) == 1 and "b.png" in found.problems[0] and "image not found" in found.problems[0]


def test_a_folder_in_neither_format_or_an_official_one_with_another_split_is_one_line(tmp_path):
    with pytest.raises(LayoutError, match="test_list.txt not found.*BBox_List_2017"):
        read_localization_rows(tmp_path)
    with pytest.raises(LayoutError, match="one split, test, not 'val'"):
        read_localization_rows(_official_folder(tmp_path), split="val")
