"""What the evaluation tests share: a LocalizationRecord in one line."""

from sr_core.evaluation.metrics import LocalizationRecord


def record(finding, preds, gts, top1=None, image="img.png"):
    return LocalizationRecord(image, finding, preds, gts, top1 or finding)
