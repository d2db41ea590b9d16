"""Foreground map (FPM) -> mask -> connected components -> boxes and outlines (sr_core/README.md#method).

Conventions shared by everything here:

* The mask is ``fpm >= threshold`` (a pixel equal to the threshold is foreground); the
  threshold is compared in the map's own dtype.
* Components are 8-connected.
* Boxes are ``(x0, y0, x1, y1)`` in image pixels with **exclusive** ends: ``x1 = x0 + width``,
  so a box covers columns ``x0 .. x1 - 1`` and converts to and from ``xywh`` without +-1.
  Pixel column ``x`` spans ``[x, x + 1)`` in this frame.
* Outlines (contours) are in the same frame: their vertices are boundary-pixel centres,
  ``(col + 0.5, row + 0.5)``, so a box and its outline draw with one transform and the
  outline lies inside its box, half a pixel from each side.
* An empty mask gives no box (the reference code's whole-image box is a known defect).

Speed: the components come from ``cv2.findContours`` (outer boundaries) rather than
``cv2.connectedComponentsWithStats``, whose statistics pass costs 4-8 ms on a 1024x1024 mask
on a 2-core CPU (about ten times this route); the boxes are the outlines' bounding rectangles and the pixel areas are counted
inside each box (see ``_component_areas``). ``benchmarks/boxes.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

Box = tuple[int, int, int, int]
"""A box found in a map: ``(x0, y0, x1, y1)`` in whole pixels, exclusive ends (the conventions above)."""
FloatBox = tuple[float, float, float, float]
"""A box in real-valued pixels, same convention: ground truth from the annotation files (NIH's are
fractional) and boxes rescaled to another image size. A ``Box`` is one too (an int is a float to
a type checker), so the metrics take ``FloatBox``. Two types because a found box is whole pixels
and a ground-truth or rescaled one is not."""
Mode = Literal["largest", "all"]
MODES: tuple[Mode, ...] = get_args(Mode)
"""The box modes, for a command line's choices or a menu: ``fpm_to_boxes(..., mode=m)``."""

# Above this many components the per-component area count loses to one labelling pass.
_MAX_COMPONENTS_FOR_CONTOUR_AREAS = 64


@dataclass(frozen=True)
class Regions:
    """Everything the viewer draws for one FPM at one threshold, from one pass over the mask.

    Attributes:
        boxes: kept components' boxes ``(x0, y0, x1, y1)``, exclusive ends, largest first.
        contours: outline of each kept component, ``contours[i]`` belongs to ``boxes[i]``;
            float32 arrays of shape (K, 2) holding ``(x, y)`` boundary-pixel centres
            (outer boundary only; holes are not outlined).
        areas: pixel count of each kept component.
        mask: uint8 HxW, 1 where ``fpm >= threshold`` (every component, before the
            mode/min_area selection: the heatmap cut).
    """

    boxes: list[Box]
    contours: list[np.ndarray]
    areas: list[int]
    mask: np.ndarray


def threshold_regions(
    fpm: np.ndarray, threshold: float, mode: Mode = "largest", min_area: int = 1
) -> Regions:
    """Threshold an FPM and return the kept components' boxes, outlines and the mask.

    Args:
        fpm: HxW real map, normally float in [0, 1] at image size.
        threshold: foreground is ``fpm >= threshold``.
        mode: ``"largest"`` keeps the component with most pixels (ties: the one whose first
            pixel comes first in raster order); ``"all"`` keeps every component, sorted by
            area descending (same tie rule).
        min_area: components with fewer pixels are dropped before the selection.

    Returns:
        Regions; with no foreground (or nothing of min_area) boxes and contours are empty.

    Raises:
        ValueError: fpm not a finite 2-D real array, threshold not finite, unknown mode,
            min_area not a non-negative integer.
    """
    fpm = _check_fpm(fpm)
    threshold = _check_threshold(threshold)
    _check_mode(mode)
    if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 0:
        raise ValueError(f"min_area must be a non-negative integer, got {min_area!r}")
    mask = _mask(fpm, threshold)
    outer, boxes = _outer_components(mask)
    keep = _select(mask, outer, boxes, mode, int(min_area))
    return Regions(
        boxes=[tuple(int(v) for v in boxes[i]) for i, _ in keep],
        contours=[outer[i].reshape(-1, 2).astype(np.float32) + 0.5 for i, _ in keep],
        areas=[area for _, area in keep],
        mask=mask,
    )


