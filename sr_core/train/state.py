"""Training checkpoints: the whole state of a run, written atomically, never pickled.

A checkpoint is one safetensors file: the model's tensors ("model.*"), the optimiser's
per-parameter tensors ("optim.<index>.<name>"), the RNG states ("rng.*"), and JSON metadata
with everything else (step, epoch, position in the epoch, optimiser hyper-parameters, AMP
scaler, best metric, the resolved config). The learning-rate schedule is a pure function of
the step, so the step is its whole state; the sampler's order is a pure function of
(seed, epoch), so (epoch, position) is its whole state.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the old
one, so a kill at any moment leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from sr_core.checkpoint import write_safetensors_atomic

_META = "sr_train_state"


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    version, internal, gauss = random.getstate()
    return tensors, {"python": [version, list(internal), gauss]}


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_training_state(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    progress: dict[str, Any],
) -> None:
    """Write model + optimiser + scaler + RNG + `progress` (step, epoch, ...) atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for index, state in opt["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                opt_scalars.setdefault(str(index), {})[name] = value
    rng_tensors, rng_meta = capture_rng()
    tensors.update(rng_tensors)
    meta = {
        "progress": progress,
        "param_groups": opt["param_groups"],
        "optim_scalars": opt_scalars,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "rng": rng_meta,
    }
    write_safetensors_atomic(tensors, {_META: json.dumps(meta)}, path)


def load_training_state(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
) -> dict[str, Any]:
    """Restore everything `save_training_state` wrote; returns the saved `progress` dict."""
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()[_META])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_state, strict=True)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, scalars in meta["optim_scalars"].items():
        state.setdefault(int(index), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if scaler is not None and meta["scaler"] is not None:
        scaler.load_state_dict(meta["scaler"])
    restore_rng(tensors, meta["rng"])
    return meta["progress"]


def read_training_progress(path: Path) -> dict[str, Any]:
    """The `progress` dict of a checkpoint, without loading any tensor."""
    with safe_open(str(path), framework="pt") as fh:
        return json.loads(fh.metadata()[_META])["progress"]


def load_model_state(path: Path, model: torch.nn.Module) -> None:
    """Load only the model's tensors of a checkpoint (all keys must match)."""
    with safe_open(str(path), framework="pt") as fh:
        state = {k[len("model."):]: fh.get_tensor(k) for k in fh.keys() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)
