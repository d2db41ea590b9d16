"""sr_viewer.state.compare: the hit rule of sr_core's metrics."""

from __future__ import annotations

import pytest

from sr_viewer.state import GtBox, compare_boxes


def test_compare_uses_strictly_greater_than_like_sr_core_metrics():
    rows = compare_boxes([(0, 0, 10, 10)], "Mass", [GtBox("Mass", (0, 0, 10, 20))], iou_threshold=0.5)
    assert rows[1].iou == pytest.approx(0.5) and rows[1].hit is False
    before = compare_boxes([], None, [GtBox("Mass", (0, 0, 1, 1))], has_prediction=False)
    assert before[0].iou is None and before[0].hit is None