def fpm_to_boxes(
    fpm: np.ndarray, threshold: float, mode: Mode = "largest", min_area: int = 1
) -> list[Box]:
    """Boxes ``(x0, y0, x1, y1)`` (exclusive ends) of ``fpm >= threshold``; see threshold_regions."""
    return threshold_regions(fpm, threshold, mode, min_area).boxes


def contour(fpm: np.ndarray, threshold: float, mode: Mode = "largest") -> list[np.ndarray]:
    """Outlines ((K, 2) float32 ``(x, y)`` arrays) of the components fpm_to_boxes keeps."""
    return threshold_regions(fpm, threshold, mode).contours


def sweep_boxes(
    fpm: np.ndarray, thresholds: Sequence[float] | np.ndarray, mode: Mode = "all"
) -> list[np.ndarray]:
    """Boxes at many thresholds (the metric sweeps); the map is validated once.

    Args:
        fpm: HxW real map.
        thresholds: the thresholds, any order.
        mode: as in threshold_regions (min_area 1).

    Returns:
        One int64 array of shape (K_t, 4) per threshold, same box convention as
        threshold_regions; (0, 4) where nothing passes. With "all" the boxes come in no
        particular order (ranking them by area would double the cost of a sweep).
    """
    return sweep_boxes_by_mode(fpm, thresholds, (mode,))[mode]


def sweep_boxes_by_mode(
    fpm: np.ndarray, thresholds: Sequence[float] | np.ndarray, modes: Sequence[Mode] = MODES
) -> dict[str, list[np.ndarray]]:
    """sweep_boxes for several modes from one contour pass per threshold.

    The metrics sweep the same maps for MaxBoxAccV2 ("all") and for the inference rule's
    curves ("largest"); tracing each mask once serves both.

    Returns:
        ``{mode: sweep_boxes(fpm, thresholds, mode)}`` for each of modes.
    """
    fpm = _check_fpm(fpm)
    for mode in modes:
        _check_mode(mode)
    top = fpm.max()
    empty = np.empty((0, 4), np.int64)
    out: dict[str, list[np.ndarray]] = {mode: [] for mode in modes}
    for threshold in thresholds:
        threshold = _check_threshold(threshold)
        if fpm.dtype.type(threshold) > top:  # nothing passes: skip the contour pass
            for swept in out.values():
                swept.append(empty)
            continue
        mask = _mask(fpm, threshold)
        outer, boxes = _outer_components(mask)
        for mode, swept in out.items():
            if mode == "all":
                swept.append(boxes)
            else:
                swept.append(boxes[[i for i, _ in _select(mask, outer, boxes, mode, 1)]])
    return out


