"""Published reference numbers and a side-by-side table: a report beside them, or beside
another report, each column headed by whose numbers it holds."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from sr_core.evaluation.metrics.localization import threshold_key

WANG2017_LABEL = "Wang et al. 2017 (ResNet-50, trained on all of ChestX-ray8)"
WANG2017_COLUMN = "Wang 2017"
COLUMN_WIDTH = 14  # a column label is cut to this
_WANG2017_FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration",
    "Mass", "Nodule", "Pneumonia", "Pneumothorax",
)  # fmt: skip
# Localization accuracy on the 880 NIH box images: Wang et al. 2017 (ChestX-ray8, CVPR 2017), its
# localization table.
WANG2017_TABLE: dict[str, dict[str, float]] = {
    setting: dict(zip(_WANG2017_FINDINGS, row))
    for setting, row in {
        "T(IoBB)0.1": (0.728, 0.993, 0.712, 0.789, 0.435, 0.165, 0.750, 0.459),
        "T(IoU)0.1": (0.689, 0.938, 0.660, 0.707, 0.400, 0.139, 0.633, 0.378),
        "T(IoU)0.3": (0.244, 0.459, 0.301, 0.276, 0.153, 0.038, 0.167, 0.133),
        "T(IoU)0.5": (0.050, 0.178, 0.111, 0.065, 0.012, 0.013, 0.033, 0.031),
    }.items()
}


_SETTING = re.compile(r"T\((IoU|IoBB)\)\s*([0-9.]+)")


def _scored_findings(report: dict) -> list[str]:
    """The findings a report has accuracies for, in their first order."""
    return list(dict.fromkeys(f for kind in report["gt_known"].values() for block in kind.values()
                              for f in block["per_class"]))


def _accuracy(report: dict, setting: str, finding: str | None = None, field: str = "class_mean") -> float | None:
    """A report's GT-known accuracy at a "T(IoU)0.1"-style setting: one finding's, or a mean."""
    match = _SETTING.fullmatch(setting)
    if not match:
        return None
    block = report["gt_known"].get(match[1].lower(), {}).get(threshold_key(float(match[2])))
    if block is None:
        return None
    return block[field] if finding is None else block["per_class"].get(finding)


def report_name(report: dict) -> str:
    """Whose numbers a report holds: its baseline's name, its weights' file name, or its
    source (a predictions file); "this report" when it names none."""
    return report.get("baseline") or report.get("weights") or report.get("source") or "this report"


def column_label(name: str) -> str:
    """A name short enough to head a column: without .safetensors, cut to COLUMN_WIDTH."""
    name = name.removesuffix(".safetensors")
    return name if len(name) <= COLUMN_WIDTH else name[: COLUMN_WIDTH - 1] + "~"


def report_table(report: dict, settings: Sequence[str] = tuple(WANG2017_TABLE)) -> dict[str, dict[str, float]]:
    """A report's per-finding GT-known accuracies in the published tables' shape, so that
    format_comparison_table puts two reports (a model and a baseline) side by side.

    Returns:
        ``{setting: {finding: accuracy}}``; a setting the report did not compute is empty.
    """
    table = {}
    for setting in settings:
        values = {f: _accuracy(report, setting, f) for f in _scored_findings(report)}
        table[setting] = {f: v for f, v in values.items() if v is not None}
    return table


def format_comparison_table(report: dict, published: dict = WANG2017_TABLE, label: str = WANG2017_LABEL,
                            column: str | None = None) -> str:
    """A report's GT-known accuracy beside a published table, one row per finding.

    Args:
        report: localization_report output; named (report_name) in the title and its columns.
        published: {"T(IoU)0.1" | "T(IoBB)0.1" ...: {finding: accuracy}}; report_table of
            another report puts the two side by side.
        label: who the published numbers are from (the other report's name).
        column: the published side's column label; default: WANG2017_COLUMN for Wang et al.,
            else from label.

    Returns:
        A fixed-width text table; "-" where a side has no number.
    """
    settings = list(published)
    scored = _scored_findings(report)
    findings = list(dict.fromkeys([f for row in published.values() for f in row] + scored))
    counts = report.get("counts", {})

    name = report_name(report)
    left = column_label(name)
    right = column or (WANG2017_COLUMN if label == WANG2017_LABEL else column_label(label))
    cw = max(6, len(left), len(right))  # a cell's width

    def cell(value: float | None) -> str:
        return f"{value:{cw}.3f}" if value is not None else f"{'-':>{cw}}"

    width = max(len(f) for f in findings + ["image mean"])
    lines = [
        f"GT-known localization accuracy: {name} vs {label}",
        f"{'':{width}}  {'n':>5}  " + "  ".join(f"{s:^{2 * cw + 2}}" for s in settings),
        f"{'finding':{width}}  {'':>5}  " + "  ".join(f"{left:>{cw}}  {right:>{cw}}" for _ in settings),
    ]
    for finding in findings:
        count = counts.get(finding)
        lines.append(
            f"{finding:{width}}  {count if count is not None else '-':>5}  "
            + "  ".join(f"{cell(_accuracy(report, s, finding))}  {cell(published[s].get(finding))}" for s in settings)
        )
    for name, field in (("class mean", "class_mean"), ("image mean", "image_mean")):
        theirs = [
            float(np.mean(list(published[s].values()))) if field == "class_mean" and published[s] else None
            for s in settings
        ]
        lines.append(
            f"{name:{width}}  {report.get('n_records', '-'):>5}  "
            + "  ".join(f"{cell(_accuracy(report, s, None, field))}  {cell(t)}" for s, t in zip(settings, theirs))
        )
    lines.append(f"(class mean: {left} over the {len(scored)} findings it scored, {right} over the findings it lists)")
    return "\n".join(lines)
