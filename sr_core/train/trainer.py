"""The training loop: CPU, one GPU, or many through torchrun (DDP), resumable to the bit.

Rank 0 logs and writes checkpoints; validation is sharded over the ranks and scored on rank 0
with the same code as sr-core-eval. A run folder holds config.toml (resolved), metrics.jsonl,
checkpoints/{last,best}.safetensors, plots and, when tensorboard is installed, its events.
On a terminal each epoch shows a progress bar (loss terms, img/s, ETA) on stderr; when stderr
is not a terminal or output.progress is off, each epoch is one log line instead.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from sr_core import distributed
from sr_core.data.datasets import LocalizationSet
from sr_core.data.layout import LayoutError
from sr_core.evaluation.scoring import operating_choice, rows_from_predictor_sharded, score
from sr_core.models import create_model, model_spec
from sr_core.models.pretrained import InitError, initialise
from sr_core.predict import Predictor, resolve_device
from sr_core.train.config import TrainConfig, save_config
from sr_core.train.data import build_train_loader
from sr_core.train.optim import build_optimizer, lr_factor, set_lr
from sr_core.train.state import load_training_state, save_training_state

log = logging.getLogger(__name__)
LOSS_TERMS = ("total", "ce", "ce_fpm", "control", "area", "abnormal")
# Below this mean spread of the class logits across a batch's images the classifier no longer
# tells images apart: a dead CAM head, CE pinned at ln C (TRAINING_NOTES.md §11).
DEAD_HEAD_SPREAD = 1e-3


def check_head_alive(epoch: int, spread: float) -> bool:
    """Warn (one line) when an epoch's logits no longer differ between images."""
    if math.isnan(spread) or spread >= DEAD_HEAD_SPREAD:  # nan: batches of one image
        return True
    log.warning("epoch %d: the class logits no longer differ between images (spread %.1e): the CAM head "
                "has stopped learning and the CE sits at ln(classes); lower optim.lr", epoch, spread)
    return False


