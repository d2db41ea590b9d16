"""Ensembles: several SR weights files in one, their maps and probabilities mixed.

An ensemble file is one safetensors file (sr_core.checkpoint's ENSEMBLE_FORMAT): member i's
tensors under "m{i}.", and in the metadata each member's own metadata as it was in its file
(architecture, input size and normalisation, test-time flip and location prior, OOD fit), the
mix (one weight a member, summing to 1) and the ensemble's own map thresholds and operating
points, chosen for the mixed maps (`sr-core-train ensemble`, sr_core.train.ensemble).

For each image every member predicts as it would alone; then, per finding, each member's
small map is min-max normalised and brought to the finest member grid (upsample_fpm, the
rule every map goes by on its way to the image) and the maps are summed with the mix's
weights; the probabilities are mixed with the same weights. The OOD ratio is the largest of
the members' and the warning the first warning member's: an image any member finds unlike
its training films is flagged.

    predictor = Predictor.from_weights("ensemble.safetensors")   # an EnsemblePredictor
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open

from sr_core.boxes import upsample_fpm
from sr_core.checkpoint import (
    _METADATA_KEY,
    ENSEMBLE_FORMAT,
    FORMAT,
    FORMAT_VERSION,
    WeightsError,
    load_model,
    read_metadata,
    write_safetensors_atomic,
)
from sr_core.io import XrayImage
from sr_core.io.image import one_line
from sr_core.predict import Predictor
from sr_core.prediction import DEFAULT_THRESHOLD, Prediction


def check_mix(mix: Sequence[float], n: int) -> list[float]:
    """The mix as floats summing to 1 (raises ValueError: wrong length, negative, all zero)."""
    mix = [float(w) for w in mix]
    if len(mix) != n:
        raise ValueError(f"a mix of {len(mix)} weights for {n} members")
    if any(not w >= 0 for w in mix) or sum(mix) <= 0:  # `not >=` also catches NaN
        raise ValueError(f"mix weights must be >= 0 and not all 0, got {mix}")
    return [w / sum(mix) for w in mix]


class EnsemblePredictor:
    """Runs several Predictors on each image and mixes what they say (see the module docstring).

    It offers what the viewer and the tools use of a Predictor: predict, predict_batch,
    metadata, class_names, device, input_size, batch_size, name.

    Attributes:
        members: the member Predictors (each with its own refinement and OOD fit).
        mix: one weight a member, summing to 1.
        keep: whether each image's member predictions are kept (by file path) for the next
            call: choosing a mix scores the same images under many mixes.
    """

    def __init__(self, members: Sequence[Predictor], mix: Sequence[float], metadata: dict[str, Any] | None = None,
                 name: str = "ensemble", keep: bool = False) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs two or more members")
        names = [list(m.class_names) for m in members]
        if any(n != names[0] for n in names):
            raise ValueError("the members know different findings: " + "; ".join(", ".join(n) for n in names))
        self.members = list(members)
        self.mix = check_mix(mix, len(members))
        self.metadata = dict(metadata or {})
        self.metadata.setdefault("class_names", names[0])
        self.name = name
        self.class_names = names[0]
        self.device = members[0].device
        self.batch_size = members[0].batch_size
        self.input_size = max(m.input_size for m in members)
        self.default_threshold = float(self.metadata.get("default_threshold", DEFAULT_THRESHOLD))
        self.thresholds = {str(k): float(v) for k, v in (self.metadata.get("fpm_thresholds") or {}).items()}
        self.keep = keep
        self._kept: dict[str, tuple[Prediction, ...]] = {}

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "auto", batch_size: int = 8,
                  cuda_graphs: bool = False) -> EnsemblePredictor:
        """Load an ensemble file (raises checkpoint.WeightsError with a one-line message);
        cuda_graphs as for each member's Predictor."""
        path = Path(path)
        meta = read_metadata(path)
        if meta["format"] != ENSEMBLE_FORMAT:
            raise WeightsError(f"{path.name}: not an ensemble file")
        members = []
        for i, member in enumerate(meta["members"]):
            model = load_model(path, member["model"], prefix=f"m{i}.")
            try:
                members.append(Predictor(model, member, device=device, batch_size=batch_size, name=f"{path.name} [{i}]",
                                         cuda_graphs=cuda_graphs))
            except ValueError as exc:
                raise WeightsError(f"{path.name}: member {i}: {exc}") from None
        try:
            return cls(members, meta.get("mix") or [], meta, name=path.name)
        except ValueError as exc:
            raise WeightsError(f"{path.name}: {exc}") from None

    def with_mix(self, mix: Sequence[float], thresholds: dict[str, float] | None = None,
                 default_threshold: float = DEFAULT_THRESHOLD) -> EnsemblePredictor:
        """The same members (and kept predictions) under another mix and thresholds."""
        meta = {**self.metadata, "fpm_thresholds": dict(thresholds or {}), "default_threshold": default_threshold}
        other = EnsemblePredictor(self.members, mix, meta, self.name, self.keep)
        other._kept = self._kept
        return other

    def predict(self, image: XrayImage) -> Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(
        self, images: Sequence[XrayImage], progress: Callable[[int, int], None] | None = None
    ) -> list[Prediction]:
        """Predict many images; `progress(done, total)` is the last member's. With keep, an
        image with a file path already predicted is not predicted again."""
        images = list(images)
        keys = [str(img.path) if self.keep and img.path is not None else None for img in images]
        todo = [i for i, key in enumerate(keys) if key is None or key not in self._kept]
        fresh: dict[int, tuple[Prediction, ...]] = {}
        if todo:
            batch = [images[i] for i in todo]
            last = len(self.members) - 1
            found = [m.predict_batch(batch, progress if j == last else None) for j, m in enumerate(self.members)]
            fresh = dict(zip(todo, zip(*found)))
        for i, preds in fresh.items():
            if keys[i] is not None:
                self._kept[keys[i]] = preds
        return [self.mixed(fresh[i] if i in fresh else self._kept[keys[i]]) for i in range(len(images))]

    def mixed(self, predictions: Sequence[Prediction]) -> Prediction:
        """The members' predictions of one image, mixed."""
        grid = max((p.small_maps[c].shape for p in predictions for c in self.class_names), key=lambda s: s[0] * s[1])
        maps = {c: sum(w * upsample_fpm(p.small_maps[c], grid) for w, p in zip(self.mix, predictions))
                for c in self.class_names}
        probs = {c: float(sum(w * p.probabilities[c] for w, p in zip(self.mix, predictions))) for c in self.class_names}
        k = len(predictions[0].top_findings)
        ratios = [p.ood_ratio for p in predictions if p.ood_ratio is not None]
        first = predictions[0]
        return Prediction(
            probabilities=probs,
            small_maps={c: m.astype(np.float32) for c, m in maps.items()},
            top_findings=sorted(probs, key=probs.__getitem__, reverse=True)[:k],
            width=first.width, height=first.height,
            default_threshold=self.default_threshold,
            thresholds=dict(self.thresholds),
            warning=next((p.warning for p in predictions if p.warning), None),
            ood_ratio=max(ratios) if ratios else None,
        )


