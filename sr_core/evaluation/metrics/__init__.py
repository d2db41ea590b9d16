"""Localization and classification metrics: the evaluation of Wang et al. 2017 (ChestX-ray8,
CVPR 2017) and Choe et al. 2020 (CVPR 2020), on plain numbers (numpy, no torch).

Boxes are ``(x0, y0, x1, y1)`` with exclusive ends (``sr_core.boxes.FloatBox``).

* overlap: IoU, IoBB (intersection / area of the predicted box) and their matrices.
* localization: GT-known and top-1 accuracy, hit when the best overlap is > T.
* sweeps: MaxBoxAccV2 (Choe et al. 2020, IoU >= delta) and accuracy-vs-threshold curves.
* classification: top-1 accuracy, per-class AUC.

The published table and the side-by-side printout are reports: ``sr_core.evaluation.reports``.

Reports are plain dicts (string keys, floats, None for "undefined") ready for ``json.dump``;
threshold keys come from threshold_key: 0.1 -> "0.1", 0.25 -> "0.25".
"""

from sr_core.evaluation.metrics.classification import classification_report, roc_auc
from sr_core.evaluation.metrics.localization import (
    IOBB_THRESHOLDS,
    IOU_THRESHOLDS,
    LocalizationRecord,
    localization_report,
    threshold_key,
)
from sr_core.evaluation.metrics.overlap import iobb, iobb_matrix, iou, iou_matrix
from sr_core.evaluation.metrics.sweeps import (
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
    "FpmRecord",
    "LocalizationRecord",
    "best_thresholds",
    "classification_report",
    "gt_known_curve",
    "iobb",
    "iobb_matrix",
    "iou",
    "iou_matrix",
    "localization_report",
    "max_box_acc_v2",
    "roc_auc",
    "sweep_metrics",
    "threshold_key",
]
