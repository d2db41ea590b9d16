"""What a prediction is, without torch: the result types the viewer and the tools read.

The viewer's state types its studies with these (importing the viewer must never wait for
torch); sr_core.predict builds them, and only the viewer's inference worker imports that.

    prediction.probabilities            # {finding: probability}
    prediction.fpm("Effusion")          # float32 HxW in [0, 1] at image size
    prediction.boxes(0.6, "Effusion")   # [(x0, y0, x1, y1)] in image pixels
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sr_core.boxes import Box, Mode, Regions, threshold_regions, upsample_fpm
from sr_core.io import XrayImage

DEFAULT_THRESHOLD = 0.5
"""FPM threshold used when a weights file does not carry its own (chosen on validation data)."""


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
        warning: one line saying why the image may not be a frontal chest film (DICOM header,
            feature distance; sr_core.ood), or None. It never replaces the results.
        ood_ratio: the feature distance over the weights' calibration limit (above 1 warns),
            or None when the weights carry no calibration.
    """

    probabilities: dict[str, float]
    small_maps: dict[str, np.ndarray]
    top_findings: list[str]
    width: int
    height: int
    default_threshold: float = DEFAULT_THRESHOLD
    thresholds: dict[str, float] = field(default_factory=dict)
    warning: str | None = None
    ood_ratio: float | None = None
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


class PredictorLike(Protocol):
    """What the viewer reads of a predictor (sr_core.predict.Predictor is one).

    Typed here, not by importing Predictor, so that the viewer's jobs and controllers can
    name the type without importing torch.

    Attributes:
        metadata: The weights' metadata (class names, thresholds, provenance ...).
        device: Where the model runs (a torch.device; the viewer only shows str(device)).
        input_size: The square side the model's input is resized to.
    """

    metadata: dict[str, Any]
    device: Any
    input_size: int

    def predict(self, image: XrayImage) -> Prediction:
        """The model's findings and maps for one decoded image."""
        ...