def save_ensemble(members: Sequence[str | os.PathLike], mix: Sequence[float], out: str | os.PathLike,
                  metadata: dict[str, Any]) -> Path:
    """Write the ensemble of the member files with `mix` and `metadata` (thresholds, operating
    points, calibration, provenance) to `out`, atomically. Member files are read, never changed.

    Raises:
        WeightsError: a member that is not a single-model weights file, or unreadable.
        ValueError: a bad mix, or `out` is one of the members.
    """
    members = [Path(m) for m in members]
    out = Path(out)
    if any(out.resolve() == m.resolve() for m in members):
        raise ValueError(f"{out}: give a new file; the member files are never overwritten")
    mix = check_mix(mix, len(members))
    metas, tensors = [], {}
    for i, path in enumerate(members):
        meta = read_metadata(path)
        if meta["format"] != FORMAT:
            raise WeightsError(f"{path.name}: an ensemble cannot be a member of another")
        metas.append(meta)
        try:
            with safe_open(str(path), framework="pt") as fh:
                for key in fh.keys():
                    tensors[f"m{i}.{key}"] = fh.get_tensor(key)
        except Exception as exc:
            raise WeightsError(f"{path.name}: unreadable tensors ({one_line(exc)[:200]})") from None
    names = [m["class_names"] for m in metas]
    if any(n != names[0] for n in names):
        raise ValueError("the members know different findings: " + "; ".join(", ".join(n) for n in names))
    described = " + ".join(f"{w:.2f} {m['model']['name']}" for w, m in zip(mix, metas))
    meta = {
        **metadata,
        "class_names": names[0],
        "input_size": max(int(m.get("input_size", 256)) for m in metas),
        "format": ENSEMBLE_FORMAT, "format_version": FORMAT_VERSION,
        "model": {"name": f"ensemble: {described}"},
        "members": metas, "member_files": [p.name for p in members], "mix": mix,
        "dtype": "/".join(sorted({str(m.get("dtype", "float32")) for m in metas})),
    }
    write_safetensors_atomic(tensors, {_METADATA_KEY: json.dumps(meta)}, out)
    return out
