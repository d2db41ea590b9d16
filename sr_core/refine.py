"""What maps can learn without boxes: test-time flip averaging and a class-conditional location prior.

Both travel in the weights file's metadata, so the viewer, sr-core-infer and sr-core-eval apply
them alike (sr_core.predict does), and `sr-core-train calibrate` fits them:

    test_time_flip   true: the model also sees the mirrored image; probabilities and maps
                     (mirrored back) are averaged. Chest films are not symmetric (the heart),
                     so this is measured, not assumed.
    location_prior   {"weight": a, "maps": {finding: h x w list}}: the mean of the model's OWN
                     maps over the training images of each finding (image-level labels only:
                     no box is used), floored at PRIOR_FLOOR and scaled to a peak of 1. A map is
                     refined as minmax(map * prior ** a); a = 0 leaves it as it is.

The weight a, the flip and the map thresholds are chosen on the validation boxes of the
calibration layout, at one IoU (0.3 by default: IoU>0.1 rewards boxes that cover the chest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

PRIOR_FLOOR = 0.05
"""Lowest prior value: no place is ruled out, however rarely a finding's map lit it."""


@dataclass
class MapRefinement:
    """The refinement a weights file asks for (see the module docstring)."""

    flip: bool = False
    prior_weight: float = 0.0
    prior_maps: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: dict) -> MapRefinement:
        """Read `test_time_flip` and `location_prior`; ValueError names a malformed entry."""
        prior = metadata.get("location_prior") or {}
        try:
            maps = {str(k): np.asarray(v, dtype=np.float32) for k, v in (prior.get("maps") or {}).items()}
            weight = float(prior.get("weight", 0.0))
        except (TypeError, ValueError, AttributeError):
            raise ValueError("location_prior in the weights metadata is malformed") from None
        if any(m.ndim != 2 for m in maps.values()) or weight < 0:
            raise ValueError("location_prior in the weights metadata is malformed")
        return cls(flip=bool(metadata.get("test_time_flip", False)), prior_weight=weight, prior_maps=maps)

    def to_metadata(self) -> dict:
        out: dict = {"test_time_flip": self.flip}
        if self.prior_maps:
            out["location_prior"] = {"weight": self.prior_weight,
                                     "maps": {k: np.round(v, 4).tolist() for k, v in self.prior_maps.items()}}
        return out

    @property
    def uses_prior(self) -> bool:
        return self.prior_weight > 0 and bool(self.prior_maps)

    def apply_prior(self, maps: np.ndarray, class_names: list[str]) -> np.ndarray:
        """(N, C, h, w) maps in [0, 1] -> the same with each finding's prior applied."""
        if not self.uses_prior:
            return maps
        out = maps.copy()
        for c, name in enumerate(class_names):
            prior = self.prior_maps.get(name)
            if prior is None:
                continue
            if prior.shape != maps.shape[2:]:
                prior = cv2.resize(prior, maps.shape[:1:-1], interpolation=cv2.INTER_LINEAR)
            out[:, c] = _minmax(maps[:, c] * np.power(np.clip(prior, PRIOR_FLOOR, 1.0), self.prior_weight))
        return out


def _minmax(maps: np.ndarray) -> np.ndarray:
    low = maps.min(axis=(-2, -1), keepdims=True)
    span = maps.max(axis=(-2, -1), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0).astype(np.float32)


def mean_maps(sums: dict[str, np.ndarray], counts: dict[str, int]) -> dict[str, np.ndarray]:
    """Per finding: the mean map, floored at PRIOR_FLOOR and scaled to a peak of 1."""
    out = {}
    for name, total in sums.items():
        mean = total / max(counts[name], 1)
        peak = float(mean.max())
        out[name] = np.clip(mean / peak if peak > 0 else np.ones_like(mean), PRIOR_FLOOR, 1.0).astype(np.float32)
    return out
