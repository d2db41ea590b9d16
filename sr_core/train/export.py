"""Release files from a run: weights-only safetensors with metadata, and a model card.

The release carries what the viewer and sr-core-eval need: the architecture, class names,
input size and normalisation, the default map threshold and per-finding thresholds chosen on
the validation boxes, provenance (config, data, training time, hardware) and the validation
metrics of the exported epoch.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch

from sr_core.checkpoint import save_weights
from sr_core.models import create_model
from sr_core.train.config import TrainConfig, load_config
from sr_core.train.state import read_training_progress, load_model_state


class ExportError(ValueError):
    """The run cannot be exported; one line naming what is missing."""


def export_run(run_dir: Path, out: Path, fp16: bool = False, which: str = "best") -> Path:
    run_dir = Path(run_dir)
    config_file = run_dir / "config.toml"
    if not config_file.is_file():
        raise ExportError(f"{run_dir}: not a training run folder (no config.toml)")
    cfg = load_config(str(config_file))
    ckpt = run_dir / "checkpoints" / f"{which}.safetensors"
    if not ckpt.is_file():
        fallback = run_dir / "checkpoints" / "last.safetensors"
        if which == "best" and fallback.is_file():
            ckpt = fallback
        else:
            raise ExportError(f"{run_dir}: no checkpoints/{which}.safetensors")
    progress = read_training_progress(ckpt)
    class_names = progress.get("class_names")
    model = create_model(cfg.model.name, num_classes=len(class_names), **cfg.model.overrides)
    load_model_state(ckpt, model)
    best = progress.get("best_val") or {}
    metadata = {
        "class_names": class_names,
        "input_size": cfg.data.input_size,
        "default_threshold": float(best.get("default_threshold", cfg.eval.threshold)),
        "fpm_thresholds": best.get("fpm_thresholds", {}),
        "operating_points": best.get("operating_points", {}),
        "provenance": {
            "run": run_dir.name, "checkpoint": ckpt.name, "epoch": progress.get("epoch"),
            "global_step": progress.get("global_step"), "train_seconds": round(progress.get("train_seconds", 0.0), 1),
            "hardware": progress.get("hardware"), "data": progress.get("data"),
            "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": cfg.to_dict(),
        },
        "metrics": {"validation": best.get("record") or progress.get("last_val")},
    }
    path = save_weights(model, out, metadata, dtype=torch.float16 if fp16 else None)
    path.with_suffix(".md").write_text(model_card(path.name, cfg, metadata), encoding="utf-8")
    return path


def model_card(name: str, cfg: TrainConfig, meta: dict) -> str:
    prov, val = meta["provenance"], meta["metrics"]["validation"] or {}
    lines = [
        f"# Model card: {name}",
        "",
        f"- Architecture: `{cfg.model.name}` {json.dumps(cfg.model.overrides) if cfg.model.overrides else ''}",
        f"- Findings: {', '.join(meta['class_names'])}",
        f"- Input: {meta['input_size']} px grey replicated to 3 channels, ImageNet normalisation",
        f"- Default map threshold: {meta['default_threshold']:.2f} (chosen on the validation boxes)",
        "- Probability operating points (Youden's J on the validation images): "
        + (", ".join(f"{k} {v:.3f}" for k, v in meta.get("operating_points", {}).items()) or "none"),
        f"- Trained: {prov['epoch']} epochs, {prov['global_step']} steps, {prov['train_seconds']} s on {prov['hardware']}",
        f"- Data: {json.dumps(prov['data'])}",
        "",
        "## Validation (the exported epoch)",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for key, value in val.items():
        if isinstance(value, float):
            lines.append(f"| {key} | {value:.3f} |")
    lines += ["", "Intended use: research and demonstration of weakly supervised localization; not for diagnosis.", ""]
    return "\n".join(lines)
