"""Metrics that sweep the map threshold: MaxBoxAccV2 and GT-known accuracy curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sr_core.boxes import FloatBox, sweep_boxes_by_mode
from sr_core.evaluation.metrics.localization import check_thresholds, threshold_key
from sr_core.evaluation.metrics.overlap import as_boxes, iou_matrix

MAXBOXACC_IOU_LEVELS = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class FpmRecord:
    """One (image, finding) with its foreground map, for metrics that sweep the threshold.

    Attributes:
        image: image identifier.
        finding: the record's finding.
        fpm: (h, w) map in [0, 1], normalised per image (upsample_fpm); a modest size such as
            256x256 keeps sweeps fast.
        gt_boxes: ground-truth boxes in image pixels; at least one.
        image_size: (H, W) of the image the boxes live in; None when the fpm is at image size.
            Predicted boxes are scaled from the fpm grid to image pixels.
    """

    image: str
    finding: str
    fpm: np.ndarray
    gt_boxes: Sequence[FloatBox]
    image_size: tuple[int, int] | None = None


def _sweep_thresholds(thresholds: Sequence[float] | np.ndarray | None, step: float) -> np.ndarray:
    """The map thresholds: given ones (1-D, finite, non-empty) or np.arange(0, 1, step)."""
    if thresholds is None:
        if not 0.0 < step <= 1.0:
            raise ValueError(f"threshold step must be in (0, 1], got {step!r}")
        return np.arange(0.0, 1.0, step)
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"thresholds must be a non-empty 1-D list of numbers, got {thresholds!r}")
    return values


@dataclass(frozen=True)
class _Sweep:
    """One box rule's sweep: best (R, T) best IoU of any predicted box with any GT box (0: no
    box); area (R, T) mean predicted box area (0: no box); gt_area (R,) mean GT box area."""

    best: np.ndarray
    area: np.ndarray
    gt_area: np.ndarray


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _best_iou_sweeps(records: Sequence[FpmRecord], thresholds: np.ndarray, modes: Sequence[str]) -> dict[str, _Sweep]:
    """{mode: its _Sweep}; each map is traced once per threshold for all the modes."""
    if not records:
        raise ValueError("need at least one record")
    shape = (len(records), len(thresholds))
    best = {mode: np.zeros(shape) for mode in modes}
    area = {mode: np.zeros(shape) for mode in modes}
    gt_area = np.zeros(len(records))
    for k, record in enumerate(records):
        gts = as_boxes(record.gt_boxes, f"gt_boxes of {record.image}")
        if len(gts) == 0:
            raise ValueError(f"{record.image} ({record.finding}) has no ground-truth box")
        gt_area[k] = _areas(gts).mean()
        for mode, per_threshold in sweep_boxes_by_mode(record.fpm, thresholds, modes).items():
            counts = np.array([len(b) for b in per_threshold])
            if counts.sum() == 0:
                continue
            preds = np.concatenate(per_threshold).astype(np.float64)
            if record.image_size is not None:
                h, w = np.shape(record.fpm)
                preds *= np.array([record.image_size[1] / w, record.image_size[0] / h] * 2)
            # One IoU matrix for every box at every threshold, then the max per threshold.
            per_box = iou_matrix(preds, gts).max(axis=1)
            at = np.repeat(np.arange(len(thresholds)), counts)
            np.maximum.at(best[mode][k], at, per_box)
            sums = np.bincount(at, weights=_areas(preds), minlength=len(thresholds))
            area[mode][k] = np.divide(sums, counts, out=np.zeros(len(thresholds)), where=counts > 0)
    return {mode: _Sweep(best[mode], area[mode], gt_area) for mode in modes}


def _box_ratio(area: np.ndarray, gt_area: np.ndarray) -> np.ndarray:
    """(T,) mean predicted box area / mean GT box area over the records with a box (NaN: none),
    the box-size figure of the reports (benchmarks/ablation.py)."""
    boxed = area > 0
    count = boxed.sum(axis=0)
    pred = np.divide(area.sum(axis=0), count, out=np.full(area.shape[1], np.nan), where=count > 0)
    gt = np.divide((gt_area[:, None] * boxed).sum(axis=0), count, out=np.full(area.shape[1], np.nan), where=count > 0)
    return pred / gt


def _max_box_acc(best: np.ndarray, thresholds: np.ndarray, levels: Sequence[float]) -> dict:
    """max_box_acc_v2's report from the (R, T) best IoUs of the "all" rule."""
    report: dict = {"best_threshold": {}}
    for delta in levels:
        accuracy = (best >= delta).mean(axis=0)
        at = int(np.argmax(accuracy))
        report[threshold_key(delta)] = float(accuracy[at])
        report["best_threshold"][threshold_key(delta)] = float(thresholds[at])
    report["mean"] = float(np.mean([report[threshold_key(d)] for d in levels]))
    return report


