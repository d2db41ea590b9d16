"""Is this picture like the frontal chest films the model knows? Two checks, one warning line.

Every prediction runs both; either may give a reason, and the reasons join into one line
(`Prediction.warning`). A warning never hides probabilities or maps: the reader decides.

- The DICOM header, when there is one: a Modality that is not a radiograph (CT, MR, PX ...),
  a BodyPartExamined that is present and not chest, a lateral or oblique ViewPosition.
- The picture as the model sees it: a descriptor of the spatial mean of the normalised
  last-stage features (what the CAM head reads; `SRModel.finding_maps(...,
  return_features=True)`) followed by an 8x8 mean-pooled copy of the model's input (global
  pooling forgets where things are; the thumbnail keeps the layout: two lung fields beside a
  mediastinum). Each value is standardised by the calibration films' spread, then compared
  with them by a Mahalanobis distance under a probabilistic-PCA covariance (the top k
  principal directions with their own variances, one shared variance for all the others: a
  covariance shrunk to low rank plus isotropic noise). The limit is a stated percentile of
  the distances of calibration films, each measured by a fit that did not see it
  (out-of-fold), so the false-alarm rate on new chest films is about 100 - percentile.

The fitted statistics travel in the weights' metadata under "ood" (`FeatureReference.
to_metadata`, arrays as base64 float32: about 60 KB for 256 + 64 values and 32 directions),
so each weights file carries its own calibration; weights without it get the header check
only. Fitting and measuring: benchmarks/ood.py. numpy only.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sr_core.io.image import one_line

THUMBNAIL_SIDE = 8
FEATURES = "mean of the normalised last-stage features, then the 8x8 mean-pooled first input channel"
"""What the distance is measured on (`descriptors`); a reference fitted on anything else is refused."""
FORMAT_VERSION = 1
DEFAULT_COMPONENTS = 32
DEFAULT_PERCENTILE = 99.0

# Modalities a chest radiograph is stored under. "OT" (other) says nothing either way, so it
# raises no warning of its own; the feature check still runs.
_RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT"})
_MODALITY_NAMES = {
    "CT": "CT", "MR": "MR", "US": "ultrasound", "NM": "nuclear medicine", "PT": "PET",
    "MG": "mammography", "PX": "panoramic dental X-ray", "IO": "intra-oral X-ray",
    "XA": "angiography", "RF": "fluoroscopy", "XC": "photograph", "SEG": "segmentation",
    "SM": "microscopy", "OP": "ophthalmic photograph", "ES": "endoscopy", "BMD": "bone densitometry",
}
# Substrings of BodyPartExamined values that name the chest (DICOM defined terms, and the
# free text some sites write: THORAX, TORAX, PECHO, POUMON ...).
_CHEST_WORDS = ("CHEST", "THORA", "TORAX", "LUNG", "PECHO", "POUMON", "BRUST", "HEART", "RIB")
_LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT"})
_OBLIQUE_VIEWS = frozenset({"LAO", "RAO", "LPO", "RPO", "OBL", "OBLIQUE"})


class CalibrationError(ValueError):
    """A weights file's "ood" entry that cannot be used; the message is one line."""


def header_reason(metadata: dict[str, Any]) -> str | None:
    """Why the DICOM header says this is not a frontal chest radiograph, or None.

    Args:
        metadata: `XrayImage.metadata` (keys "modality", "body_part", "view_position"; absent
            for PNG/JPEG, which then pass).
    """
    reasons = []
    modality = str(metadata.get("modality") or "").strip().upper()
    if modality and modality not in _RADIOGRAPH_MODALITIES:
        name = _MODALITY_NAMES.get(modality)
        reasons.append(f"DICOM Modality is {modality}{f' ({name})' if name and name != modality else ''}, "
                       "not a radiograph")
    body_part = str(metadata.get("body_part") or "").strip().upper()
    if body_part and not any(word in body_part for word in _CHEST_WORDS):
        reasons.append(f"DICOM BodyPartExamined is {body_part}, not chest")
    view = str(metadata.get("view_position") or "").strip().upper()
    if view in _LATERAL_VIEWS or view in _OBLIQUE_VIEWS:
        kind = "lateral" if view in _LATERAL_VIEWS else "oblique"
        reasons.append(f"DICOM ViewPosition is {view} ({kind}; the model knows frontal films)")
    return "; ".join(reasons) or None


