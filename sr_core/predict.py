"""Predictor: the one facade the viewer and the command-line tools use to run a model.

    predictor = Predictor.from_weights("model.safetensors")        # device "auto"
    prediction = predictor.predict(read_image("chest.png"))
    prediction.probabilities            # {finding: probability}
    prediction.fpm("Effusion")          # float32 HxW in [0, 1] at image size
    prediction.boxes(0.6, "Effusion")   # [(x0, y0, x1, y1)] in image pixels

The model runs once per image; every threshold afterwards is derived from the cached map.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sr_core.boxes import Box, Mode, Regions, threshold_regions, upsample_fpm
from sr_core.checkpoint import load_weights
from sr_core.data.transforms import eval_transforms
from sr_core.io import XrayImage
from sr_core.models import SRModel

DEFAULT_THRESHOLD = 0.5
"""FPM threshold used when a weights file does not carry its own (chosen on validation data)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" means the first CUDA device when one is usable, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no usable GPU was found; use device 'cpu' or 'auto'")
    return device


@dataclass
class Prediction:
    """What the model says about one image; maps are upsampled lazily and cached.

    Attributes:
        probabilities: {finding: softmax probability}.
        small_maps: {finding: (h, w) float32 map at the model's resolution}.
        top_findings: findings whose maps are averaged for `fpm(None)` (the top-k).
        width, height: image size the maps are upsampled to.
        default_threshold: the weights' FPM threshold.
        thresholds: per-finding FPM thresholds from the weights (operating points).
    """

    probabilities: dict[str, float]
    small_maps: dict[str, np.ndarray]
    top_findings: list[str]
    width: int
    height: int
    default_threshold: float = DEFAULT_THRESHOLD
    thresholds: dict[str, float] = field(default_factory=dict)
    _cache: dict[str | None, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def findings(self) -> list[str]:
        """Findings sorted by probability, most likely first."""
        return sorted(self.probabilities, key=self.probabilities.__getitem__, reverse=True)

    @property
    def top_finding(self) -> str:
        return self.findings[0]

    def threshold_for(self, finding: str | None = None) -> float:
        """The weights' operating threshold for a finding (the default one if it has none)."""
        return self.thresholds.get(finding, self.default_threshold) if finding else self.default_threshold

    def fpm(self, finding: str | None = None) -> np.ndarray:
        """The foreground map at image size, float32 in [0, 1].

        Args:
            finding: a finding name, or None for the mean map of the top-k predicted findings.
        """
        if finding not in self._cache:
            if finding is None:
                small = np.mean([self.small_maps[f] for f in self.top_findings], axis=0)
            elif finding in self.small_maps:
                small = self.small_maps[finding]
            else:
                raise KeyError(f"unknown finding {finding!r}; known: {', '.join(self.small_maps)}")
            self._cache[finding] = upsample_fpm(small, (self.height, self.width))
        return self._cache[finding]

    def drop_cache(self) -> None:
        """Free the full-size maps (they are rebuilt from the small maps on the next use)."""
        self._cache.clear()

    def regions(self, threshold: float | None = None, finding: str | None = None, mode: Mode = "largest") -> Regions:
        """Boxes, outlines and mask of the map at a threshold (the weights' one if None)."""
        if threshold is None:
            threshold = self.threshold_for(finding)
        return threshold_regions(self.fpm(finding), threshold, mode)

    def boxes(self, threshold: float | None = None, finding: str | None = None, mode: Mode = "largest") -> list[Box]:
        """Boxes (x0, y0, x1, y1), exclusive ends, in image pixels; [] for an empty mask."""
        return self.regions(threshold, finding, mode).boxes


class Predictor:
    """Runs an SR model on X-ray images: preprocessing, device, batching, autocast."""

    def __init__(self, model: SRModel, metadata: dict[str, Any], device: str | torch.device = "auto",
                 batch_size: int = 8, name: str = "model"):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.metadata = metadata
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.class_names: list[str] = list(metadata["class_names"])
        self.input_size = int(metadata.get("input_size", 256))
        self.default_threshold = float(metadata.get("default_threshold", DEFAULT_THRESHOLD))
        self.thresholds = {str(k): float(v) for k, v in (metadata.get("fpm_thresholds") or {}).items()}
        self.topk = min(int(model.head_cfg.topk), len(self.class_names))
        self._transform = eval_transforms(self.input_size, metadata.get("mean"), metadata.get("std"))
        self._lock = threading.Lock()  # one forward at a time per model (viewer workers)

    @classmethod
    def from_weights(cls, path: str | os.PathLike, device: str | torch.device = "auto", batch_size: int = 8) -> Predictor:
        """Load a weights file (raises checkpoint.WeightsError with a one-line message)."""
        model, metadata = load_weights(path)
        return cls(model, metadata, device=device, batch_size=batch_size, name=os.path.basename(str(path)))

    def predict(self, image: XrayImage) -> Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(
        self, images: Sequence[XrayImage], progress: Callable[[int, int], None] | None = None
    ) -> list[Prediction]:
        """Predict many images in batches; `progress(done, total)` is called after each batch."""
        out: list[Prediction] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            out.extend(self._predict_chunk(chunk))
            if progress is not None:
                progress(len(out), len(images))
        return out

    def _predict_chunk(self, images: Sequence[XrayImage]) -> list[Prediction]:
        batch = torch.stack([self._transform(img.pixels) for img in images]).to(self.device)
        use_autocast = self.device.type == "cuda"
        with self._lock, torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=use_autocast):
            logits, maps = self.model.finding_maps(batch)
        probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
        maps = maps.float().cpu().numpy()
        results = []
        for img, p, m in zip(images, probs, maps):
            order = np.argsort(-p)[: self.topk]
            results.append(
                Prediction(
                    probabilities={c: float(v) for c, v in zip(self.class_names, p)},
                    small_maps={c: m[i] for i, c in enumerate(self.class_names)},
                    top_findings=[self.class_names[i] for i in order],
                    width=img.width,
                    height=img.height,
                    default_threshold=self.default_threshold,
                    thresholds=dict(self.thresholds),
                )
            )
        return results