def _gt_known_curve(records: Sequence[FpmRecord], sweep: _Sweep, thresholds: np.ndarray, iou_threshold: float) -> dict:
    """gt_known_curve's curves from one box rule's sweep."""
    best = sweep.best
    hits = best > float(iou_threshold)
    findings = np.array([r.finding for r in records])
    names = sorted(set(findings.tolist()))
    per_class = {name: hits[findings == name].mean(axis=0) for name in names}
    iou_per_class = {name: best[findings == name].mean(axis=0) for name in names}
    overall_ratio = _box_ratio(sweep.area, sweep.gt_area)
    return {
        "thresholds": thresholds,
        "per_class": per_class,
        "class_mean": np.mean(list(per_class.values()), axis=0),
        "image_mean": hits.mean(axis=0),
        # The mean best IoU at each threshold: what breaks ties between thresholds of equal
        # accuracy (best_thresholds).
        "mean_iou": {"per_class": iou_per_class, "class_mean": np.mean(list(iou_per_class.values()), axis=0),
                     "image_mean": best.mean(axis=0)},
        # Mean predicted over mean GT box area at each threshold: what bounds the box size
        # in best_thresholds(max_box_ratio=...).
        "box_ratio": {"per_class": {name: _box_ratio(sweep.area[findings == name], sweep.gt_area[findings == name])
                                    for name in names},
                      "class_mean": overall_ratio, "image_mean": overall_ratio},
    }


def max_box_acc_v2(
    records: Sequence[FpmRecord],
    thresholds: Sequence[float] | np.ndarray | None = None,
    step: float = 0.01,
    iou_levels: Sequence[float] = MAXBOXACC_IOU_LEVELS,
) -> dict:
    """MaxBoxAccV2 (Choe et al., CVPR 2020, "Evaluating weakly supervised object localization
    methods right").

    At every map threshold every connected component gives a box; a record is correct when
    any of them reaches IoU >= delta with any GT box (the paper's ``>=`` and "multiple boxes"
    setting). For each delta the accuracy is maximised over the thresholds; the score is the
    mean over the deltas. The paper boxes every contour, holes included; we box each
    connected component (sr_core.boxes), so a hole's own box is not a candidate.

    Args:
        records: maps and GT boxes.
        thresholds: map thresholds; default ``np.arange(0, 1, step)``.
        step: threshold spacing when thresholds is None (0.01 as in the paper).
        iou_levels: the deltas.

    Returns:
        ``{"0.3": acc, "0.5": acc, "0.7": acc, "mean": x, "best_threshold": {"0.3": t, ...}}``,
        best_threshold being the first threshold reaching each maximum.
    """
    thresholds = _sweep_thresholds(thresholds, step)
    levels = check_thresholds(iou_levels, "iou_levels")
    return _max_box_acc(_best_iou_sweeps(records, thresholds, ("all",))["all"].best, thresholds, levels)


