"""sr-core-data import-nih on the real NIH files of ../shared/data, and the CLI's errors."""

import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from sr_core.cli.data import main
from sr_core.data.datasets import FolderDataset, LocalizationSet
from sr_core.data.layout import read_bbox_list_csv, read_test_gt, read_test_list
from sr_core.data.nih_import import split_patients


def _patients(shared_data):
    patients = {}
    for part in ("nih-train", "nih-val"):
        with open(shared_data / part / "labels.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                patients[Path(row["Image Index"]).stem] = row["Patient ID"]
    return patients


@pytest.fixture(scope="module")
def imported(nih_import_64):
    return nih_import_64


def _split_patients_on_disk(root, patients):
    found = defaultdict(set)
    for split in ("train", "val", "test"):
        for path in (root / split).rglob("*.png"):
            found[split].add(patients[path.stem])
    return found


def test_import_succeeds_and_writes_a_summary(imported):
    status, out = imported
    assert status == 0
    summary = json.loads((out / "import_summary.json").read_text())
    assert summary["images"]["test"] == 351 and summary["missing_images"] == 0
    assert summary["samples"]["test"]["Infiltration"] == 50
    assert summary["options"]["box_frame"] == [1024, 1024]


def test_summary_table_is_printed(shared_data, tmp_path, capsys):
    out = tmp_path / "root"
    status = main([
        "import-nih", "--entries", str(shared_data / "nih-val" / "labels.csv"),
        "--boxes", str(shared_data / "nih-val" / "BBox_List_2017_val.csv"),
        "--images", str(shared_data / "nih-val" / "images"), "--out", str(out), "--size", "32",
        "--findings", "Cardiomegaly,Infiltrate",
    ])
    printed = capsys.readouterr().out
    assert status == 0
    assert "finding" in printed and "patients" in printed and "Cardiomegaly" in printed
    assert sorted(p.name for p in (out / "test").iterdir()) == ["Cardiomegaly", "Infiltration"]
    assert not (out / "train").exists()  # every nih-val patient has a box image


def test_no_patient_of_a_box_image_is_in_train_or_val(imported, shared_data):
    _, out = imported
    patients = _patients(shared_data)
    rows, _ = read_bbox_list_csv(shared_data / "nih-val" / "BBox_List_2017_val.csv")
    box_patients = {patients[Path(r.image).stem] for r in rows}
    found = _split_patients_on_disk(out, patients)
    assert found["train"] and found["val"] and found["test"] == box_patients
    assert not (found["train"] | found["val"]) & box_patients
    assert not found["train"] & found["val"]
    assert len(found["val"]) / (len(found["val"]) + len(found["train"])) == pytest.approx(0.2, abs=0.01)


def test_multi_label_image_is_placed_under_each_box_finding(imported):
    _, out = imported
    # labels.csv: 00000100_000.png,Atelectasis|Effusion|Infiltration
    all_names = {p.parent.name for split in ("train", "val") for p in (out / split).rglob("00000100_000.png")}
    assert all_names == {"Atelectasis", "Effusion", "Infiltration"}


def test_gt_keeps_the_1024_frame_and_reads_back_scaled_to_64_px(imported, shared_data):
    _, out = imported
    rows, _ = read_bbox_list_csv(shared_data / "nih-val" / "BBox_List_2017_val.csv")
    gt, problems = read_test_gt(out / "test_gt.txt")
    test_list, list_problems = read_test_list(out / "test_list.txt")
    assert problems == [] and list_problems == [] and len(test_list) == len(rows) == 394
    for row in rows:
        entry = gt[(row.finding, Path(row.image).stem + ".png")]
        assert (entry.width, entry.height) == (1024, 1024)
        assert any(np.allclose(box, row.box, atol=1e-3) for box in entry.boxes)
    data = LocalizationSet(out)
    assert data.problems == [] and len(data) == 394
    sample = data[0]
    original = gt[(sample.path.parent.name, sample.path.name)].boxes
    assert sample.image.shape == (64, 64)
    np.testing.assert_allclose(sample.boxes, np.asarray(original) * 64 / 1024, atol=1e-3)


def test_manifest_matches_every_written_file(imported):
    _, out = imported
    lines = (out / "MANIFEST.md5").read_text().splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"MANIFEST.md5"}
    assert set(listed) == on_disk
    for rel, digest in listed.items():
        assert hashlib.md5((out / rel).read_bytes()).hexdigest() == digest


def test_imported_root_is_a_training_dataset(imported):
    _, out = imported
    train = FolderDataset(out, "train")
    assert len(train.class_names) == 8 and train[0][0].shape == (3, 64, 64)


