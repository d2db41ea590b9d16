"""`sr-core-train ensemble A.safetensors B.safetensors --data LAYOUT --out E.safetensors`.

Chooses, on LAYOUT's test split (its boxes; a selection layout, never the one reported), the
mix of the two files' maps and the ensemble's map thresholds:

1. every mix w A + (1 - w) B for w in --mixes (default 1, 0.75, 0.5, 0.25, 0) is scored as
   sr-core-eval scores one model: GT-known accuracy at --iou, class mean, at the best map
   threshold, per finding too, only among thresholds whose boxes average at most
   --max-box-ratio x the GT boxes' area when that is given (as `sr-core-train calibrate`);
2. the best mix wins (the first of a tie), and the ensemble file is written with its
   thresholds, operating points and the whole trial record (sr_core.ensemble).

Each member predicts each image once, as shipped (its own refinement); the mixes reuse those
predictions. Nothing is trained and the member files are never changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from sr_core.data.datasets import LocalizationSet
from sr_core.ensemble import EnsemblePredictor, save_ensemble
from sr_core.evaluation.scoring import operating_choice, rows_from_predictor, score
from sr_core.predict import Predictor

log = logging.getLogger(__name__)

MIXES = (1.0, 0.75, 0.5, 0.25, 0.0)


def build_ensemble(members: Sequence[Path], data: Path, out: Path, mixes: Sequence[float] = MIXES,
                   iou: float = 0.3, max_box_ratio: float | None = None, device: str = "auto") -> dict:
    """Choose (see the module docstring), write `out`; returns the `calibration` record."""
    members, data, out = [Path(m) for m in members], Path(data), Path(out)
    if len(members) != 2:
        raise ValueError(f"give two weights files, got {len(members)}")
    loaded = [Predictor.from_weights(m, device=device, batch_size=16) for m in members]
    if any(isinstance(p, EnsemblePredictor) for p in loaded):
        raise ValueError("an ensemble cannot be a member of another")
    trials = choose_mix(EnsemblePredictor(loaded, (0.5, 0.5), keep=True), data, mixes, iou, max_box_ratio)
    mix, choice = best_trial(trials)
    record = {"data": str(data), "split": "test", "iou": iou, "max_box_ratio": max_box_ratio,
              "trials": [{"mix": list(m), "metric": round(c["metric"], 4)} for m, c in trials],
              "chosen": {"mix": list(mix), "metric": round(choice["metric"], 4), "name": choice["name"]}}
    save_ensemble(members, mix, out, {
        "default_threshold": choice["default_threshold"], "fpm_thresholds": choice["fpm_thresholds"],
        "operating_points": choice["operating_points"], "calibration": record,
        "provenance": {"ensemble_of": [m.name for m in members], "chosen_on": str(data)},
    })
    return record


def choose_mix(base: EnsemblePredictor, data: Path, mixes: Sequence[float] = MIXES, iou: float = 0.3,
               max_box_ratio: float | None = None) -> list[tuple[tuple[float, float], dict]]:
    """For each first-member share w: (the mix (w, 1 - w), its operating_choice on `data`'s
    test split). `base` should keep its member predictions (keep=True): each image is then
    predicted once for all the mixes."""
    val = LocalizationSet(data, split="test", class_names=base.class_names)
    trials = []
    for w in mixes:
        if not 0 <= w <= 1:
            raise ValueError(f"mix weights must be between 0 and 1, got {w}")
        rows, errors = rows_from_predictor(base.with_mix((w, 1 - w)), val)
        choice = operating_choice(score(rows, base.class_names, errors), iou, base.class_names, 0.5, max_box_ratio)
        log.info("mix %.2f / %.2f: %s = %.3f", w, 1 - w, choice["name"], choice["metric"])
        trials.append(((w, 1 - w), choice))
    return trials


def best_trial(trials: list[tuple[tuple[float, float], dict]]) -> tuple[tuple[float, float], dict]:
    """The trial with the best metric; the first of a tie (the order of --mixes)."""
    best = trials[0]
    for trial in trials[1:]:
        if trial[1]["metric"] > best[1]["metric"] + 1e-9:
            best = trial
    return best
