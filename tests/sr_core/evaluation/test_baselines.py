"""The class-prior box baseline on hand-built layouts with hand-computed numbers, through
the Python function and sr-core-eval, and on the real NIH boxes."""

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from sr_core.evaluation.baselines import class_prior_report
from sr_core.cli.common import rounded
from sr_core.cli.eval import main as eval_main

# Mass: a.png 100x100 with (0,0,20,20) -> (0, 0, .2, .2); b.png 200x100 with (40,20,120,60)
#   -> (.2, .2, .6, .6). Mean box (.1, .1, .4, .4): x .1, y .1, w .3, h .3.
#   On a: (10,10,40,40) against (0,0,20,20): inter 100, union 900+400-100 -> IoU 1/12, IoBB 1/9.
#   On b: (20,10,80,40) against (40,20,120,60): inter 800, union 1800+3200-800 -> IoU 4/21, IoBB 4/9.
# Nodule: c.png 100x100 with two boxes (10,10,20,20), (50,50,70,70): each box votes, mean
#   (.3, .3, .45, .45) -> (30,30,45,45), which meets neither box: a miss everywhere.
GT_LINES = [
    "Mass/a.png 100 100;0 0 20 20",
    "Mass/b.png 200 100;40 20 120 60",
    "Nodule/c.png 100 100;10 10 20 20",
    "Nodule/c.png 100 100;50 50 70 70",
]


def write_layout(root, split="test", gt_lines=GT_LINES):
    """ROOT/<split>/<Finding>/<file> (tiny real PNGs), <split>_list.txt and <split>_gt.txt."""
    files = list(dict.fromkeys(line.split()[0] for line in gt_lines))
    for relpath in files:
        (root / split / relpath).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / relpath), np.zeros((8, 8), np.uint8))
    (root / f"{split}_list.txt").write_text("".join(f"{f};{f.split('/')[0]}\n" for f in files))
    (root / f"{split}_gt.txt").write_text("".join(line + "\n" for line in gt_lines))
    return root


@pytest.fixture
def layout(tmp_path):
    return write_layout(tmp_path / "data")


