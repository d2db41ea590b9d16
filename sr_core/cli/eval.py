"""sr-core-eval: the full localization and classification report on an NIH-layout test split,
or on a folder in NIH's official format (BBox_List_2017*.csv beside the images) read in place.

    sr-core-eval [--weights W] --data DIR [--split test] [--out DIR] [--threshold T]
                 [--predictions FILE.jsonl]
    sr-core-eval --baseline class-prior --data DIR [--split test] [--prior-from GT_FILE] [--out DIR]
    either form: [--compare OTHER/report.json]

Writes report.json, report.csv (a row per image and finding, with every finding's probability) and PNG plots (accuracy against
the map threshold, IoU histograms per finding) to --out, and prints our numbers beside the
published Wang et al. 2017 table. --predictions scores an sr-core-infer JSON-lines file (of
any model) instead of running ours. --baseline class-prior scores the mean GT box of each
finding (from the split itself, or from --prior-from) in the same report, without a model or
torch; what needs a classifier or maps is null there. --compare prints this run beside another
report.json (a model beside the baseline), each column headed by its weights' or baseline's
name. Numbers are written to 6 significant digits. On a terminal a progress bar runs on stderr
unless --quiet (--no-progress, its older name). Exit status: 0 done, 1 failed, 2 usage error.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sr_core.boxes import MODES
from sr_core.cli.common import (
    ArgumentParser, UsageError, check_threshold, fail, rounded, run_cli, show_progress, tool_parser, weights_or_default,
)

PROG = "sr-core-eval"


def build_parser() -> ArgumentParser:
    from sr_core.evaluation.baselines import BASELINES

    parser = tool_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="weights file; default: the bundled weights")
    parser.add_argument("--data", required=True,
                        help="NIH-layout folder (test/, test_list.txt, test_gt.txt), or a folder in NIH's official "
                        "format (BBox_List_2017*.csv beside the images, e.g. nih-val)")
    parser.add_argument("--split", default="test",
                        help="split with boxes: <split>_list.txt, <split>_gt.txt, <split>/ (default: test)")
    parser.add_argument("--out", default="eval", help="output folder (default: ./eval)")
    parser.add_argument("--threshold", type=float, help="map threshold; default: the weights' own per finding")
    parser.add_argument("--mode", choices=MODES, default="largest")
    parser.add_argument("--predictions", help="score this sr-core-infer JSON-lines file instead of running a model")
    parser.add_argument("--baseline", choices=BASELINES, help="score a box-only baseline instead of a model")
    parser.add_argument("--prior-from", help="with --baseline class-prior: take the mean boxes from this "
                        "test_gt.txt-style file (default: the evaluated split's own boxes)")
    parser.add_argument("--compare", metavar="REPORT_JSON",
                        help="also print this run beside another run's report.json (e.g. a baseline's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help="the same as --quiet")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    def parse() -> tuple:
        args = build_parser().parse_args(argv)
        check_threshold(args.threshold)
        if args.baseline:
            clashing = [flag for flag, value in (("--weights", args.weights), ("--predictions", args.predictions),
                                                 ("--threshold", args.threshold)) if value is not None]
            if clashing:
                raise UsageError(f"--baseline scores no model: drop {', '.join(clashing)}")
            return args, None
        if args.prior_from:
            raise UsageError("--prior-from goes with --baseline class-prior")
        return args, (None if args.predictions else weights_or_default(args.weights))

    return run_cli(PROG, parse, run)


def run(args, weights: Path | None) -> int:
    other = read_report(Path(args.compare)) if args.compare else None
    if args.baseline:
        from sr_core.evaluation.baselines import baseline_evaluation

        evaluation = baseline_evaluation(args.baseline, args.data, args.split, args.prior_from)
    else:
        evaluation = evaluate_model(args, weights)
    if evaluation is not None:  # None: a rank other than 0 under torchrun; rank 0 writes
        write_report(evaluation, Path(args.out), other, Path(args.compare) if args.compare else None)
    return 0


def read_report(path: Path) -> dict:
    """A report.json written by this tool; ValueError naming the file otherwise."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        report["gt_known"]["iou"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}: not an sr-core-eval report.json") from None
    return report


