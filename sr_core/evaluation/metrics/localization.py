"""GT-known and top-1 localization accuracy over (image, finding) records (Wang et al. 2017).

A record is a hit at threshold T when the best overlap over all (predicted, ground-truth) box
pairs is **strictly greater** than T (Wang et al. 2017, ChestX-ray8, "T(IoU) > T"); a record with no predicted box
is a miss. Top-1 localization also needs the image's top-1 finding to be the record's; it is
not applicable (None) when the boxes come without a classifier (a box-only baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sr_core.boxes import FloatBox
from sr_core.evaluation.metrics.overlap import iobb_matrix, iou_matrix

IOU_THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7)
IOBB_THRESHOLDS = (0.1, 0.25, 0.5, 0.75, 0.9)


def threshold_key(threshold: float) -> str:
    """JSON key of a threshold: shortest decimal, so 0.1 -> "0.1", 0.30000000000000004 -> "0.3"."""
    return f"{round(float(threshold), 6):g}"


def check_thresholds(thresholds: Sequence[float], name: str) -> list[float]:
    """Thresholds as floats in [0, 1]; ValueError naming `name` otherwise."""
    values = [float(t) for t in thresholds]
    if not values or not all(0.0 <= t <= 1.0 for t in values):
        raise ValueError(f"{name} must be a non-empty list of values in [0, 1], got {thresholds!r}")
    return values


@dataclass(frozen=True)
class LocalizationRecord:
    """One (image, finding) row of test_list with its predicted and ground-truth boxes.

    Attributes:
        image: image identifier (file name).
        finding: the ground-truth finding of this row.
        pred_boxes: predicted boxes for this finding (from its FPM); may be empty.
        gt_boxes: ground-truth boxes of this finding on this image; at least one.
        top1_finding: the finding the classifier ranked first for the image; None without a
            classifier.
    """

    image: str
    finding: str
    pred_boxes: Sequence[FloatBox]
    gt_boxes: Sequence[FloatBox]
    top1_finding: str | None


def _summarise(hits: np.ndarray, findings: np.ndarray, names: list[str]) -> dict:
    per_class = {name: float(hits[findings == name].mean()) for name in names}
    return {
        "per_class": per_class,
        "class_mean": float(np.mean(list(per_class.values()))),
        "image_mean": float(hits.mean()),
    }


def localization_report(
    records: Sequence[LocalizationRecord],
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
    iobb_thresholds: Sequence[float] = IOBB_THRESHOLDS,
) -> dict:
    """GT-known and top-1 localization accuracy at IoU and IoBB thresholds.

    Args:
        records: one per (image, finding) row; every record needs a ground-truth box.
        iou_thresholds, iobb_thresholds: thresholds T in [0, 1]; a hit needs overlap > T.

    Returns:
        ``{"n_records": N, "counts": {finding: n},
        "gt_known": {"iou": {"0.1": {"per_class": {finding: acc}, "class_mean": x,
        "image_mean": y}, ...}, "iobb": {...}}, "top1_loc": {same shape}}``;
        class_mean is the unweighted mean over the findings present, image_mean the fraction
        over all records. top1_loc is None when a record has no top-1 finding.

    Raises:
        ValueError: no records, a record without ground-truth boxes, malformed boxes or
            thresholds.
    """
    if not records:
        raise ValueError("localization_report needs at least one record")
    iou_thresholds = check_thresholds(iou_thresholds, "iou_thresholds")
    iobb_thresholds = check_thresholds(iobb_thresholds, "iobb_thresholds")
    best = {"iou": np.zeros(len(records)), "iobb": np.zeros(len(records))}
    for k, record in enumerate(records):
        if len(record.gt_boxes) == 0:
            raise ValueError(f"{record.image} ({record.finding}) has no ground-truth box")
        if len(record.pred_boxes) == 0:
            continue  # no box: best overlap stays 0, a miss at every T >= 0
        best["iou"][k] = iou_matrix(record.pred_boxes, record.gt_boxes).max()
        best["iobb"][k] = iobb_matrix(record.pred_boxes, record.gt_boxes).max()
    findings = np.array([r.finding for r in records])
    has_top1 = all(r.top1_finding is not None for r in records)
    correct = np.array([r.top1_finding == r.finding for r in records])
    names = sorted(set(findings.tolist()))
    report: dict = {
        "n_records": len(records),
        "counts": {name: int((findings == name).sum()) for name in names},
        "gt_known": {},
        "top1_loc": {},
    }
    for kind, thresholds in (("iou", iou_thresholds), ("iobb", iobb_thresholds)):
        report["gt_known"][kind], report["top1_loc"][kind] = {}, {}
        for t in thresholds:
            hits = best[kind] > t
            report["gt_known"][kind][threshold_key(t)] = _summarise(hits, findings, names)
            report["top1_loc"][kind][threshold_key(t)] = _summarise(hits & correct, findings, names)
    if not has_top1:
        report["top1_loc"] = None
    return report
