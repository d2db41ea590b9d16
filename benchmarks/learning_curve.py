"""How fast does the AUC grow with the labels? A learning curve's slope, with a bootstrap interval.

`benchmarks/data_curve.sh` trains a recipe on a quarter, a half and all of the training patients
(`data.train_fraction`, a few seeds each) and scores every run on both halves of nih-val. This
reads those runs' sr-core-eval folders and fits the mean one-vs-rest AUC against log2 of the
share of labels (least squares over the three shares): the slope is the AUC a doubling of the
labelled images adds. Extrapolated at that slope from the fitted full-data AUC, it says how many
times today's labels a target AUC (--target, 0.70 as in issue #14) would take.

The interval resamples both what varies between reruns: the images of each half (with
replacement, the same draw for every run, as in benchmarks/bootstrap.py) and the seeds of each
share (with replacement). Each half is fitted on its own draw and the two halves' curves are
averaged, so the figure is the mean of the selection and the report half. The extrapolation
assumes the curve stays straight in log2(labels), which three points cannot test; a bent curve
(each doubling worth less) needs more labels than this says.

    bash benchmarks/data_curve.sh OUT            # then, per recipe:
    tar -xf OUT/curve.tar -C /tmp
    python benchmarks/learning_curve.py /tmp/curve/nano --variant nano_distill_sr

The runs are `VARIANT_sSEED` (all labels) and `VARIANT_fSHARE_sSEED` in the ablation folder,
each with `eval` (selection half) and `eval_report` (report half) as benchmarks/ablation.py
writes them. Each run's AUC recomputed from report.csv is checked against its report.json.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bootstrap import AUC, BootstrapError, check, design, mean_aucs, read_rows, reported_figures  # noqa: E402

HALVES = ("eval", "eval_report")


def find_runs(folder: Path, variant: str) -> dict[float, list[Path]]:
    """{share of the labels: run folders} of one variant in an ablation folder."""
    pattern = re.compile(rf"{re.escape(variant)}(?:_f(?P<share>[0-9.]+))?_s(?P<seed>\d+)")
    runs: dict[float, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.fullmatch(path.name)
        if match and path.is_dir():
            runs.setdefault(float(match["share"] or 1.0), []).append(path)
    if len(runs) < 2:
        raise BootstrapError(f"{folder}: runs of {variant!r} at fewer than two shares of the labels ({sorted(runs)})")
    return dict(sorted(runs.items()))


def half_aucs(runs: dict[float, list[Path]], half: str, weights_of) -> dict[float, np.ndarray]:
    """{share: (seeds, resamples + 1) mean AUCs} on one half; column 0 is the images as they are."""
    keys = images = None
    out: dict[float, np.ndarray] = {}
    for share, folders in runs.items():
        rows_of_share = []
        for run in folders:
            folder = run / half
            rows, probabilities = read_rows(folder)
            if keys is None:
                keys = sorted(rows)
                images, findings, image_of, finding_of = design(keys)
                labels = np.zeros((len(images), len(findings)))
                labels[image_of, finding_of] = 1
                weights = np.vstack([np.ones((1, len(images))), weights_of(len(images))])
            elif sorted(rows) != keys:
                raise BootstrapError(f"{folder}: its rows are not those of the other runs' {half} (another split?)")
            try:
                scores = np.array([[probabilities[image][f] for f in findings] for image in images])
            except KeyError as exc:
                raise BootstrapError(f"{folder / 'report.csv'}: no probability for {exc}") from None
            aucs = mean_aucs(scores, labels, weights)
            check(folder, "mean AUC", aucs[0], reported_figures(folder)[AUC], 1e-3)
            rows_of_share.append(aucs)
        out[share] = np.stack(rows_of_share)
    return out


def fit(shares: np.ndarray, aucs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line of AUC against log2(share), for each column of `aucs` (shares x fits):
    (slope per doubling, fitted AUC at share 1)."""
    x = np.log2(shares)
    xc = x - x.mean()
    slope = xc @ (aucs - aucs.mean(axis=0)) / (xc @ xc)
    return slope, aucs.mean(axis=0) - slope * x.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="an ablation folder of benchmarks/data_curve.sh")
    parser.add_argument("--variant", required=True, help="the recipe's variant name at full data, e.g. cam")
    parser.add_argument("--target", type=float, default=0.70)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    def image_weights(n: int) -> np.ndarray:
        return rng.multinomial(n, np.full(n, 1 / n), size=args.resamples)

    try:
        runs = find_runs(args.folder, args.variant)
        halves = [half_aucs(runs, half, image_weights) for half in HALVES]
    except (BootstrapError, OSError) as exc:
        sys.exit(f"learning_curve: {exc}")
    shares = np.array(list(runs))
    # Seeds drawn with replacement within each share, the same draw on both halves (a run is one model).
    draws = {s: rng.integers(0, len(runs[s]), size=(args.resamples, len(runs[s]))) for s in runs}
    curves = []  # (shares, resamples + 1) mean over both halves; column 0 = as measured
    for s in runs:
        per_half = []
        for aucs in halves:
            measured = aucs[s][:, 0].mean()
            picked = aucs[s][draws[s], np.arange(1, args.resamples + 1)[:, None]].mean(axis=1)
            per_half.append(np.concatenate([[measured], picked]))
        curves.append(np.mean(per_half, axis=0))
    curves = np.stack(curves)
    slope, full = fit(shares, curves)
    check_slope, check_full = np.polyfit(np.log2(shares), curves[:, 0], 1)  # the closed form against numpy's
    if not (np.isclose(slope[0], check_slope, atol=1e-9) and np.isclose(full[0], check_full, atol=1e-9)):
        raise AssertionError(f"least squares {slope[0]}, {full[0]} against polyfit {check_slope}, {check_full}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        doublings = np.where(slope > 0, (args.target - full) / slope, np.inf)
        times = np.power(2.0, np.clip(doublings, 0, None))

    def interval(values: np.ndarray, fmt: str) -> str:
        low, high = np.percentile(values[1:], [2.5, 97.5])
        return f"{values[0]:{fmt}} ({low:{fmt}} to {high:{fmt}})"

    print(f"{args.folder} {args.variant}: mean AUC of the selection and report halves; "
          f"{args.resamples} resamples of images and seeds (seed {args.seed}); 95% percentile intervals\n")
    print("| share of the labels | runs | selection AUC | report AUC | mean AUC |\n|---:|---:|---:|---:|---:|")
    for i, s in enumerate(runs):
        sel, rep = (h[s][:, 0] for h in halves)
        print(f"| {s:g} | {len(runs[s])} | {sel.mean():.3f} ({sel.min():.3f}-{sel.max():.3f}) | "
              f"{rep.mean():.3f} ({rep.min():.3f}-{rep.max():.3f}) | {interval(curves[i], '.3f')} |")
    above = np.mean(slope[1:] > 0)
    print(f"\nAUC a doubling of the labels adds: {interval(slope, '+.3f')}, above 0 in {above:.0%} of resamples")
    print(f"fitted AUC with all labels: {interval(full, '.3f')}")
    finite = np.isfinite(times[1:])
    low, mid, high = np.percentile(np.where(finite, times[1:], np.inf), [2.5, 50, 97.5], method="nearest")
    print(f"labels for AUC {args.target:.2f} at that slope: {times[0]:.1f}x today's "
          f"(95% interval {low:.1f}x to {'no end' if not np.isfinite(high) else f'{high:.0f}x'}; "
          f"median {mid:.1f}x; {np.mean(~finite):.0%} of resamples never get there)")


if __name__ == "__main__":
    main()