def evaluate_model(args, weights: Path | None):
    """Our model (or a predictions file) over the split; None on ranks other than 0.

    Raises:
        LayoutError, ValueError (WeightsError included), OSError.
    """
    from sr_core.data.datasets import LocalizationSet
    from sr_core.evaluation.scoring import describe, rows_from_predictions, rows_from_predictor_sharded, score
    from sr_core.predict import Predictor

    from sr_core import distributed

    rank, world = distributed.rank_and_world()
    device = args.device
    if world > 1 and not args.predictions:
        device = distributed.local_device(prefer_cuda=args.device != "cpu")
        distributed.init(device)
    try:
        dataset = LocalizationSet(args.data, split=args.split)
        if args.predictions:
            if rank > 0:
                return None
            source = Path(args.predictions).name
            rows, errors = rows_from_predictions(Path(args.predictions), dataset)
        else:
            # Under torchrun each rank predicts its share of the rows; rank 0 gets them all in
            # dataset order and scores them once, as one process does.
            predictor = Predictor.from_weights(weights, device=device, batch_size=args.batch_size)
            source = predictor.name
            merged = rows_from_predictor_sharded(predictor, dataset, args.threshold, args.mode,
                                                 progress=show_progress(args.quiet))
            if merged is None:
                return None
            rows, errors = merged
        evaluation = score(rows, dataset.class_names, errors, args.mode)
    finally:
        distributed.shutdown()
    describe(evaluation.report, source, args.data, args.split, dataset.problems)
    return evaluation


def write_report(evaluation, out: Path, other: dict | None = None, other_file: Path | None = None) -> None:
    """report.json, report.csv and the plots to out; the summary and tables (beside the
    published one, and beside another report if given) to stdout."""
    from sr_core.evaluation.plots import plot_iou_histograms, plot_threshold_curves
    from sr_core.evaluation.reports import format_comparison_table, report_table

    report = evaluation.report
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rounded(report), indent=2), encoding="utf-8")
    write_csv(evaluation.rows, out / "report.csv")
    best: dict[str, list[float]] = {}
    for row in evaluation.rows:
        best.setdefault(row["finding"], []).append(row["best_iou"])
    plot_iou_histograms(best, out / "iou_histograms.png", title=report["source"])
    if evaluation.curves:
        plot_threshold_curves(evaluation.curves, out / "accuracy_vs_threshold.png", title=report["source"])
    print(summary(report))
    print()
    print(format_comparison_table(report))
    if other is not None:
        print()
        print(format_comparison_table(report, report_table(other), *comparison_label(report, other, other_file)))
    print(f"\nwritten to {out}/: report.json, report.csv, plots")
    for message in report["errors"][:10]:
        fail(PROG, message)


def comparison_label(report: dict, other: dict, other_file: Path | None) -> tuple[str, str | None]:
    """The other report's label and column: its weights' or baseline's name; its folder's
    name when both reports have the same name (one model at two settings)."""
    from sr_core.evaluation.reports import column_label, report_name

    name = report_name(other)
    if name != report_name(report) or other_file is None:
        return name, None
    folder = other_file.resolve().parent.name
    return f"{name} in {folder}", column_label(folder)


def summary(report: dict) -> str:
    iou = report["gt_known"]["iou"]
    cls = report["classification"]
    lines = [
        f"{report['n_images']} images, {report['n_records']} (image, finding) rows, {report['n_failed']} failed",
        "GT-known accuracy (class mean / image mean): "
        + ", ".join(f"IoU>{k} {v['class_mean']:.3f}/{v['image_mean']:.3f}" for k, v in iou.items() if k in ("0.1", "0.3", "0.5")),
    ]
    if cls is None:
        lines.append("classification: not applicable (no classifier)")
    else:
        lines.append(f"classification accuracy {cls['accuracy']:.3f}, mean AUC "
                     + (f"{cls['auc_mean']:.3f}" if cls["auc_mean"] is not None else "n/a"))
    if report.get("maxboxacc_v2"):
        lines.append(f"MaxBoxAccV2 {report['maxboxacc_v2']['mean']:.3f}")
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> None:
    """A row per (image, finding); with a classifier, then p_<finding> for every finding."""
    fields = ["image", "finding", "probability", "top1", "threshold", "best_iou", "best_iobb", "pred_boxes", "gt_boxes"]
    findings = list(rows[0]["probabilities"] or {}) if rows else []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields + [f"p_{c}" for c in findings])
        writer.writeheader()
        for row in rows:
            row = rounded(row)
            cells = {k: (json.dumps(row[k]) if isinstance(row[k], list) else row[k]) for k in fields}
            writer.writerow({**cells, **{f"p_{c}": (row["probabilities"] or {}).get(c) for c in findings}})


if __name__ == "__main__":
    sys.exit(main())
