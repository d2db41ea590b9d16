"""How sure are the GT-known figures? A paired bootstrap over the images of one evaluated split.

Every figure in the model card is a class mean over ~200 (image, finding) rows of ~175 images,
some findings with a dozen rows. This resamples the images (with all their rows) and recomputes
each report's class-mean GT-known accuracy at IoU > 0.1 / 0.3 / 0.5 from its own rows, and a
model's mean one-vs-rest AUC between the findings (from report.csv's p_<finding> columns), so
every report is scored on the same resampled images: 95% intervals for each figure, and for each
report against the first one (e.g. a model against the class-prior box) the difference, its
interval and how often it is above zero.

    sr-core-eval --baseline class-prior --prior-from .data/layouts/select/test_gt.txt \
        --data .data/layouts/report --out eval/prior
    sr-core-eval --weights resources/weights/sr_efficientnet_lite0.safetensors \
        --data .data/layouts/report --out eval/lite0
    python benchmarks/bootstrap.py prior=eval/prior lite0=eval/lite0 [--resamples 10000]

Each NAME=DIR is an sr-core-eval output folder (its report.csv and report.json). The point
estimates are recomputed from report.csv and checked against the report.json beside it, and
every report must hold the same rows (one split), or the script stops with a one-line message.
The weighted formulas are checked on every run against the first resamples drawn out
explicitly (their rows repeated, scored as sr-core-eval scores them). A baseline has no AUC.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sr_core.evaluation.metrics.classification import classification_report  # noqa: E402

IOUS = ("0.1", "0.3", "0.5")
AUC = "AUC"


class BootstrapError(ValueError):
    """A report that cannot be read or compared; one line."""


def read_rows(folder: Path) -> tuple[dict[tuple[str, str], float], dict[str, dict[str, float]]]:
    """{(image, finding): best IoU} of an sr-core-eval folder's report.csv, and {image: {finding:
    probability}} from its p_<finding> columns (empty for a baseline)."""
    path = folder / "report.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            table = list(csv.DictReader(handle))
        rows = {(r["image"], r["finding"]): float(r["best_iou"]) for r in table}
        probabilities = {r["image"]: {k[2:]: float(v) for k, v in r.items() if k.startswith("p_")}
                         for r in table if any(k.startswith("p_") for k in r)}
    except (OSError, KeyError, ValueError) as exc:
        raise BootstrapError(f"{path}: not an sr-core-eval report.csv ({exc})") from None
    if not rows:
        raise BootstrapError(f"{path}: no rows")
    return rows, probabilities


def reported_figures(folder: Path) -> dict[str, float | None]:
    """report.json's class means at IOUS and its mean AUC (None without a classifier)."""
    path = folder / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        figures = {t: float(report["gt_known"]["iou"][t]["class_mean"]) for t in IOUS}
        classification = report.get("classification") or {}
        figures[AUC] = None if classification.get("auc_mean") is None else float(classification["auc_mean"])
        return figures
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