def gt_known_curve(
    records: Sequence[FpmRecord],
    thresholds: Sequence[float] | np.ndarray | None = None,
    iou_threshold: float = 0.1,
    mode: str = "largest",
    step: float = 0.01,
) -> dict:
    """GT-known accuracy (IoU > iou_threshold) as a function of the map threshold.

    For plots and for choosing the default threshold and per-finding operating points
    (best_thresholds). mode is the box rule of inference: "largest" (the SR paper's rule,
    sr_core/README.md#method) or "all".

    Returns:
        ``{"thresholds": (T,), "per_class": {finding: (T,)}, "class_mean": (T,),
        "image_mean": (T,)}`` numpy arrays.
    """
    thresholds = _sweep_thresholds(thresholds, step)
    return _gt_known_curve(records, _best_iou_sweeps(records, thresholds, (mode,))[mode], thresholds, iou_threshold)


def sweep_metrics(
    records: Sequence[FpmRecord],
    iou_thresholds: Sequence[float],
    mode: str = "largest",
    thresholds: Sequence[float] | np.ndarray | None = None,
    step: float = 0.01,
    iou_levels: Sequence[float] = MAXBOXACC_IOU_LEVELS,
) -> tuple[dict, list[dict]]:
    """max_box_acc_v2 and gt_known_curve at several IoU thresholds from one sweep of the maps.

    The same numbers as the separate calls, but each map is thresholded and traced once
    per map threshold instead of once per metric (the sweeps are most of an evaluation's
    CPU time).

    Returns:
        ``(max_box_acc_v2(records, thresholds, step, iou_levels),
        [gt_known_curve(records, thresholds, t, mode, step) for t in iou_thresholds])``.
    """
    thresholds = _sweep_thresholds(thresholds, step)
    levels = check_thresholds(iou_levels, "iou_levels")
    best = _best_iou_sweeps(records, thresholds, ("all", mode))
    curves = [_gt_known_curve(records, best[mode], thresholds, t) for t in iou_thresholds]
    return _max_box_acc(best["all"].best, thresholds, levels), curves


def _curves(curve: dict, key: str) -> dict[str, np.ndarray]:
    """{finding, "class_mean", "image_mean": (T,)} of one of a curve's per-threshold figures."""
    part = curve.get(key) or {}
    return {**part.get("per_class", {}), **{k: part[k] for k in ("class_mean", "image_mean") if k in part}}


def best_thresholds(curve: dict, max_box_ratio: float | None = None) -> dict[str, float]:
    """Map threshold maximising each curve of gt_known_curve; among thresholds of equal
    accuracy, the one with the highest mean IoU (then the first).

    Why the tie rule: on a few dozen images per finding an accuracy curve is a staircase with
    wide flat tops, and the first threshold of a top is its lowest, which gives the largest
    boxes. The mean IoU picks, within the top, the boxes that fit the findings best.

    max_box_ratio: only thresholds whose boxes are on average at most this many times the GT
    boxes' area compete (per finding its own boxes, for the means all of them); a curve with
    no such threshold keeps the unbounded choice.

    Returns:
        ``{finding: t, ..., "class_mean": t, "image_mean": t}``.
    """
    curves = {**curve["per_class"], "class_mean": curve["class_mean"], "image_mean": curve["image_mean"]}
    ties, ratios = _curves(curve, "mean_iou"), _curves(curve, "box_ratio")
    out = {}
    for name, accuracy in curves.items():
        accuracy = np.asarray(accuracy, dtype=np.float64)
        allowed = np.ones(len(accuracy), dtype=bool)
        if max_box_ratio is not None and name in ratios:
            ratio = np.asarray(ratios[name], dtype=np.float64)
            allowed = ~(ratio > max_box_ratio)  # NaN (no box at all) is not too large
            if not allowed.any():
                allowed[:] = True
        masked = np.where(allowed, accuracy, -np.inf)
        top = np.flatnonzero(np.isclose(masked, masked.max(), rtol=0, atol=1e-12))
        if name in ties:
            top = top[[int(np.argmax(np.asarray(ties[name])[top]))]]
        out[name] = float(curve["thresholds"][int(top[0])])
    return out
