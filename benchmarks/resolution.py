"""Does a weights file see a full-resolution film as it sees the 256 px copy it was scored on?

Every GT-known figure in the model cards comes from nih-val's 256 px PNG copies, while users
open NIH's 1024 px films (and larger). The Predictor resizes both to the file's input size, so
a 1024 px film is reduced to it and a 256 px copy enlarged (288 px for the default since
session 10): the two inputs differ in sharpness. nih-demo holds 8 of nih-val's films at their
full 1024 px, so the same film can be run both ways. For each weights file this prints how far
the two predictions agree, as the file ships (its flip, its location prior, its per-finding
thresholds):

* the maps: Pearson correlation of each finding's map at the model's resolution (both inputs
  give the same grid), over every finding of every film;
* the probabilities: mean and largest absolute difference, and how often the top finding is
  the same;
* the boxes: each finding's largest-component box at the file's threshold for it, from the
  film and from the copy (scaled to the film's frame): their IoU, and the share above 0.5;
* against the film's GT boxes (nih-val's CSV, 1024 px frame): how many GT rows each input hits
  at IoU > 0.1 and 0.3 (10 rows: far too few to rank files, a sanity check only).

The same figures for the copy with uniform noise of +-0.5 grey levels (--noise) added give the
file's own noise floor: how much agreement any input change that small costs it, which the
film's row should be read against.

    python benchmarks/resolution.py --weights resources/weights/sr_efficientnet_lite0.safetensors \
        resources/weights/sr_vmamba_nano_distilled.safetensors [--data ../shared/data] [--noise 0.5]

CPU, a few seconds a file. No image name or patient identifier is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.data.layout import read_bbox_list_csv  # noqa: E402
from sr_core.evaluation.metrics.overlap import iou  # noqa: E402
from sr_core.io import read_image  # noqa: E402
from sr_core.predict import Predictor  # noqa: E402



def gt_rows(csv_path: Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """{image: [(finding, (x0, y0, x1, y1))]} from an official BBox_List CSV (1024 px frame)."""
    rows, problems = read_bbox_list_csv(csv_path)
    if problems:
        raise ValueError(problems[0])
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row.image, []).append((row.finding, row.box))
    return out


def largest_box(prediction, finding: str, scale: tuple[float, float] = (1.0, 1.0)):
    """The finding's largest-component box at the file's threshold for it, x and y times
    `scale`, or None."""
    boxes = prediction.boxes(finding=finding)
    if not boxes:
        return None
    x0, y0, x1, y1 = boxes[0]
    return x0 * scale[0], y0 * scale[1], x1 * scale[0], y1 * scale[1]


class Agreement:
    """How far the predictions of one kind of input agree with the copy's, over the films."""

    def __init__(self):
        self.corr: list[float] = []
        self.dp: list[np.ndarray] = []
        self.top_same = 0
        self.box_iou: list[float] = []
        self.box_missing = 0
        self.hits = {0.1: 0, 0.3: 0}

    def add(self, pred, copy, scale: tuple[float, float], to_film: tuple[float, float], gt_boxes) -> None:
        """pred: this input's prediction, its boxes times `scale` in the film's frame; copy: the
        copy's, its boxes times `to_film`."""
        findings = list(copy.probabilities)
        self.dp.append(np.abs(np.array([pred.probabilities[f] - copy.probabilities[f] for f in findings])))
        self.top_same += pred.top_finding == copy.top_finding
        for f in findings:
            a, b = pred.small_maps[f].ravel(), copy.small_maps[f].ravel()
            self.corr.append(float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan"))
            box_a, box_c = largest_box(pred, f, scale), largest_box(copy, f, to_film)
            if box_a is None or box_c is None:
                self.box_missing += 1
            else:
                self.box_iou.append(iou(box_a, box_c))
        for finding, box in gt_boxes:
            b = largest_box(pred, finding, scale)
            for t in self.hits:
                self.hits[t] += b is not None and iou(b, box) > t

    def row(self, films: int) -> str:
        corr = np.array(self.corr)
        corr = corr[np.isfinite(corr)]
        dp, boxes = np.concatenate(self.dp), np.array(self.box_iou)
        return (f"{corr.mean():.3f} ({np.percentile(corr, 10):.3f}) | {self.top_same}/{films} | "
                f"{dp.mean():.3f} / {dp.max():.3f} | {np.median(boxes):.2f} ({np.mean(boxes > 0.5):.0%}; "
                f"{self.box_missing} without a box) | {self.hits[0.1]} / {self.hits[0.3]}")


def compare(weights: Path, pairs: list[tuple[str, Path, Path]], gt: dict, noise: float, seed: int):
    """(input size, detail size, {"film": Agreement, "noise": Agreement}, GT hits of the copies,
    GT rows)."""
    predictor = Predictor.from_weights(weights, device="cpu")
    rng = np.random.default_rng(seed)
    kinds = {"film": Agreement(), "noise": Agreement()}
    copy_hits, n_gt = {0.1: 0, 0.3: 0}, 0
    for name, film_path, copy_path in pairs:
        film_image, copy_image = read_image(film_path), read_image(copy_path)
        to_film = (film_image.width / copy_image.width, film_image.height / copy_image.height)
        noisy = copy_image.pixels + rng.uniform(-noise, noise, copy_image.pixels.shape).astype(np.float32)
        noisy_image = dataclasses.replace(copy_image, pixels=np.clip(noisy, 0.0, 1.0))
        copy = predictor.predict(copy_image)
        gt_boxes = gt.get(name, [])
        kinds["film"].add(predictor.predict(film_image), copy, (1.0, 1.0), to_film, gt_boxes)
        kinds["noise"].add(predictor.predict(noisy_image), copy, to_film, to_film, gt_boxes)
        n_gt += len(gt_boxes)
        for finding, box in gt_boxes:
            b = largest_box(copy, finding, to_film)
            for t in copy_hits:
                copy_hits[t] += b is not None and iou(b, box) > t
    return predictor.metadata.get("input_size"), predictor.metadata.get("detail_size"), kinds, copy_hits, n_gt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--noise", type=float, default=0.5, help="the noise floor's amplitude, in grey levels of 255")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    demo, val = args.data / "nih-demo", args.data / "nih-val"
    try:
        pairs = [(p.name, p, val / "images" / p.name) for p in sorted(demo.glob("*.png")) if (val / "images" / p.name).is_file()]
        gt = gt_rows(val / "BBox_List_2017_val.csv")
    except (OSError, ValueError, IndexError) as exc:
        sys.exit(f"resolution: {exc}")
    if not pairs:
        sys.exit(f"resolution: no film of {demo} has a copy in {val / 'images'}")
    print(f"{len(pairs)} nih-demo films (1024 px) against their nih-val copies (256 px), each file as shipped; "
          f"the noise floor: the copy with uniform noise of +-{args.noise:g} grey levels (seed {args.seed}); CPU\n")
    print("| weights | input px (detail) | against the copy | map correlation, mean (10th percentile) | "
          "top finding the same | mean / max abs. probability difference | box IoU with the copy's, median "
          "(share > 0.5) | GT rows hit at IoU>0.1 / 0.3 (the copy's) |")
    print("|---|---|---|---|---:|---|---|---|")
    for weights in args.weights:
        try:
            size, detail, kinds, copy_hits, n_gt = compare(weights, pairs, gt, args.noise / 255, args.seed)
        except (OSError, ValueError) as exc:  # WeightsError, unreadable images: one line
            sys.exit(f"resolution: {exc}")
        for kind, label in (("film", "the 1024 px film"), ("noise", "the copy + noise")):
            print(f"| {weights.name} | {size} ({detail or '-'}) | {label} | {kinds[kind].row(len(pairs))} "
                  f"({copy_hits[0.1]} / {copy_hits[0.3]}) of {n_gt} |")


if __name__ == "__main__":
    main()