def mean_aucs(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean one-vs-rest AUC over the findings for each row of `weights` (resamples x images).

    The AUC of a resample (images drawn with repetition) is the weighted Mann-Whitney statistic,
    ties counted a half, as `classification_report` computes it on the drawn images; a finding
    without positives or negatives in a resample is left out of its mean, as there."""
    per_class = []
    for c in range(scores.shape[1]):
        pos, neg = labels[:, c] == 1, labels[:, c] == 0
        if not pos.any() or not neg.any():
            continue
        s_pos, s_neg = scores[pos, c], scores[neg, c]
        wins = (s_pos[:, None] > s_neg[None, :]) + 0.5 * (s_pos[:, None] == s_neg[None, :])
        w_pos, w_neg = weights[:, pos], weights[:, neg]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class.append(((w_pos @ wins) * w_neg).sum(axis=1) / (w_pos.sum(axis=1) * w_neg.sum(axis=1)))
    return np.nanmean(np.stack(per_class, axis=1), axis=1)


def check_resamples(hits: np.ndarray, scores: np.ndarray | None, labels: np.ndarray, image_of: np.ndarray,
                    finding_of: np.ndarray, weights: np.ndarray, findings: list[str], count: int = 3) -> None:
    """The weighted class mean and AUC of the first `count` resamples against the same resamples
    drawn out: rows repeated, the class mean over the repeated rows, `classification_report`'s AUC."""
    for w in weights[:count]:
        rows = np.concatenate([np.flatnonzero(image_of == i).repeat(n) for i, n in enumerate(w)])
        per_class = [hits[rows][finding_of[rows] == c].mean() for c in range(len(findings)) if (finding_of[rows] == c).any()]
        fast = class_means(hits, image_of, finding_of, w[None], len(findings))[0]
        if not np.isclose(fast, np.mean(per_class), rtol=0, atol=1e-12):
            raise AssertionError(f"weighted class mean {fast} against {np.mean(per_class)} drawn out")
        if scores is not None:
            images = np.repeat(np.arange(len(w)), w)
            slow = classification_report(scores[images], labels[images].astype(int), findings)["auc_mean"]
            fast = mean_aucs(scores, labels, w[None])[0]
            if not np.isclose(fast, slow, rtol=0, atol=1e-12):
                raise AssertionError(f"weighted AUC {fast} against {slow} drawn out")


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
        tables = [(name, folder, *read_rows(folder)) for name, folder in named]
        keys = sorted(tables[0][2])
        for name, folder, rows, _ in tables[1:]:
            if sorted(rows) != keys:
                raise BootstrapError(f"{folder}: its rows are not those of {tables[0][1]} (another split?)")
        images, findings, image_of, finding_of = design(keys)
        rng = np.random.default_rng(args.seed)
        weights = rng.multinomial(len(images), np.full(len(images), 1 / len(images)), size=args.resamples)
        identity = np.ones((1, len(images)))
        results = {}
        labels = np.zeros((len(images), len(findings)))
        labels[image_of, finding_of] = 1
        for name, folder, rows, probabilities in tables:
            best = np.array([rows[k] for k in keys])
            reported = reported_figures(folder)
            results[name] = {}
            for t in IOUS:
                hits = (best > float(t)).astype(np.float64)
                check_resamples(hits, None, labels, image_of, finding_of, weights, findings)
                point = class_means(hits, image_of, finding_of, identity, len(findings))[0]
                check(folder, f"GT-known IoU>{t}", point, reported[t], 1e-5)  # report.json keeps 6 digits
                results[name][t] = (point, class_means(hits, image_of, finding_of, weights, len(findings)))
            if probabilities:
                try:
                    scores = np.array([[probabilities[image][f] for f in findings] for image in images])
                except KeyError as exc:
                    raise BootstrapError(f"{folder / 'report.csv'}: no probability for {exc}") from None
                check_resamples(hits, scores, labels, image_of, finding_of, weights, findings)
                point = mean_aucs(scores, labels, identity)[0]
                check(folder, "mean AUC", point, reported[AUC], 1e-3)  # probabilities kept to 6 digits
                results[name][AUC] = (point, mean_aucs(scores, labels, weights))
    except BootstrapError as exc:
        sys.exit(f"bootstrap: {exc}")
    print(f"{len(keys)} rows of {len(images)} images, {len(findings)} findings; {args.resamples} resamples of the "
          f"images (seed {args.seed}); 95% percentile intervals\n")
    columns = [*IOUS, AUC]
    header = "| report | " + " | ".join(c if c == AUC else f"IoU>{c}" for c in columns) + " |\n|---|" + "---|" * len(columns)
    print(header)
    for name, figures in results.items():
        cells = [f"{figures[c][0]:.3f} ({np.percentile(figures[c][1], 2.5):.3f}-{np.percentile(figures[c][1], 97.5):.3f})"
                 if c in figures else "-" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    reference = tables[0][0]
    print(f"\nAgainst {reference}: difference (95% interval), and the share of resamples where it is above 0\n")
    print(header)
    for name, figures in list(results.items())[1:]:
        cells = []
        for c in columns:
            if c not in figures or c not in results[reference]:
                cells.append("-")
                continue
            point = figures[c][0] - results[reference][c][0]
            diff = figures[c][1] - results[reference][c][1]
            cells.append(f"{point:+.3f} ({np.percentile(diff, 2.5):+.3f} to {np.percentile(diff, 97.5):+.3f}), "
                         f"{np.mean(diff > 0):.0%} above 0")
        print(f"| {name} | " + " | ".join(cells) + " |")


def check(folder: Path, what: str, point: float, reported: float | None, tolerance: float) -> None:
    """The figure recomputed from report.csv must be report.json's."""
    if reported is None or abs(point - reported) > tolerance:
        raise BootstrapError(f"{folder}: report.csv gives {what} {point:.4f}, report.json {reported}")


if __name__ == "__main__":
    main()
