"""Localization and classification metrics (METHOD.md §6).

Boxes are ``(x0, y0, x1, y1)`` with exclusive ends (``sr_core.boxes``).

* overlap: IoU, IoBB (intersection / area of the predicted box) and their matrices.
* localization: GT-known and top-1 accuracy, hit when the best overlap is > T.
* sweeps: MaxBoxAccV2 (Choe et al. 2020, IoU >= delta) and accuracy-vs-threshold curves.
* classification: top-1 accuracy, per-class AUC.
* published: Wang et al. 2017 table and the comparison printout (beside it, or another report).

Reports are plain dicts (string keys, floats, None for "undefined") ready for ``json.dump``;
threshold keys come from threshold_key: 0.1 -> "0.1", 0.25 -> "0.25".
"""

from sr_core.metrics.classification import classification_report, roc_auc
from sr_core.metrics.localization import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    LocalizationRecord,
    localization_report,
    threshold_key,
)
from sr_core.metrics.overlap import Box, iobb, iobb_matrix, iou, iou_matrix
from sr_core.metrics.published import (
    WANG2017_LABEL,
    WANG2017_TABLE,
    format_comparison_table,
    report_name,
    report_table,
)
from sr_core.metrics.sweeps import (
    MAXBOXACC_IOU_LEVELS,
    FpmRecord,
    best_thresholds,
    gt_known_curve,
    max_box_acc_v2,
    sweep_metrics,
)

__all__ = [
    "IOBB_THRESHOLDS",
    "IOU_THRESHOLDS",
    "MAXBOXACC_IOU_LEVELS",
    "WANG2017_LABEL",
    "WANG2017_TABLE",
    "Box",
    "FpmRecord",
    "LocalizationRecord",
    "best_thresholds",
    "classification_report",
    "format_comparison_table",
    "gt_known_curve",
    "iobb",
    "iobb_matrix",
    "iou",
    "iou_matrix",
    "localization_report",
    "max_box_acc_v2",
    "report_name",
    "report_table",
    "roc_auc",
    "sweep_metrics",
    "threshold_key",
]
