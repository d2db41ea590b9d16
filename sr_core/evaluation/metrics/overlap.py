"""Box overlap: IoU and IoBB, scalar and (P, G) matrices.

Boxes are ``(x0, y0, x1, y1)`` with exclusive ends (``sr_core.boxes.FloatBox``; an integer
``sr_core.boxes.Box`` is one too): area = (x1-x0)*(y1-y0).
IoBB (Wang et al. 2017) = intersection / area of the **predicted** box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sr_core.boxes import FloatBox


def as_boxes(boxes: Sequence[FloatBox] | np.ndarray, name: str) -> np.ndarray:
    """Validated (N, 4) float64 array of boxes; ValueError naming `name` otherwise."""
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(boxes) else np.empty((0, 4))
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds non-finite coordinates")
    if (array[:, 2] < array[:, 0]).any() or (array[:, 3] < array[:, 1]).any():
        raise ValueError(f"{name} holds a box with x1 < x0 or y1 < y0 (boxes are x0, y0, x1, y1)")
    return array


def _intersection(preds: np.ndarray, gts: np.ndarray) -> np.ndarray:
    width = np.minimum(preds[:, None, 2], gts[None, :, 2]) - np.maximum(preds[:, None, 0], gts[None, :, 0])
    height = np.minimum(preds[:, None, 3], gts[None, :, 3]) - np.maximum(preds[:, None, 1], gts[None, :, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(preds: Sequence[FloatBox] | np.ndarray, gts: Sequence[FloatBox] | np.ndarray) -> np.ndarray:
    """(P, G) intersection over union; 0 where the union is empty."""
    preds, gts = as_boxes(preds, "preds"), as_boxes(gts, "gts")
    inter = _intersection(preds, gts)
    union = _area(preds)[:, None] + _area(gts)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iobb_matrix(preds: Sequence[FloatBox] | np.ndarray, gts: Sequence[FloatBox] | np.ndarray) -> np.ndarray:
    """(P, G) intersection over the predicted box's area; 0 for an empty predicted box."""
    preds, gts = as_boxes(preds, "preds"), as_boxes(gts, "gts")
    inter = _intersection(preds, gts)
    area = np.broadcast_to(_area(preds)[:, None], inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


def iou(box_a: FloatBox, box_b: FloatBox) -> float:
    """Intersection over union of two boxes (symmetric)."""
    return float(iou_matrix([box_a], [box_b])[0, 0])


def iobb(pred_box: FloatBox, gt_box: FloatBox) -> float:
    """Intersection over the area of the predicted box (Wang et al. 2017)."""
    return float(iobb_matrix([pred_box], [gt_box])[0, 0])
