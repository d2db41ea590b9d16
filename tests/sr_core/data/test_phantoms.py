"""Synthetic chest phantoms: shapes, finding-dependent lesions, deterministic datasets."""

import hashlib

import numpy as np
import pytest

from sr_core.data.layout import read_test_gt, read_test_list
from sr_core.data.phantoms import LESION_KINDS, make_phantom, write_phantom_dataset


def _box_mean(image, box):
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float(image[y0:y1, x0:x1].mean())


@pytest.mark.parametrize("index", range(len(LESION_KINDS)))
def test_phantom_is_a_unit_range_image_with_a_box_inside(index):
    image, boxes = make_phantom(index, 96, np.random.default_rng(index))
    assert image.shape == (96, 96) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96


def test_lesion_changes_the_image_inside_its_box():
    # Same random draws for a mass and a nodule except the lesion: the box region differs.
    mass, (mass_box,) = make_phantom(4, 128, np.random.default_rng(3))
    pneumothorax, (ptx_box,) = make_phantom(7, 128, np.random.default_rng(3))
    nodule, _ = make_phantom(5, 128, np.random.default_rng(3))
    assert _box_mean(mass, mass_box) > _box_mean(nodule, mass_box) + 0.05  # a bright blob
    assert _box_mean(pneumothorax, ptx_box) < _box_mean(nodule, ptx_box) - 0.05  # a dark region


def test_cardiomegaly_box_is_larger_than_a_nodule_box():
    _, (heart,) = make_phantom(1, 128, np.random.default_rng(0))
    _, (nodule,) = make_phantom(5, 128, np.random.default_rng(0))
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert area(heart) > 20 * area(nodule)


def test_phantom_is_deterministic_for_a_seed():
    a, boxes_a = make_phantom(2, 64, 11)
    b, boxes_b = make_phantom(2, 64, 11)
    c, _ = make_phantom(2, 64, 12)
    assert np.array_equal(a, b) and boxes_a == boxes_b
    assert not np.array_equal(a, c)


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_phantom_dataset_has_the_full_layout_and_is_reproducible(tmp_path):
    names = ["Alpha", "Beta", "Gamma"]
    written = write_phantom_dataset(tmp_path / "a", 3, 48, seed=5, class_names=names, n_test_per_class=2,
                                    n_val_per_class=1)
    write_phantom_dataset(tmp_path / "b", 3, 48, seed=5, class_names=names, n_test_per_class=2,
                          n_val_per_class=1)
    assert written == {"train": 9, "val": 3, "test": 6}
    for split, count in [("train", 3), ("val", 1), ("test", 2)]:
        assert sorted(p.name for p in (tmp_path / "a" / split).iterdir()) == names
        assert all(len(list((tmp_path / "a" / split / n).glob("*.png"))) == count for n in names)
    rows, problems = read_test_list(tmp_path / "a" / "test_list.txt")
    gt, gt_problems = read_test_gt(tmp_path / "a" / "test_gt.txt")
    assert problems == [] and gt_problems == [] and len(rows) == 6
    assert all((r.finding, r.file) in gt and gt[(r.finding, r.file)].width == 48 for r in rows)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_phantom_dataset_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        write_phantom_dataset(tmp_path, 1, 32)


def test_cli_writes_and_checks_a_phantom_dataset(tmp_path, capsys):
    from sr_core.cli.data import main

    assert main(["phantoms", "--out", str(tmp_path / "p"), "--per-class", "2", "--size", "32",
                 "--findings", "A,B"]) == 0
    assert main(["check", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    assert "train: 4 images in 2 classes" in printed and "test_gt.txt: 4 boxes on 4 images" in printed
    with open(tmp_path / "p" / "test_gt.txt", "a") as handle:
        handle.write("A/broken.png 32;1 2 3 4\n")
    assert main(["check", str(tmp_path / "p")]) == 1
    assert "test_gt.txt:5" in capsys.readouterr().out
