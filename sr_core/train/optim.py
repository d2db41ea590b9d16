"""Optimiser parameter groups (the SR paper's, sr_core/README.md#method) and the learning-rate schedule.

Groups: backbone weights (lr), backbone biases (lr x bias_lr_mult), head and localisation
branch weights (lr x head_lr_mult), their biases (lr x head_bias_lr_mult). Weight decay
applies to matrices and kernels only; biases, norms, D and the state matrix A are not decayed.
The schedule is a pure function of the step, so a checkpoint's step restores it exactly.
"""

from __future__ import annotations

import math

import torch

from sr_core.models import SRModel
from sr_core.train.config import OptimSection

_NO_DECAY = ("A_logs", "Ds", "dt_projs_bias")


def param_groups(model: SRModel, cfg: OptimSection) -> list[dict]:
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = not name.startswith("backbone.")
        is_bias = param.ndim <= 1 or name.endswith(_NO_DECAY)
        groups.setdefault((is_head, is_bias), []).append(param)
    out = []
    for (is_head, is_bias), params in sorted(groups.items()):
        if is_head:
            mult = cfg.head_bias_lr_mult if is_bias else cfg.head_lr_mult
        else:
            mult = cfg.bias_lr_mult if is_bias else 1.0
        out.append({
            "params": params, "lr": cfg.lr * mult, "lr_mult": mult,
            "weight_decay": 0.0 if is_bias else cfg.weight_decay,
            "name": ("head" if is_head else "backbone") + ("_bias" if is_bias else "_weight"),
        })
    return out


def build_optimizer(model: SRModel, cfg: OptimSection) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    raise ValueError(f"optim.name must be 'sgd' or 'adamw', got {cfg.name!r}")


def lr_factor(step: int, steps_per_epoch: int, epochs: int, cfg: OptimSection) -> float:
    """Multiplier of the base learning rate at a global step (linear warm-up, then the schedule)."""
    epoch = step / max(1, steps_per_epoch)
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return (epoch + 1.0 / max(1, steps_per_epoch)) / cfg.warmup_epochs
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.step_gamma ** sum(epoch >= e for e in cfg.step_epochs)
    if cfg.schedule == "cosine":
        span = max(1e-9, epochs - cfg.warmup_epochs)
        progress = min(1.0, (epoch - cfg.warmup_epochs) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"optim.schedule must be cosine, step or constant, got {cfg.schedule!r}")


def set_lr(optimizer: torch.optim.Optimizer, base_lr: float, factor: float, freeze_backbone: bool = False) -> float:
    """Set every group's rate to base_lr x its multiplier x factor (the backbone's groups to 0
    with freeze_backbone: AdamW and SGD then leave those parameters, decay included, as they are)."""
    for group in optimizer.param_groups:
        frozen = freeze_backbone and str(group.get("name", "")).startswith("backbone")
        group["lr"] = 0.0 if frozen else base_lr * group["lr_mult"] * factor
    return base_lr * factor