def upsample_fpm(fpm_small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Min-max normalise a small FPM to [0, 1] and upsample it bilinearly (sr_core/README.md#method).

    Args:
        fpm_small: (h, w) real map (e.g. the model's 8x8 output), finite.
        size: (H, W) of the image.

    Returns:
        (H, W) float32 in [0, 1]; a constant map gives zeros (not NaN).

    Raises:
        ValueError: bad map or size.
    """
    small = _check_fpm(fpm_small)
    if (
        len(size) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)
    ):
        raise ValueError(f"size must be (H, W) positive integers, got {size!r}")
    height, width = int(size[0]), int(size[1])
    lo, hi = float(small.min()), float(small.max())
    if not hi > lo:
        return np.zeros((height, width), np.float32)
    small = (small.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 1:  # cv2 returns a 1-D array for (1, W) targets in some builds
        out = out.reshape(height, width)
    # Bilinear weights keep values in [0, 1] up to float rounding; make the contract exact.
    return np.clip(out, 0.0, 1.0, out=out)


# --- internals --------------------------------------------------------------------------------


def _check_fpm(fpm: np.ndarray) -> np.ndarray:
    fpm = np.asarray(fpm)
    if fpm.ndim != 2 or fpm.shape[0] < 1 or fpm.shape[1] < 1:
        raise ValueError(f"fpm must be a non-empty 2-D array (H, W), got shape {fpm.shape}")
    if fpm.dtype.kind not in "fiub":
        raise ValueError(f"fpm must hold real numbers, got dtype {fpm.dtype}")
    if fpm.dtype not in (np.float32, np.float64):
        fpm = fpm.astype(np.float32)
    # min and max propagate NaN and expose inf without allocating a HxW bool array
    if not (np.isfinite(fpm.min()) and np.isfinite(fpm.max())):
        raise ValueError("fpm contains NaN or infinite values")
    return fpm


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    return value


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _mask(fpm: np.ndarray, threshold: float) -> np.ndarray:
    # numpy's compare is faster here than cv2.compare/threshold, and the bool result is
    # reinterpreted as 0/1 uint8 without a copy.
    return np.greater_equal(fpm, fpm.dtype.type(threshold)).view(np.uint8)


def _outer_components(mask: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Outer boundaries of the 8-connected components and their (K, 4) exclusive boxes.

    With RETR_CCOMP every component's outer boundary is top level (islands inside another
    component's hole included); the second level holds the holes, which we drop.
    """
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return [], np.empty((0, 4), np.int64)
    outer = [c for c, parent in zip(contours, hierarchy[0, :, 3]) if parent < 0]
    boxes = np.array([cv2.boundingRect(c) for c in outer], np.int64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return outer, boxes


def _select(
    mask: np.ndarray, outer: list[np.ndarray], boxes: np.ndarray, mode: str, min_area: int
) -> list[tuple[int, int]]:
    """(component index, area) of the kept components, largest first."""
    if not outer:
        return []
    areas = _component_areas(mask, outer, boxes)
    # Suzuki tracing starts each outer boundary at the component's first pixel in raster
    # order: that point breaks area ties the same way label order would.
    starts = np.array([c[0, 0] for c in outer]).reshape(-1, 2)
    order = np.lexsort((starts[:, 0], starts[:, 1], -areas))
    kept = [(int(i), int(areas[i])) for i in order if areas[i] >= min_area]
    return kept[:1] if mode == "largest" else kept


def _component_areas(mask: np.ndarray, outer: list[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    """Pixel count of each component.

    A component whose box meets no other box owns every foreground pixel in its box. For the
    others: filling the outer boundary covers the component and its holes; foreground inside
    that fill but not in the component belongs to components nested in its holes (at any
    depth), which have smaller boxes and are counted first, then subtracted.
    """
    count = len(outer)
    if count == 1:
        return np.array([cv2.countNonZero(mask)], np.int64)
    if count > _MAX_COMPONENTS_FOR_CONTOUR_AREAS:
        return _component_areas_by_labels(mask, outer)
    x0, y0, x1, y1 = boxes.T
    meets = (
        (x0[:, None] < x1[None, :])
        & (x0[None, :] < x1[:, None])
        & (y0[:, None] < y1[None, :])
        & (y0[None, :] < y1[:, None])
    )
    np.fill_diagonal(meets, False)
    areas = np.zeros(count, np.int64)
    crowded = []
    for i in range(count):
        if meets[i].any():
            crowded.append(i)
        else:
            areas[i] = cv2.countNonZero(mask[y0[i] : y1[i], x0[i] : x1[i]])
    crowded.sort(key=lambda i: (x1[i] - x0[i]) * (y1[i] - y0[i]))
    for i in crowded:
        roi = mask[y0[i] : y1[i], x0[i] : x1[i]]
        fill = np.zeros_like(roi)
        cv2.drawContours(fill, outer, i, 1, thickness=cv2.FILLED, offset=(-int(x0[i]), -int(y0[i])))
        nested = 0
        for j in np.flatnonzero(meets[i]):
            sx, sy = outer[j][0, 0]
            if x0[i] <= sx < x1[i] and y0[i] <= sy < y1[i] and fill[sy - y0[i], sx - x0[i]]:
                nested += areas[j]
        areas[i] = cv2.countNonZero(cv2.bitwise_and(fill, roi, dst=fill)) - nested
    return areas


def _component_areas_by_labels(mask: np.ndarray, outer: list[np.ndarray]) -> np.ndarray:
    """Pixel counts through one labelling pass (many components)."""
    count, labels = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    per_label = np.bincount(labels.ravel(), minlength=count)
    starts = np.array([c[0, 0] for c in outer]).reshape(-1, 2)
    return per_label[labels[starts[:, 1], starts[:, 0]]].astype(np.int64)
