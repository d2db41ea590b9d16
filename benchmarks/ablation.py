"""The ablation behind the method: the same budget and seed for each module switched off.

Trains sr_vmamba_nano (preset nih-nano) once per variant with sr-core-train, several at a time
on one GPU (small models leave most of an H100/H200 idle). Each run's best checkpoint (chosen, as
the trainer does, by class-mean GT-known IoU>0.1 on the validation split) is exported in fp16
with its operating points and scored by sr-core-eval; the table puts every variant beside the
class-prior box baseline (the mean box of each finding over the same split):

    python benchmarks/ablation.py --data NIH_LAYOUT --out runs/ablation --epochs 80 --parallel 6
    python benchmarks/ablation.py --data NIH_LAYOUT --out runs/ablation --minutes 20 --parallel 6
    python benchmarks/ablation.py --out runs/ablation --table-only     # re-read finished runs

Variants (all on top of the preset's recipe):
    full           the SR head: modulation, FPM fusion, foreground control
    no_modulation  model.overrides.modulation=false
    no_fusion      model.overrides.fusion=false (the attention seed M_A alone)
    bas            model.overrides.control="background" (BAS-style background suppression)
    plain_cam      model.overrides.fpm=false (no FPM branch, no FPM losses)
    published      the METHOD.md head as written: FPM losses train the backbone and
                   score_2's mask comes from the label (fpm_feature_grad, fpm_ce_mask)
    full_seed7     full with another seed, to show how far two runs of one model differ
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "full": {},
    "no_modulation": {"model.overrides.modulation": "false"},
    "no_fusion": {"model.overrides.fusion": "false"},
    "bas": {"model.overrides.control": '"background"'},
    "plain_cam": {"model.overrides.fpm": "false"},
    "published": {"model.overrides.fpm_feature_grad": "true", "model.overrides.fpm_ce_mask": '"label"'},
    "full_seed7": {"train.seed": "7"},  # the full model again with another seed: the noise floor
}

COLUMNS = [
    ("GT-known IoU>0.1", ("gt_known", "iou", "0.1")),
    ("IoU>0.3", ("gt_known", "iou", "0.3")),
    ("IoU>0.5", ("gt_known", "iou", "0.5")),
    ("T(IoBB)>0.5", ("gt_known", "iobb", "0.5")),
]


def variant_sets(name: str, epochs: int, extra: list[str]) -> list[str]:
    # The recipe (optimiser, fpm_feature_grad, fpm_ce_mask) is the preset's; see nih-nano.toml.
    settings = {
        "train.epochs": str(epochs),
        # CE alone for the first third, then the localisation terms ramp in over a tenth.
        "train.fpm_start_epochs": str(round(epochs / 3)),
        "train.fpm_warmup_epochs": str(max(1, round(epochs / 10))),
        "eval.every_epochs": str(max(1, round(epochs / 10))),
        "output.progress": "false",
    }
    settings.update(VARIANTS[name])
    sets = [f"{k}={v}" for k, v in settings.items()] + list(extra)
    return [arg for item in sets for arg in ("--set", item)]


def launch(name: str, args, out: Path, epochs: int, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sr_core.train.cli", "--config", args.config, "--data", str(args.data),
           "--out", str(out / name), *variant_sets(name, epochs, args.set + extra)]
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / f"{name}.log", "w")
    print(f"start {name}: {' '.join(cmd[1:])}", flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))


def run_all(names: list[str], args, out: Path, epochs: int, extra: list[str] = (), evaluate: bool = True) -> None:
    pending, running = list(names), {}
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            running[name] = launch(name, args, out, epochs, list(extra))
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                print(f"done {name}: exit {proc.returncode} after {time.perf_counter() - start:.0f} s", flush=True)
                del running[name]
                if evaluate:
                    evaluate_run(name, args)
        time.sleep(2)


def epochs_for(names: list[str], args) -> int:
    """Time two epochs of every variant at once (as the real runs will share the GPU) and
    return the epoch count that fills args.minutes, leaving a fifth for validation."""
    probe = args.out / "_probe"
    run_all(names, args, probe, 2, ["eval.every_epochs=0"], evaluate=False)
    seconds = []
    for name in names:
        path = probe / name / "metrics.jsonl"
        records = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
        seconds += [r["seconds"] for r in records if r.get("kind") == "epoch" and r["epoch"] == 2]
    if not seconds:
        sys.exit(f"probe failed: no epoch timings under {probe} (see its logs)")
    epochs = max(3, int(args.minutes * 60 * 0.8 / max(seconds)))
    print(f"probe: {max(seconds):.1f} s per epoch with {len(names)} runs at once -> {epochs} epochs", flush=True)
    shutil.rmtree(probe, ignore_errors=True)
    return epochs


def evaluate_run(name: str, args) -> None:
    """Export the run's best checkpoint (fp16) and score it with its own operating points."""
    run = args.out / name
    weights = run / f"sr_vmamba_nano_{name}.safetensors"
    steps = {
        "export": [sys.executable, "-m", "sr_core.train.cli", "export", str(run), "--out", str(weights), "--fp16"],
        "sr-core-eval": [sys.executable, "-m", "sr_core.cli.eval", "--weights", str(weights), "--data",
                         str(args.data), "--out", str(run / "eval"), "--no-progress"],
    }
    with open(args.out / f"{name}.log", "a") as log:
        for what, cmd in steps.items():
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                print(f"{name}: {what} failed (see {name}.log)", flush=True)
                return


