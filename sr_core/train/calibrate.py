"""`sr-core-train calibrate`: fit a weights file's map refinement (sr_core.refine) without boxes.

    sr-core-train calibrate W.safetensors --data LAYOUT --out W2.safetensors [--iou 0.3]

1. The location prior: the model's own maps, averaged per finding over LAYOUT/train
   (image-level labels only; each image once per finding it is labelled with).
2. On LAYOUT's test split (boxes): every combination of the prior's weight (--prior-weights)
   and test-time flip is scored, and the one with the best class-mean GT-known accuracy at
   --iou (at its best map threshold) is kept, with its thresholds and operating points. Ties
   keep the simpler choice (no flip, smaller weight). With --max-box-ratio R, only map
   thresholds whose boxes average at most R times the GT boxes' area compete.
3. W2 = W with that refinement, those thresholds and a `calibration` record (every
   combination's score) in its metadata; W is never overwritten.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sr_core.checkpoint import load_weights, save_weights
from sr_core.data.datasets import FolderDataset, LocalizationSet
from sr_core.evaluation.scoring import operating_choice, rows_from_predictor, score
from sr_core.io import ImageReadError, read_image
from sr_core.predict import Predictor
from sr_core.refine import MapRefinement, mean_maps

log = logging.getLogger(__name__)
REFINEMENT_KEYS = ("test_time_flip", "location_prior")


class CalibrationFailed(ValueError):
    """Calibration cannot run; one line."""


def fit_prior(predictor: Predictor, root: Path, batch: int = 32) -> tuple[dict[str, np.ndarray], int]:
    """Mean map of each finding over its training images; returns (maps, images used)."""
    dataset = FolderDataset(root, "train", class_names=predictor.class_names)
    labels: dict[Path, list[str]] = {}
    for path, label in dataset.samples:
        labels.setdefault(path.resolve(), []).append(dataset.class_names[label])
    sums: dict[str, np.ndarray] = {}
    counts = dict.fromkeys(predictor.class_names, 0)
    paths = list(labels)
    for start in range(0, len(paths), batch):
        images, kept = [], []
        for path in paths[start : start + batch]:
            try:
                images.append(read_image(path))
                kept.append(path)
            except ImageReadError as exc:
                log.warning("%s", exc)
        for path, pred in zip(kept, predictor.predict_batch(images)):
            for finding in labels[path]:
                small = pred.small_maps[finding]
                sums[finding] = sums.get(finding, np.zeros_like(small)) + small
                counts[finding] += 1
    return mean_maps(sums, counts), len(paths)


def calibrate(weights: Path, data: Path, out: Path, iou: float = 0.3,
              prior_weights: Sequence[float] = (0.0, 0.5, 1.0, 2.0), flips: Sequence[bool] = (False, True),
              device: str = "auto", max_box_ratio: float | None = None) -> dict:
    """Fit, choose and write (see the module docstring); returns the `calibration` record."""
    weights, data, out = Path(weights), Path(data), Path(out)
    if out.resolve() == weights.resolve():
        raise CalibrationFailed(f"{out}: give a new file; the input weights are never overwritten")
    model, metadata = load_weights(weights)
    base = {k: v for k, v in metadata.items() if k not in REFINEMENT_KEYS}
    plain = Predictor(model, base, device=device, batch_size=32, name=weights.name)
    prior, n_images = fit_prior(plain, data)
    if not prior:
        raise CalibrationFailed(f"{data / 'train'}: no training image of a finding the model knows")
    val = LocalizationSet(data, split="test", class_names=plain.class_names)
    trials, best = [], None
    for flip, weight in itertools.product(flips, prior_weights):
        refinement = MapRefinement(flip=flip, prior_weight=weight, prior_maps=prior if weight > 0 else {})
        predictor = Predictor(model, {**base, **refinement.to_metadata()}, device=device, batch_size=32)
        rows, errors = rows_from_predictor(predictor, val)
        choice = operating_choice(score(rows, plain.class_names, errors), iou, plain.class_names, 0.5, max_box_ratio)
        trials.append({"test_time_flip": flip, "prior_weight": weight, "metric": round(choice["metric"], 4)})
        log.info("flip %s, prior weight %g: %s = %.3f", flip, weight, choice["name"], choice["metric"])
        if best is None or choice["metric"] > best[1]["metric"] + 1e-9:
            best = (refinement, choice)
    refinement, choice = best
    record = {"data": str(data), "split": "test", "iou": iou, "max_box_ratio": max_box_ratio,
              "prior_images": n_images, "trials": trials,
              "chosen": {"test_time_flip": refinement.flip, "prior_weight": refinement.prior_weight,
                         "metric": round(choice["metric"], 4), "name": choice["name"]}}
    new = copy.deepcopy(base)
    new.update(refinement.to_metadata())
    new.update(default_threshold=choice["default_threshold"], fpm_thresholds=choice["fpm_thresholds"],
               operating_points=choice["operating_points"], calibration=record)
    save_weights(model, out, new, dtype=torch.float16 if _stored_half(weights) else None)
    return record


def _stored_half(path: Path) -> bool:
    """Whether the file stores its floating-point tensors in float16 (the copy keeps that)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return any(fh.get_slice(k).get_dtype() == "F16" for k in list(fh.keys())[:8])