class TrainingError(RuntimeError):
    """A failure the user must act on; the message is one line."""


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.is_main = self.rank == 0
        self.ckpt_dir = self.run_dir / "checkpoints"
        self._tensorboard = None
        self._pending_best = False
        # Bars only where someone watches: on a terminal, rank 0, output.progress on. In a log
        # file a bar is a line of carriage returns, so each epoch is one log line there instead.
        self.show_bars = self.is_main and cfg.output.progress and sys.stderr.isatty()

    # --- set-up -----------------------------------------------------------------------------
    def _setup_device(self) -> None:
        cfg = self.cfg.train
        if self.world > 1:
            self.device = distributed.local_device(prefer_cuda=cfg.device != "cpu")
            distributed.init(self.device)
        else:
            self.device = resolve_device(cfg.device)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        self.amp_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": None}[cfg.amp_dtype]
        if self.device.type != "cuda":
            self.amp_dtype = None

    def _setup_data(self) -> None:
        data = self.cfg.data
        root = data.root
        if root == "synthetic":
            root = self.run_dir / "synthetic"
            if self.is_main and not (root / "test_gt.txt").is_file():
                from sr_core.data.phantoms import write_phantom_dataset

                write_phantom_dataset(root, data.synthetic_per_class, data.synthetic_size, self.cfg.train.seed,
                                      n_test_per_class=max(2, data.synthetic_per_class // 2), overwrite=True)
            self._barrier()
        root = Path(root)
        if not root.is_dir():
            raise TrainingError(f"data folder {root} not found (set data.root or --data)")
        self.data_root = root
        spec = model_spec(self.cfg.model.name)  # the backbone's normalisation (ImageNet's, or TF Lite's)
        self.mean, self.std = tuple(spec.mean), tuple(spec.std)
        self.loader, self.sampler, self.train_set = build_train_loader(
            self.cfg, root, self.mean, self.std, self.rank, self.world, self.device.type == "cuda",
            self.device)
        empty = [c for c, n in zip(self.train_set.class_names, self.train_set.class_counts()) if n == 0]
        if empty:
            raise TrainingError(f"{root / 'train'}: no training images for {', '.join(empty)}")
        if self.is_main and data.train_fraction != 1.0:
            log.info("data.train_fraction %g (subset_seed %d): %d samples and %d negatives of the kept patients; "
                     "%d draws an epoch, as the full data", data.train_fraction, data.subset_seed,
                     len(self.train_set) - self.train_set.negative_count, self.train_set.negative_count,
                     self.sampler.draws)
        if self.is_main:
            failed = self.train_set.verify(progress=self.show_bars)
            fraction = len(failed) / (len(self.train_set.samples) + len(failed))
            if failed:
                log.warning("%d unreadable training images skipped (%.2f%%)", len(failed), 100 * fraction)
            if fraction > self.cfg.data.max_unreadable_fraction:
                raise TrainingError(f"{len(failed)} of the training images are unreadable ({100 * fraction:.1f}%, "
                                    f"above data.max_unreadable_fraction); first: {failed[0][1]}")
        self.steps_per_epoch = len(self.sampler) // self.cfg.train.batch_size // self.cfg.train.accumulate
        if self.steps_per_epoch < 1:
            raise TrainingError(f"{len(self.train_set)} training images are fewer than one batch "
                                f"({self.cfg.train.batch_size} x {self.world} processes)")
        try:
            self.val_set = LocalizationSet(root, split=data.val_split)
        except LayoutError as exc:
            self.val_set = None
            if self.is_main:
                log.warning("no validation with boxes: %s", exc)

    def _setup_model(self) -> None:
        mcfg = self.cfg.model
        self.model = create_model(mcfg.name, num_classes=len(self.train_set.class_names), **mcfg.overrides)
        if self.cfg.data.negative_splits and self.model.head_cfg.abnormal_weight <= 0:
            raise TrainingError("data.negative_splits trains negatives through the abnormal term only: "
                                "set model.overrides.abnormal_weight > 0")
        if mcfg.init and not (self.resume and (self.ckpt_dir / "last.safetensors").is_file()):
            try:
                report = initialise(self.model, mcfg.init)
            except InitError as exc:
                raise TrainingError(str(exc)) from None
            if self.is_main:
                log.info("%s", report.table())
        self.model.to(self.device)
        if self.cfg.train.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, self.cfg.optim)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ddp = self.model
        if self.world > 1:
            ids = [self.local_rank] if self.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
            # The depthwise (C, 1, 3, 3) and CAM (K, C, 1, 1) conv weights get their gradients in
            # channels-last strides (their inputs are channels last); DDP then copies those few
            # kilobytes into its bucket instead of aliasing them, and warns once per rank that
            # this "may impair performance". It does not measurably (4 GPUs scale at 98%,
            # benchmarks/RESULTS.md): silence that one message, which users cannot act on.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        self.forward = torch.compile(self.ddp) if self.cfg.train.compile else self.ddp
        self.progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_metric": None,
                         "best_epoch": None, "best_val": None, "train_seconds": 0.0}
        counts = self.train_set.class_counts()
        about = {"class_names": list(self.train_set.class_names), "hardware": self.hardware(),
                 "data": {"root": str(self.data_root), "train_samples": sum(counts),
                          "train_per_class": dict(zip(self.train_set.class_names, counts)),
                          "train_negatives": self.train_set.negative_count,
                          "val_rows": len(self.val_set) if self.val_set is not None else 0}}
        last = self.ckpt_dir / "last.safetensors"
        if self.resume and last.is_file():
            self.progress = load_training_state(last, self.model, self.optimizer, self.scaler)
            if self.is_main:
                log.info("resumed from %s at epoch %d, step %d", last, self.progress["epoch"],
                         self.progress["global_step"])
                self._trim_metrics(self.progress["global_step"])
        elif self.resume and self.is_main:
            log.warning("--resume: no checkpoint in %s, starting fresh", self.ckpt_dir)
        self.progress.update(about)

    # --- the loop ---------------------------------------------------------------------------
    def fit(self) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._setup_device()
        self._setup_data()
        self._setup_model()
        if self.is_main:
            save_config(self.cfg, self.run_dir / "config.toml")
            self._tensorboard = self._open_tensorboard()
        cfg = self.cfg.train
        self._loop_start, self._loop_first_epoch = time.perf_counter(), self.progress["epoch"]
        try:
            while self.progress["epoch"] < cfg.epochs:
                epoch = self.progress["epoch"]
                self._train_epoch(epoch)
                self.progress.update(epoch=epoch + 1, step_in_epoch=0)
                every = self.cfg.eval.every_epochs
                last_epoch = epoch + 1 == cfg.epochs
                start = time.perf_counter()
                if self.val_set is not None and (last_epoch or (every and (epoch + 1) % every == 0)):
                    self._validate(epoch + 1)
                validated = time.perf_counter()
                self._checkpoint()
                if self.is_main:
                    # Wall time every rank spends outside training steps (they wait at the
                    # barriers): what validation and checkpoints cost a multi-GPU run.
                    self._log({"kind": "timing", "epoch": epoch + 1, "step": self.progress["global_step"],
                               "validation_seconds": validated - start,
                               "checkpoint_seconds": time.perf_counter() - validated})
        except torch.cuda.OutOfMemoryError:
            raise TrainingError(
                f"GPU out of memory at batch size {cfg.batch_size}: use a smaller train.batch_size "
                f"with train.accumulate to keep the effective batch") from None
        if self.is_main:
            self._final_plots()
        self._barrier()
        return self.progress

    def _train_epoch(self, epoch: int) -> None:
        cfg = self.cfg.train
        done = self.progress["step_in_epoch"]
        self.sampler.set_epoch(epoch, done * cfg.batch_size * cfg.accumulate)
        self.model.train()
        frozen = epoch < cfg.freeze_backbone_epochs
        if frozen:  # LP-FT: the head learns on fixed features (BatchNorm statistics included)
            self.model.backbone.eval()
        # Partial sums live in progress so a resumed epoch still reports its full mean.
        sums = self.progress.setdefault("epoch_sums", {k: 0.0 for k in LOSS_TERMS})
        sums.setdefault("logit_spread", 0.0)
        images, start = 0, time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=done, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not self.show_bars, unit="step", dynamic_ncols=True)
        batches = iter(self.loader)
        for step in range(done, self.steps_per_epoch):
            factor = lr_factor(self.progress["global_step"], self.steps_per_epoch, cfg.epochs, self.cfg.optim)
            lr = set_lr(self.optimizer, self.cfg.optim.lr, factor, freeze_backbone=frozen)
            terms = self._optimizer_step(batches)
            images += cfg.batch_size * cfg.accumulate * self.world
            for k in (*LOSS_TERMS, "logit_spread"):
                sums[k] += terms[k]
            self.progress["global_step"] += 1
            self.progress["step_in_epoch"] = step + 1
            elapsed = time.perf_counter() - start
            # The epoch's running means (steps so far, a resumed epoch's included): the bar ends
            # on the epoch's mean losses, the numbers metrics.jsonl records.
            bar.set_postfix({k: f"{sums[k] / (step + 1):.3f}" for k in LOSS_TERMS} |
                            {"img/s": f"{images / max(elapsed, 1e-9):.0f}", "lr": f"{lr:.2e}"}, refresh=False)
            bar.update(1)
            every = self.cfg.checkpoint.every_steps
            if every and self.progress["global_step"] % every == 0 and step + 1 < self.steps_per_epoch:
                self._checkpoint()
        bar.close()
        elapsed = time.perf_counter() - start
        self.progress["train_seconds"] += elapsed
        count = self.steps_per_epoch
        self.progress.pop("epoch_sums")
        spread = sums.pop("logit_spread") / count
        if self.is_main:
            record = {"kind": "epoch", "epoch": epoch + 1, "step": self.progress["global_step"],
                      "losses": {k: v / count for k, v in sums.items()}, "logit_spread": None if math.isnan(spread) else spread,
                      "images_per_s": images / max(elapsed, 1e-9), "lr": lr, "seconds": elapsed}
            if cfg.freeze_backbone_epochs:
                record["backbone_frozen"] = frozen
            self._log(record)
            check_head_alive(epoch + 1, spread)

    def _optimizer_step(self, batches) -> dict[str, float]:
        cfg = self.cfg.train
        self.optimizer.zero_grad(set_to_none=True)
        totals = {k: 0.0 for k in (*LOSS_TERMS, "logit_spread")}
        for micro in range(cfg.accumulate):
            images, labels = next(batches)
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            sync = self.world == 1 or micro == cfg.accumulate - 1
            context = nullcontext() if sync else self.ddp.no_sync()
            with context, torch.autocast(self.device.type, self.amp_dtype or torch.float32,
                                         enabled=self.amp_dtype is not None):
                out = self.forward(images, labels)
                losses = out["losses"]
                loss = self._weighted_total(losses) / cfg.accumulate
            with context:
                self.scaler.scale(loss).backward()
            for k in LOSS_TERMS:
                totals[k] += float(losses[k].detach()) / cfg.accumulate
            logits = out["logits"].detach().float()
            spread = logits.std(0).mean() if len(logits) > 1 else torch.tensor(math.nan)
            totals["logit_spread"] += float(spread) / cfg.accumulate
        self._check_finite(totals["total"])
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return totals

    def _weighted_total(self, losses: dict) -> torch.Tensor:
        """The model's total, with the localisation terms off for fpm_start_epochs, then
        ramped in linearly over fpm_warmup_epochs (the classification terms, ce and abnormal,
        always at full weight)."""
        head = losses["ce"] + self.model.head_cfg.abnormal_weight * losses["abnormal"]
        return head + self.fpm_ramp() * (losses["total"] - head)

    def fpm_ramp(self) -> float:
        """Weight of the localisation terms at the current step, in [0, 1]."""
        cfg = self.cfg.train
        epoch = self.progress["global_step"] / self.steps_per_epoch - cfg.fpm_start_epochs
        if epoch < 0:
            return 0.0
        return 1.0 if cfg.fpm_warmup_epochs <= 0 else min(1.0, epoch / cfg.fpm_warmup_epochs)

    def _check_finite(self, total: float) -> None:
        bad = torch.tensor([0.0 if math.isfinite(total) else 1.0], device=self.device)
        if self.world > 1:
            dist.all_reduce(bad)
        if bad.item() > 0:
            last = self.ckpt_dir / "last.safetensors"
            where = f"last good checkpoint: {last}" if last.is_file() else "no checkpoint written yet"
            raise TrainingError(f"loss became NaN or infinite at step {self.progress['global_step'] + 1} "
                                f"(epoch {self.progress['epoch'] + 1}); {where}; try a lower optim.lr")

    # --- validation -------------------------------------------------------------------------
    def metadata(self) -> dict:
        return {"class_names": list(self.train_set.class_names), "input_size": self.cfg.data.input_size,
                "mean": list(self.mean), "std": list(self.std)}

    def _validate(self, epoch: int) -> None:
        ecfg = self.cfg.eval
        predictor = Predictor(self.model, self.metadata(), device=self.device, batch_size=ecfg.batch_size)
        # Rank 0 gets every row in dataset order: the report of one process, however many ranks.
        merged = rows_from_predictor_sharded(predictor, self.val_set, ecfg.threshold)
        self.model.train()
        if merged is None:
            return
        rows, errors = merged
        evaluation = score(rows, self.val_set.class_names, errors)
        report = evaluation.report
        choice = operating_choice(evaluation, ecfg.iou, self.val_set.class_names, ecfg.threshold)
        best_t, best_acc, selection_name = choice["default_threshold"], choice["metric"], choice["name"]
        record = {
            "kind": "val", "epoch": epoch, "step": self.progress["global_step"],
            "gt_known_iou_0.1": report["gt_known"]["iou"]["0.1"]["class_mean"],
            "gt_known_iou_0.3": report["gt_known"]["iou"]["0.3"]["class_mean"],
            "gt_known_iou_0.5": report["gt_known"]["iou"]["0.5"]["class_mean"],
            "selection_metric": best_acc, "selection_threshold": best_t, "selection_name": selection_name,
            "maxboxacc_v2": (report["maxboxacc_v2"] or {}).get("mean"),
            "accuracy": report["classification"]["accuracy"], "auc_mean": report["classification"]["auc_mean"],
        }
        self._log(record)
        with open(self.run_dir / f"val_epoch{epoch:03d}.json", "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
        best = self.progress["best_metric"]
        self.progress["last_val"] = record
        if best is None or best_acc > best:
            self.progress.update(best_metric=best_acc, best_epoch=epoch, best_val={
                "record": record, "default_threshold": best_t, "fpm_thresholds": choice["fpm_thresholds"],
                # Per-finding probability cut-offs (Youden's J on the validation images).
                "operating_points": choice["operating_points"],
                "report_file": f"val_epoch{epoch:03d}.json"})
            self._pending_best = True

    # --- checkpoints, logs ------------------------------------------------------------------
    def _checkpoint(self) -> None:
        if self.is_main:
            save_training_state(self.ckpt_dir / "last.safetensors", self.model, self.optimizer, self.scaler,
                                self.progress)
            if self._pending_best:
                save_training_state(self.ckpt_dir / "best.safetensors", self.model, self.optimizer, self.scaler,
                                    self.progress)
                self._pending_best = False
        self._barrier()

    def _eta(self, epochs_done: int) -> float:
        """Seconds left for the remaining epochs at this process's wall time per epoch so far
        (validation and checkpoints included)."""
        done = epochs_done - self._loop_first_epoch
        per_epoch = (time.perf_counter() - self._loop_start) / max(done, 1)
        return per_epoch * (self.cfg.train.epochs - epochs_done)

    def summary(self) -> str:
        """The closing line: what ran, and which checkpoint is best by which metric."""
        progress = self.progress
        line = f"done: {progress['epoch']} epochs, {progress['global_step']} steps in {self.run_dir}"
        if progress.get("best_metric") is None:
            return line + f"; no validation with boxes, so no best checkpoint; last: {self.ckpt_dir / 'last.safetensors'}"
        record = progress["best_val"]["record"]
        return (line + f"; best checkpoint by {record.get('selection_name', 'the selection metric')}: "
                f"{progress['best_metric']:.3f} at epoch {progress['best_epoch']}, {self.ckpt_dir / 'best.safetensors'}")

    def _log(self, record: dict) -> None:
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._tensorboard is not None:
            prefix = record["kind"]
            values = record.get("losses", {}) | {k: v for k, v in record.items() if isinstance(v, float)}
            for name, value in values.items():
                if value is not None:
                    self._tensorboard.add_scalar(f"{prefix}/{name}", value, record["step"])
            self._tensorboard.flush()
        if record["kind"] == "epoch" and not self.show_bars:
            losses = record["losses"]
            log.info("epoch %d/%d: loss %.3f (%s), %.0f img/s, %.1f s, lr %.2e, ETA %s", record["epoch"],
                     self.cfg.train.epochs, losses["total"],
                     ", ".join(f"{k} {losses[k]:.3f}" for k in LOSS_TERMS[1:]), record["images_per_s"],
                     record["seconds"], record["lr"], tqdm.format_interval(self._eta(record["epoch"])))
        if record["kind"] == "val":
            auc = record["auc_mean"]
            log.info("validation epoch %d: GT-known IoU>0.1 %.3f at threshold %.2f; selection metric %s: %.3f; "
                     "AUC %s", record["epoch"], record["gt_known_iou_0.1"], self.cfg.eval.threshold,
                     record["selection_name"], record["selection_metric"], "n/a" if auc is None else f"{auc:.3f}")

    def _trim_metrics(self, step: int) -> None:
        """After a resume, forget log lines written after the checkpoint (they are redone)."""
        path = self.run_dir / "metrics.jsonl"
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in kept))

    def _open_tensorboard(self):
        if not self.cfg.output.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _final_plots(self) -> None:
        from sr_core.evaluation.plots import plot_training

        path = self.run_dir / "metrics.jsonl"
        if path.is_file():
            history = [json.loads(line) for line in path.read_text().splitlines() if line]
            plot_training(history, self.run_dir / "training.png")
        if self._tensorboard is not None:
            self._tensorboard.close()

    def _barrier(self) -> None:
        distributed.barrier()

    def hardware(self) -> str:
        if self.device.type == "cuda":
            return f"{self.world} x {torch.cuda.get_device_name(self.device)}"
        return f"CPU ({platform.processor() or platform.machine()}), {self.world} process(es)"
