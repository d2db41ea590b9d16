"""Predicted boxes against ground truth: IoU of each box and a hit/miss mark.

A ground-truth box is a hit when its best IoU with a predicted box is strictly greater than
the IoU threshold, the rule of sr_core.evaluation.metrics (Wang et al. 2017, "IoU > T").
Only the GT boxes of the shown finding are scored: the predicted boxes come from that
finding's map, and a box drawn for another finding is context (shown and named, never given
an IoU or a mark), as in the GT-known metric, which compares a map only with the boxes of
its own class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sr_core.evaluation.metrics import iou_matrix

from sr_viewer.state.study import GtBox
from sr_viewer.state.view import ViewSettings


@dataclass(frozen=True)
class BoxRow:
    """One line of the study's box table.

    Attributes:
        kind: "pred" or "gt".
        finding: The predicted finding, or the finding the box was drawn for.
        box: (x0, y0, x1, y1) in image pixels.
        iou: Best IoU against the other kind's boxes of the shown finding (None when there
            is none to compare, and for context rows).
        hit: For GT boxes of the shown finding, whether best IoU > threshold; None for
            predicted boxes, context rows, or when there is no prediction to compare with.
        context: A GT box of another finding than the shown one (drawn dimmed, not scored).
        drawn: A GT box the reader drew in the viewer (GtBox.drawn).
    """

    kind: str
    finding: str
    box: tuple[float, float, float, float]
    iou: float | None
    hit: bool | None
    context: bool = False
    drawn: bool = False

    @property
    def label(self) -> str:
        """What the canvas and the exported picture write beside a GT box."""
        if self.context:
            return f"GT {self.finding} (other finding)"
        if self.iou is None:
            return f"GT {self.finding}"
        return f"GT {self.finding} IoU {self.iou:.2f} {'hit' if self.hit else 'miss'}"


def same_finding(a: str | None, b: str | None) -> bool:
    """Whether two finding names are the same finding (spelling case aside)."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def compare_boxes(
    pred_boxes: list[tuple[int, int, int, int]],
    finding: str | None,
    gt_boxes: list[GtBox],
    iou_threshold: float = ViewSettings.default("iou_threshold"),
    has_prediction: bool = True,
) -> list[BoxRow]:
    """Rows for the predicted boxes (first) and the GT boxes (in their order).

    Args:
        pred_boxes: Predicted boxes of the shown finding.
        finding: The shown finding (label of the predicted rows; the GT boxes scored).
        gt_boxes: Ground truth of the study (every finding; the table names each one).
        iou_threshold: A GT box of the shown finding is a hit when its best IoU is > this.
        has_prediction: False before the model ran: GT rows then carry no IoU or mark, and
            none is context (no finding is shown).
    """
    shown = has_prediction and finding is not None
    scored = [j for j, g in enumerate(gt_boxes) if shown and same_finding(g.finding, finding)]
    gts = [gt_boxes[j].box for j in scored]
    matrix = iou_matrix(pred_boxes, gts) if pred_boxes and gts else np.zeros((len(pred_boxes), len(gts)))
    rows = []
    for i, box in enumerate(pred_boxes):
        best = float(matrix[i].max()) if gts else None
        rows.append(BoxRow("pred", finding or "", tuple(float(v) for v in box), best, None))
    column = {j: c for c, j in enumerate(scored)}  # GT index -> column of the IoU matrix
    for j, gt in enumerate(gt_boxes):
        if j in column:
            best = float(matrix[:, column[j]].max()) if pred_boxes else 0.0
            rows.append(BoxRow("gt", gt.finding, gt.box, best, best > iou_threshold, drawn=gt.drawn))
        else:
            rows.append(BoxRow("gt", gt.finding, gt.box, None, None, context=shown, drawn=gt.drawn))
    return rows
