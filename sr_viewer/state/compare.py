"""Predicted boxes against ground truth: IoU of each box and a hit/miss mark.

A ground-truth box is a hit when its best IoU with a predicted box is strictly greater than
the IoU threshold, the rule of sr_core.metrics (METHOD §6, "IoU > T").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sr_core.metrics import iou_matrix

from sr_viewer.state.study import GtBox

DEFAULT_IOU_THRESHOLD = 0.3


@dataclass(frozen=True)
class BoxRow:
    """One line of the study's box table.

    Attributes:
        kind: "pred" or "gt".
        finding: The predicted finding, or the finding the box was drawn for.
        box: (x0, y0, x1, y1) in image pixels.
        iou: Best IoU against the other kind's boxes (None when there is none to compare).
        hit: For GT boxes, whether best IoU > threshold; None for predicted boxes or
            when there is no prediction to compare with.
    """

    kind: str
    finding: str
    box: tuple[float, float, float, float]
    iou: float | None
    hit: bool | None


def compare_boxes(
    pred_boxes: list[tuple[int, int, int, int]],
    finding: str | None,
    gt_boxes: list[GtBox],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    has_prediction: bool = True,
) -> list[BoxRow]:
    """Rows for the predicted boxes (first) and the GT boxes, with IoU and hit/miss.

    Args:
        pred_boxes: Predicted boxes of the shown finding.
        finding: The shown finding (label of the predicted rows).
        gt_boxes: Ground truth of the study (every finding; the table names each one).
        iou_threshold: A GT box is a hit when its best IoU is > this.
        has_prediction: False before the model ran: GT rows then carry no IoU or mark.
    """
    gts = [g.box for g in gt_boxes]
    matrix = iou_matrix(pred_boxes, gts) if pred_boxes and gts else np.zeros((len(pred_boxes), len(gts)))
    rows = []
    for i, box in enumerate(pred_boxes):
        best = float(matrix[i].max()) if gts else None
        rows.append(BoxRow("pred", finding or "", tuple(float(v) for v in box), best, None))
    for j, gt in enumerate(gt_boxes):
        if not has_prediction:
            rows.append(BoxRow("gt", gt.finding, gt.box, None, None))
            continue
        best = float(matrix[:, j].max()) if pred_boxes else 0.0
        rows.append(BoxRow("gt", gt.finding, gt.box, best, best > iou_threshold))
    return rows