def feature_reason(ratio: float | None) -> str | None:
    """The feature check's reason for a distance `ratio` (distance / limit), or None."""
    if ratio is None or ratio <= 1.0:
        return None
    if not np.isfinite(ratio):
        return "not like the chest films this model was trained on (its features are not finite)"
    return f"not like the chest films this model was trained on (feature distance {ratio:.2f}x the calibration limit)"


def warning_line(metadata: dict[str, Any], ratio: float | None) -> str | None:
    """The one warning line for an image: header reasons, then the feature reason; None if neither."""
    reasons = [r for r in (header_reason(metadata), feature_reason(ratio)) if r]
    return "; ".join(reasons) or None


def descriptors(pooled: np.ndarray, thumbnails: np.ndarray) -> np.ndarray:
    """(N, D) pooled features and (N, 8, 8) input thumbnails -> (N, D + 64) float32 descriptors."""
    pooled = np.asarray(pooled, dtype=np.float32)
    return np.concatenate([pooled, np.asarray(thumbnails, dtype=np.float32).reshape(len(pooled), -1)], axis=1)


def weights_fingerprint(array: np.ndarray) -> str:
    """A short hash of a weights tensor, as float16 so that fp32 and fp16 files agree.

    The reference records the fingerprint of the weights it was fitted with (the CAM head's
    last layer); a reference copied onto other weights is then recognised and not used.
    """
    data = np.ascontiguousarray(np.asarray(array, dtype=np.float16)).astype("<f2").tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class FeatureReference:
    """Where chest films' pooled features lie, and how far is too far.

    Attributes:
        mean: (D,) mean descriptor of the fitting films.
        scale: (D,) their standard deviation per value (the distance works on standardised values).
        components: (k, D) orthonormal principal directions of the standardised values.
        variances: (k,) variance along each direction.
        residual_variance: mean variance of the D - k directions left out.
        limit: the distance at `percentile` of the calibration films' out-of-fold distances.
        percentile: which percentile `limit` is.
        fingerprint: `weights_fingerprint` of the weights the features came from, or None.
        calibration: what it was fitted on (sources and counts), for model cards.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    residual_variance: float
    limit: float = float("inf")
    percentile: float = DEFAULT_PERCENTILE
    fingerprint: str | None = None
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def distances(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N,) distances, scaled so that a Gaussian match gives about 1."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != self.dim:
            raise ValueError(f"features have {x.shape[1]} values, the OOD reference {self.dim}")
        x = (x - self.mean) / self.scale
        z = x @ self.components.T.astype(np.float64)
        inside = (z**2 / self.variances).sum(axis=1)
        outside = np.maximum((x**2).sum(axis=1) - (z**2).sum(axis=1), 0.0) / self.residual_variance
        return np.sqrt((inside + outside) / self.dim)

    def ratios(self, features: np.ndarray) -> np.ndarray:
        """Distances divided by the limit: above 1 warns."""
        return self.distances(features) / self.limit

    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready form for the weights' metadata key "ood"."""
        return {
            "format_version": FORMAT_VERSION,
            "features": FEATURES,
            "method": "PPCA Mahalanobis distance, out-of-fold percentile limit",
            "dim": self.dim,
            "components": int(self.components.shape[0]),
            "mean": _encode(self.mean),
            "scale": _encode(self.scale),
            "directions": _encode(self.components),
            "variances": _encode(self.variances),
            "residual_variance": float(self.residual_variance),
            "limit": float(self.limit),
            "percentile": float(self.percentile),
            "fingerprint": self.fingerprint,
            "calibration": dict(self.calibration),
        }

    @classmethod
    def from_metadata(cls, data: Any) -> FeatureReference:
        """Rebuild from `to_metadata()`'s dict.

        Raises:
            CalibrationError: one line, when the entry is malformed, newer than this program, or was
                fitted on other features.
        """
        if not isinstance(data, dict):
            raise CalibrationError("OOD calibration ('ood' metadata) is not a JSON object")
        if not isinstance(data.get("format_version"), int) or data["format_version"] > FORMAT_VERSION:
            raise CalibrationError(f"OOD calibration format {data.get('format_version')} is newer than this program supports")
        if data.get("features") != FEATURES:
            raise CalibrationError(f"OOD calibration was fitted on {data.get('features')!r}, not {FEATURES!r}")
        try:
            dim, k = int(data["dim"]), int(data["components"])
            reference = cls(
                mean=_decode(data["mean"], (dim,)),
                scale=_decode(data["scale"], (dim,)),
                components=_decode(data["directions"], (k, dim)),
                variances=_decode(data["variances"], (k,)),
                residual_variance=float(data["residual_variance"]),
                limit=float(data["limit"]),
                percentile=float(data["percentile"]),
                fingerprint=data.get("fingerprint"),
                calibration=dict(data.get("calibration") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"OOD calibration ('ood' metadata) is malformed ({one_line(str(exc))})") from None
        values = (reference.scale, reference.variances, [reference.residual_variance, reference.limit])
        if not all(np.all(np.isfinite(v)) and np.all(np.asarray(v) > 0) for v in values):
            raise CalibrationError("OOD calibration ('ood' metadata) has non-positive variances or limit")
        return reference


def fit_reference(features: np.ndarray, components: int = DEFAULT_COMPONENTS) -> FeatureReference:
    """Fit mean, spread, principal directions and variances to (N, D) in-distribution features (no limit yet).

    Args:
        features: pooled features of chest films, N > components + 1.
        components: principal directions kept (k); capped at D - 1 and N - 2.
    """
    x = np.asarray(features, dtype=np.float64)
    n, dim = x.shape
    k = int(min(components, dim - 1, n - 2))
    if k < 1:
        raise ValueError(f"need more than {components + 1} feature vectors of more than one value, got {x.shape}")
    mean = _stored(x.mean(axis=0))
    spread = x.std(axis=0)
    # A value that hardly varies must not make any change in it look enormous.
    scale = _stored(np.maximum(spread, 1e-3 * float(np.median(spread)) + 1e-12))
    z = (x - mean) / scale
    _, singular, vt = np.linalg.svd(z, full_matrices=False)
    eigen = singular**2 / (n - 1)
    total = float((z**2).sum() / (n - 1))
    residual = max((total - eigen[:k].sum()) / (dim - k), 1e-12 * max(total, 1e-12))
    # Directions weaker than the residual would only add noise: floor them at it.
    variances = np.maximum(eigen[:k], residual)
    return FeatureReference(mean=mean, scale=scale, components=_stored(vt[:k]), variances=_stored(variances),
                            residual_variance=float(residual))


def calibrate_reference(
    features: np.ndarray,
    components: int = DEFAULT_COMPONENTS,
    percentile: float = DEFAULT_PERCENTILE,
    folds: int = 5,
    seed: int = 0,
    fingerprint: str | None = None,
    calibration: dict[str, Any] | None = None,
) -> tuple[FeatureReference, np.ndarray]:
    """Fit on all of `features` and set the limit from out-of-fold distances.

    Each film's distance is measured by a fit on the other folds, so the limit is not
    flattered by films the fit has seen (in-sample distances are biased low).

    Returns:
        (the reference, fitted on all and carrying the limit; the out-of-fold distances).
    """
    x = np.asarray(features, dtype=np.float64)
    if not 50.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [50, 100), got {percentile}")
    order = np.random.default_rng(seed).permutation(len(x))
    out_of_fold = np.empty(len(x))
    for fold in np.array_split(order, folds):
        rest = np.setdiff1d(order, fold)
        out_of_fold[fold] = fit_reference(x[rest], components).distances(x[fold])
    limit = float(np.percentile(out_of_fold, percentile))
    full = fit_reference(x, components)
    info = {"n": len(x), "folds": folds, "seed": seed, **(calibration or {})}
    reference = FeatureReference(full.mean, full.scale, full.components, full.variances, full.residual_variance,
                                 limit=limit, percentile=percentile, fingerprint=fingerprint, calibration=info)
    return reference, out_of_fold


def _stored(array: np.ndarray) -> np.ndarray:
    """The values as the metadata keeps them (float32), so a fitted and a loaded reference agree."""
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype="<f4")
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{values.size} values where {shape} needs {int(np.prod(shape))}")
    return values.astype(np.float64).reshape(shape)