def class_prior(args) -> None:
    cmd = [sys.executable, "-m", "sr_core.cli.eval", "--baseline", "class-prior", "--data", str(args.data),
           "--out", str(args.out / "class_prior" / "eval"), "--no-progress"]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)


def class_mean(report: dict, keys: tuple[str, ...]) -> str:
    node = report
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return "-" if node is None else f"{float(node['class_mean']):.3f}"


def best_epoch(run: Path) -> str:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return "-"
    vals = [r for r in map(json.loads, path.read_text().splitlines()) if r.get("kind") == "val"]
    return str(max(vals, key=lambda r: r["selection_metric"])["epoch"]) if vals else "-"


def table(out: Path, names: list[str]) -> str:
    header = ["variant", "best epoch"] + [c for c, _ in COLUMNS] + ["AUC", "top-1 acc"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in [*names, "class_prior"]:
        path = out / name / "eval" / "report.json"
        if not path.is_file():
            lines.append(f"| {name} | not evaluated |" + " |" * (len(header) - 2))
            continue
        report = json.loads(path.read_text())
        cls = report.get("classification") or {}
        cells = [name, best_epoch(out / name)] + [class_mean(report, keys) for _, keys in COLUMNS]
        cells += [f"{cls['auc_mean']:.3f}" if cls.get("auc_mean") is not None else "-",
                  f"{cls['accuracy']:.3f}" if cls.get("accuracy") is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="NIH-layout folder (sr-core-data import-nih)")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--config", default="nih-nano")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--minutes", type=float, default=0.0,
                        help="instead of --epochs: time a probe and train as many epochs as fit in this many minutes")
    parser.add_argument("--parallel", type=int, default=3, help="runs at once (one GPU is shared)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every run")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                        help="an extra variant, e.g. area03:model.overrides.area_weight=0.3")
    parser.add_argument("--table-only", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    for spec in args.variant:
        name, _, settings = spec.partition(":")
        pairs = [item.split("=", 1) for item in settings.split(",") if item]
        if not name or any(len(p) != 2 for p in pairs):
            parser.error(f"--variant expects NAME:KEY=VALUE[,KEY=VALUE], got {spec!r}")
        VARIANTS[name] = dict(pairs)
        names.append(name)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if not args.table_only:
        if args.data is None:
            parser.error("--data is required to train")
        epochs = epochs_for(names, args) if args.minutes else args.epochs
        run_all(names, args, args.out, epochs)
        class_prior(args)
    text = table(args.out, names)
    (args.out / "ablation.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