def test_mean_box_per_finding_and_its_accuracy_by_hand(layout):
    report = class_prior_report(layout)
    boxes = report["prior"]["boxes"]
    assert boxes["Mass"] == pytest.approx({"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3, "n_boxes": 2})
    assert boxes["Nodule"] == pytest.approx({"x": 0.3, "y": 0.3, "w": 0.15, "h": 0.15, "n_boxes": 2})
    iou, iobb = report["gt_known"]["iou"], report["gt_known"]["iobb"]
    # IoU 1/12 (a) misses 0.1, 4/21 (b) hits; nothing reaches 0.3.
    assert iou["0.1"]["per_class"] == {"Mass": 0.5, "Nodule": 0.0}
    assert iou["0.1"]["class_mean"] == 0.25 and iou["0.1"]["image_mean"] == pytest.approx(1 / 3)
    assert iou["0.3"]["class_mean"] == 0.0 and iou["0.5"]["class_mean"] == 0.0
    # IoBB 1/9 and 4/9: both over 0.1, only b over 0.25, neither over 0.5.
    assert iobb["0.1"]["per_class"] == {"Mass": 1.0, "Nodule": 0.0}
    assert iobb["0.1"]["image_mean"] == pytest.approx(2 / 3)
    assert iobb["0.25"]["per_class"]["Mass"] == 0.5 and iobb["0.5"]["per_class"]["Mass"] == 0.0
    assert report["n_records"] == 3 and report["n_images"] == 3 and report["counts"] == {"Mass": 2, "Nodule": 1}


def test_what_needs_a_classifier_or_maps_is_not_applicable(layout):
    report = class_prior_report(layout)
    for key in ("classification", "top1_loc", "maxboxacc_v2", "best_thresholds", "threshold", "box_mode",
                "weights"):
        assert report[key] is None, key
    assert report["baseline"] == "class-prior" and report["split"] == "test" and report["prior"]["from"] is None
    assert json.loads(json.dumps(report)) == report


def test_prior_from_another_box_file(layout, tmp_path):
    # Mass prior (0, 0, .2, .2): exactly a's box, nowhere near b's. Nodule prior (.5, .5, .7, .7):
    # exactly c's second box, in a 200x50 image of the prior file (normalised by its own size).
    prior = tmp_path / "prior_gt.txt"
    prior.write_text("Mass/z.png 50 50;0 0 10 10\nNodule/y.png 200 50;100 25 140 35\n")
    report = class_prior_report(layout, prior_from=prior)
    assert report["prior"]["boxes"]["Nodule"] == pytest.approx({"x": 0.5, "y": 0.5, "w": 0.2, "h": 0.2, "n_boxes": 1})
    block = report["gt_known"]["iou"]["0.5"]
    assert block["per_class"] == {"Mass": 0.5, "Nodule": 1.0}
    assert block["class_mean"] == 0.75 and block["image_mean"] == pytest.approx(2 / 3)
    assert report["prior"]["from"] == str(prior) and "prior_gt.txt" in report["source"]


def test_cli_writes_the_model_report_files_and_table(layout, tmp_path, capsys):
    out = tmp_path / "eval"
    assert eval_main(["--baseline", "class-prior", "--data", str(layout), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report == rounded(class_prior_report(layout))  # report.json keeps 6 significant digits
    with open(out / "report.csv", newline="") as fh:
        rows = {row["image"]: row for row in csv.DictReader(fh)}
    assert float(rows["a.png"]["best_iou"]) == pytest.approx(1 / 12)
    assert float(rows["b.png"]["best_iou"]) == pytest.approx(4 / 21)
    assert float(rows["b.png"]["best_iobb"]) == pytest.approx(4 / 9)
    assert json.loads(rows["b.png"]["pred_boxes"]) == [[20.0, 10.0, 80.0, 40.0]]
    assert rows["a.png"]["probability"] == "" and rows["a.png"]["top1"] == ""
    assert not any(k.startswith("p_") for k in rows["a.png"])  # no classifier, no probability columns
    assert (out / "iou_histograms.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "accuracy_vs_threshold.png").exists()  # no maps, no threshold curves
    printed = capsys.readouterr().out
    assert "class-prior vs Wang et al. 2017" in printed and "classification: not applicable" in printed
    mass = next(line for line in printed.splitlines() if line.startswith("Mass"))
    assert mass.split()[1:4] == ["2", "1.000", "0.435"]  # IoBB 0.1: ours beside Wang et al.


def test_same_report_shape_as_a_scored_model_and_side_by_side(layout, tmp_path, capsys):
    # A "model" from a predictions file: GT box on a and c, nothing on b.
    preds = tmp_path / "preds.jsonl"
    lines = [("a.png", 100, 100, "Mass", [[0, 0, 20, 20]]), ("b.png", 200, 100, "Mass", []),
             ("c.png", 100, 100, "Nodule", [[50, 50, 70, 70]])]
    records = [{"image": name, "width": w, "height": h,
                "findings": [{"label": label, "probability": 0.9, "boxes": boxes}]}
               for name, w, h, label, boxes in lines]
    preds.write_text("".join(json.dumps(record) + "\n" for record in records))
    model, baseline = tmp_path / "model", tmp_path / "baseline"
    assert eval_main(["--baseline", "class-prior", "--data", str(layout), "--out", str(baseline)]) == 0
    assert eval_main(["--predictions", str(preds), "--data", str(layout), "--out", str(model),
                      "--compare", str(baseline / "report.json")]) == 0
    a = json.loads((model / "report.json").read_text())
    b = json.loads((baseline / "report.json").read_text())
    assert set(b) - set(a) == {"prior"} and set(a) <= set(b)
    assert a["gt_known"].keys() == b["gt_known"].keys()
    for kind in ("iou", "iobb"):
        assert a["gt_known"][kind].keys() == b["gt_known"][kind].keys()
    printed = capsys.readouterr().out
    assert "preds.jsonl vs class-prior" in printed  # each column headed by its report's name
    side = printed.split("preds.jsonl vs class-prior")[1]
    mass = next(line for line in side.splitlines() if line.startswith("Mass"))
    # T(IoBB)0.1, T(IoU)0.1, 0.3, 0.5: model (a hit, b missed) 0.5 everywhere; baseline 1, .5, 0, 0.
    assert mass.split()[2:] == ["0.500", "1.000", "0.500", "0.500", "0.500", "0.000", "0.500", "0.000"]


def test_another_split_with_its_own_files(tmp_path):
    root = write_layout(tmp_path / "data", split="val")
    out = tmp_path / "eval"
    assert eval_main(["--baseline", "class-prior", "--data", str(root), "--split", "val", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["split"] == "val" and report["gt_known"]["iou"]["0.1"]["class_mean"] == 0.25


def test_errors_are_one_line_and_name_the_problem(layout, tmp_path, capsys):
    prior = tmp_path / "mass_only_gt.txt"
    prior.write_text("Mass/z.png 50 50;0 0 10 10\n")
    cases = [
        (["--prior-from", str(prior)], 1, "mass_only_gt.txt: the class prior has no box of Nodule"),
        (["--prior-from", str(tmp_path / "absent.txt")], 1, "absent.txt not found"),
        (["--split", "val"], 1, "val_list.txt not found"),
        (["--weights", "w.safetensors"], 2, "usage error: --baseline scores no model: drop --weights"),
        (["--compare", str(prior)], 1, "mass_only_gt.txt: not an sr-core-eval report.json"),
    ]
    for extra, status, message in cases:
        argv = ["--baseline", "class-prior", "--data", str(layout), "--out", str(tmp_path / "o"), *extra]
        assert eval_main(argv) == status, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sr-core-eval: ") and message in err[0], err
    assert eval_main(["--prior-from", str(prior), "--data", str(layout)]) == 2
    assert "--prior-from goes with --baseline" in capsys.readouterr().err


def test_baseline_runs_without_torch(layout, tmp_path):
    argv = ["--baseline", "class-prior", "--data", str(layout), "--out", str(tmp_path / "o")]
    code = (f"import sys; from sr_core.cli.eval import main; assert main({argv!r}) == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_on_the_real_nih_boxes(nih_import_64):
    status, root = nih_import_64
    assert status == 0
    report = class_prior_report(root)
    assert report["n_records"] == 394 and report["n_images"] == 351
    assert sum(box["n_boxes"] for box in report["prior"]["boxes"].values()) == 394
    iou = report["gt_known"]["iou"]
    # The heart sits where hearts sit: the mean Cardiomegaly box finds nearly every one.
    assert iou["0.1"]["per_class"]["Cardiomegaly"] > 0.9
    assert iou["0.1"]["class_mean"] > iou["0.3"]["class_mean"] > iou["0.5"]["class_mean"]
    # Every row is usable, so fitting on the rows is fitting on the whole box file.
    assert class_prior_report(root, prior_from=root / "test_gt.txt")["gt_known"] == report["gt_known"]


def test_whole_image_box_by_hand(layout, tmp_path, capsys):
    # a: (0,0,100,100) against (0,0,20,20): IoU 400/10000 = 0.04; b: (0,0,200,100) against
    # (40,20,120,60): 3200/20000 = 0.16; c: the bigger of its boxes, 400/10000 = 0.04.
    assert eval_main(["--baseline", "whole-image", "--data", str(layout), "--out", str(tmp_path / "w"),
                      "--no-progress"]) == 0
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert report["baseline"] == "whole-image"
    assert report["gt_known"]["iou"]["0.1"]["per_class"] == {"Mass": 0.5, "Nodule": 0.0}
    assert report["gt_known"]["iou"]["0.3"]["class_mean"] == 0.0
    rows = list(csv.DictReader(open(tmp_path / "w" / "report.csv")))
    assert sorted(float(r["best_iou"]) for r in rows) == pytest.approx([0.04, 0.04, 0.16])
    assert eval_main(["--baseline", "whole-image", "--prior-from", str(layout / "test_gt.txt"),
                      "--data", str(layout), "--out", str(tmp_path / "x"), "--no-progress"]) == 1
    assert "--prior-from goes with --baseline class-prior" in capsys.readouterr().err