def test_patient_split_is_deterministic_for_a_seed():
    patients = [str(i) for i in range(100)]
    assert split_patients(patients, 0.2, 6) == split_patients(reversed(patients), 0.2, 6)
    assert len(split_patients(patients, 0.2, 6)) == 20
    assert split_patients(patients, 0.2, 6) != split_patients(patients, 0.2, 7)


def test_missing_images_are_reported_and_counted(shared_data, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for path in sorted((shared_data / "nih-val" / "images").glob("*.png"))[:20]:
        (images / path.name).symlink_to(path)
    (images / "00000072_000.png").unlink()
    (images / "00000072_000.png").write_bytes(b"not a png")
    status = main([
        "import-nih", "--entries", str(shared_data / "nih-val" / "labels.csv"),
        "--boxes", str(shared_data / "nih-val" / "BBox_List_2017_val.csv"),
        "--images", str(images), "--out", str(tmp_path / "root"), "--size", "32",
    ])
    assert status == 0
    summary = json.loads((tmp_path / "root" / "import_summary.json").read_text())
    assert summary["missing_images"] == 351 - 20 and summary["unreadable_images"] == 1
    assert summary["images"]["test"] == 19
    assert "00000072_000" in (tmp_path / "root" / "import_problems.txt").read_text()


@pytest.mark.parametrize(
    "argv, status, message",
    [
        (["import-nih", "--out", "x"], 2, "required"),
        (["import-nih", "--entries", "nope.csv", "--boxes", "b", "--images", ".", "--out", "o"], 1,
         "nope.csv"),
        (["frobnicate"], 2, "invalid choice"),
        (["import-nih", "--entries", "e", "--boxes", "b", "--images", ".", "--out", "o", "--size", "-3"], 2,
         "size"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(argv, status, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == status
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_import_refuses_a_non_empty_output(shared_data, tmp_path, capsys):
    (tmp_path / "old.txt").write_text("keep me")
    status = main([
        "import-nih", "--entries", str(shared_data / "nih-val" / "labels.csv"),
        "--boxes", str(shared_data / "nih-val" / "BBox_List_2017_val.csv"),
        "--images", str(shared_data / "nih-val" / "images"), "--out", str(tmp_path),
    ])
    assert status == 1 and "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "old.txt").read_text() == "keep me"


def test_other_images_of_a_box_patient_are_left_out(shared_data, tmp_path, capsys):
    # A nih-train image relabelled as belonging to patient 72, who has the box image 00000072_000.
    entries = tmp_path / "Data_Entry_2017.csv"
    with open(shared_data / "nih-val" / "labels.csv", newline="") as handle:
        text = handle.read()
    with open(shared_data / "nih-train" / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    moved = next(r for r in rows if r["Finding Labels"] == "Cardiomegaly")
    kept = next(r for r in rows if r["Finding Labels"] == "Effusion")
    text = text.rstrip("\r\n") + f"\n{moved['Image Index']},Cardiomegaly,72,PA,50,M\n"
    text += f"{kept['Image Index']},Effusion,{kept['Patient ID']},PA,50,M\n"
    entries.write_text(text)
    status = main([
        "import-nih", "--entries", str(entries), "--boxes", str(shared_data / "nih-val"),
        "--images", str(shared_data / "nih-train" / "images"), str(shared_data / "nih-val" / "images"),
        "--out", str(tmp_path / "root"), "--size", "32", "--val-fraction", "0",
    ])
    assert status == 0
    assert "left out: 1 images of patients with a box image" in capsys.readouterr().out
    assert not list((tmp_path / "root").rglob(Path(moved["Image Index"]).stem + ".*"))
    assert [p.parent.name for p in (tmp_path / "root" / "train").rglob("*.png")] == ["Effusion"]


def test_an_official_folder_reads_in_place_as_its_import_lays_it_out(imported, shared_data):
    _, out = imported
    official = LocalizationSet(shared_data / "nih-val")  # labels.csv + BBox_List beside images/
    laid_out = LocalizationSet(out)
    assert official.problems == [] and official.class_names == laid_out.class_names
    assert official.rows == laid_out.rows and len(official) == 394
    for key, entry in laid_out.gt.items():
        assert (official.gt[key].width, official.gt[key].height) == (entry.width, entry.height) == (1024, 1024)
        np.testing.assert_allclose(official.gt[key].boxes, entry.boxes, atol=1e-3)  # test_gt keeps 3 decimals
    first = official.rows[0]
    sample = official[0]
    assert sample.path == shared_data / "nih-val" / "images" / first.file
    assert sample.image.shape == (256, 256)  # boxes scaled from the 1024 frame to the file's 256 px
    np.testing.assert_allclose(sample.boxes, np.asarray(official.gt[(first.finding, first.file)].boxes) / 4, atol=1e-4)
