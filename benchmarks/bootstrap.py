"""How sure are the GT-known figures? A paired bootstrap over the images of one evaluated split.

Every figure in the model card is a class mean over ~200 (image, finding) rows of ~175 images,
some findings with a dozen rows. This resamples the images (with all their rows) and recomputes
each report's class-mean GT-known accuracy at IoU > 0.1 / 0.3 / 0.5 from its own rows, so every
report is scored on the same resampled images: 95% intervals for each figure, and for each report
against the first one (e.g. a model against the class-prior box) the difference, its interval and
how often it is above zero.

    sr-core-eval --baseline class-prior --prior-from .data/layouts/select/test_gt.txt \
        --data .data/layouts/report --out eval/prior
    sr-core-eval --weights resources/weights/sr_efficientnet_lite0.safetensors \
        --data .data/layouts/report --out eval/lite0
    python benchmarks/bootstrap.py prior=eval/prior lite0=eval/lite0 [--resamples 10000]

Each NAME=DIR is an sr-core-eval output folder (its report.csv and report.json). The point
estimates are recomputed from report.csv and checked against the report.json beside it, and
every report must hold the same rows (one split), or the script stops with a one-line message.
AUC is not resampled: report.csv keeps only the listed finding's probability.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

IOUS = ("0.1", "0.3", "0.5")


class BootstrapError(ValueError):
    """A report that cannot be read or compared; one line."""


def read_rows(folder: Path) -> dict[tuple[str, str], float]:
    """{(image, finding): best IoU} of an sr-core-eval folder's report.csv."""
    path = folder / "report.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = {(r["image"], r["finding"]): float(r["best_iou"]) for r in csv.DictReader(handle)}
    except (OSError, KeyError, ValueError) as exc:
        raise BootstrapError(f"{path}: not an sr-core-eval report.csv ({exc})") from None
    if not rows:
        raise BootstrapError(f"{path}: no rows")
    return rows


def reported_class_means(folder: Path) -> dict[str, float]:
    path = folder / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return {t: float(report["gt_known"]["iou"][t]["class_mean"]) for t in IOUS}
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise BootstrapError(f"{path}: not an sr-core-eval report.json ({exc})") from None


def design(keys: list[tuple[str, str]]) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Images, findings, row -> image index and row -> finding index, rows in `keys` order."""
    images = sorted({image for image, _ in keys})
    findings = sorted({finding for _, finding in keys})
    image_of = np.array([images.index(image) for image, _ in keys])
    finding_of = np.array([findings.index(finding) for _, finding in keys])
    return images, findings, image_of, finding_of


def class_means(hits: np.ndarray, image_of: np.ndarray, finding_of: np.ndarray, weights: np.ndarray,
                n_findings: int) -> np.ndarray:
    """Class-mean accuracy for each row of `weights` (resamples x images: how often each image is
    drawn): per finding, weighted hits over weighted rows, then the mean over the findings."""
    row_weights = weights[:, image_of]  # (resamples, rows)
    onehot = np.eye(n_findings)[finding_of]  # (rows, findings)
    found = (row_weights * hits) @ onehot
    count = row_weights @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = found / count
    return np.nanmean(per_class, axis=1)  # a finding no resampled image has is left out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", metavar="NAME=DIR", help="sr-core-eval output folders; the first is the reference")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        named = []
        for spec in args.reports:
            name, sep, folder = spec.partition("=")
            if not sep or not name or not folder:
                raise BootstrapError(f"expected NAME=DIR, got {spec!r}")
            named.append((name, Path(folder)))
        tables = [(name, folder, read_rows(folder)) for name, folder in named]
        keys = sorted(tables[0][2])
        for name, folder, rows in tables[1:]:
            if sorted(rows) != keys:
                raise BootstrapError(f"{folder}: its rows are not those of {tables[0][1]} (another split?)")
        images, findings, image_of, finding_of = design(keys)
        rng = np.random.default_rng(args.seed)
        weights = rng.multinomial(len(images), np.full(len(images), 1 / len(images)), size=args.resamples)
        identity = np.ones((1, len(images)))
        results = {}
        for name, folder, rows in tables:
            best = np.array([rows[k] for k in keys])
            reported = reported_class_means(folder)
            results[name] = {}
            for t in IOUS:
                hits = (best > float(t)).astype(np.float64)
                point = class_means(hits, image_of, finding_of, identity, len(findings))[0]
                if abs(point - reported[t]) > 1e-5:  # report.json keeps 6 digits
                    raise BootstrapError(f"{folder}: report.csv gives {point:.4f} at IoU>{t}, "
                                         f"report.json {reported[t]:.4f}")
                results[name][t] = (point, class_means(hits, image_of, finding_of, weights, len(findings)))
    except BootstrapError as exc:
        sys.exit(f"bootstrap: {exc}")
    print(f"{len(keys)} rows of {len(images)} images, {len(findings)} findings; {args.resamples} resamples of the "
          f"images (seed {args.seed}); 95% percentile intervals\n")
    print("| report | " + " | ".join(f"IoU>{t}" for t in IOUS) + " |")
    print("|---|" + "---|" * len(IOUS))
    for name, by_iou in results.items():
        cells = [f"{p:.3f} ({np.percentile(d, 2.5):.3f}-{np.percentile(d, 97.5):.3f})" for p, d in by_iou.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    reference = tables[0][0]
    print(f"\nAgainst {reference}: difference (95% interval), and the share of resamples where it is above 0\n")
    print("| report | " + " | ".join(f"IoU>{t}" for t in IOUS) + " |")
    print("|---|" + "---|" * len(IOUS))
    for name, by_iou in list(results.items())[1:]:
        cells = []
        for t in IOUS:
            point = by_iou[t][0] - results[reference][t][0]
            diff = by_iou[t][1] - results[reference][t][1]
            cells.append(f"{point:+.3f} ({np.percentile(diff, 2.5):+.3f} to {np.percentile(diff, 97.5):+.3f}), "
                         f"{np.mean(diff > 0):.0%} above 0")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
