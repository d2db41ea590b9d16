"""The study's boxes (predicted and ground truth) as CSV or JSON records.

Boxes are (x0, y0, x1, y1) in image pixels with exclusive ends, like sr_core.boxes. The
image column holds the file name: these tables are for the reader's own bookkeeping.
Every row names its finding; only the GT boxes of the shown finding carry an IoU and a hit
(GT boxes of other findings are rows with context = true and empty iou/hit).
Every box row carries its width, height and area, and the reader's distances follow the
boxes as rows of kind "distance" (x0, y0 -> x1, y1 are its ends) with their length; `unit`
is mm or px and `scale` says where the millimetres come from (sr_viewer.state.measure.Scale).
With a comparison open (comparison_records), model B's predicted boxes follow A's, and the
shown finding's GT boxes are listed once per model, each with that model's IoU and hit; the
`model` column says whose (it is empty on context GT rows and distances, which are no model's).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sr_viewer.state.document import Overlay

COLUMNS = ("image", "kind", "finding", "probability", "threshold", "x0", "y0", "x1", "y1", "iou", "hit", "context",
           "model", "width", "height", "area", "length", "unit", "scale")


def box_records(overlay: Overlay, model_name: str) -> list[dict[str, Any]]:
    """One record per box of the overlay (predicted boxes first, then ground truth), then one
    per distance the reader measured."""
    records = []
    scale = overlay.study.scale
    for row in overlay.rows:
        width, height, area = scale.size(row.box)
        x0, y0, x1, y1 = (round(float(v), 2) for v in row.box)
        records.append({
            "image": overlay.study.name,
            "kind": row.kind,
            "finding": row.finding,
            "probability": round(overlay.probability, 6) if overlay.probability is not None and row.kind == "pred" else None,
            "threshold": round(overlay.threshold, 4) if row.kind == "pred" else None,
            "x0": x0, "y0": y0, "x1": x1, "y1": y1,
            "iou": None if row.iou is None else round(row.iou, 4),
            "hit": row.hit,
            "context": row.context if row.kind == "gt" else None,
            "model": model_name if row.kind == "pred" else None,
            "width": round(width, 3), "height": round(height, 3), "area": round(area, 3), "length": None,
            "unit": scale.unit, "scale": scale.label,
        })
    for distance in overlay.study.measurements:
        (x0, y0), (x1, y1) = distance.start, distance.end
        records.append({
            "image": overlay.study.name, "kind": "distance", "finding": None, "probability": None,
            "threshold": None, "x0": round(x0, 2), "y0": round(y0, 2), "x1": round(x1, 2), "y1": round(y1, 2),
            "iou": None, "hit": None, "context": None, "model": None, "width": None, "height": None,
            "area": None, "length": round(scale.length(distance.start, distance.end), 3),
            "unit": scale.unit, "scale": scale.label,
        })
    return records


def comparison_records(overlay_a: Overlay, model_a: str, overlay_b: Overlay, model_b: str) -> list[dict[str, Any]]:
    """One table of a study read by two models: A's predicted boxes, B's, the GT boxes scored
    against A (then the context GT boxes), the same scored GT boxes against B, the distances.

    Args:
        overlay_a, overlay_b: Each model's overlay of the same study (its own threshold).
        model_a, model_b: The weights file names, written in the `model` column.
    """
    records_a, records_b = box_records(overlay_a, model_a), box_records(overlay_b, model_b)
    for records, name in ((records_a, model_a), (records_b, model_b)):
        for record in records:
            if record["kind"] == "gt" and record["hit"] is not None:  # scored against this model's boxes
                record["model"] = name

    def of(records: list[dict[str, Any]], kind: str, scored_only: bool = False) -> list[dict[str, Any]]:
        return [r for r in records if r["kind"] == kind and (not scored_only or r["hit"] is not None)]

    return (of(records_a, "pred") + of(records_b, "pred") + of(records_a, "gt")
            + of(records_b, "gt", scored_only=True) + of(records_a, "distance"))


def write_boxes_csv(records: list[dict[str, Any]], path: Path) -> Path:
    """Write records as CSV with a header (empty cells for None)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow({k: "" if record.get(k) is None else record[k] for k in COLUMNS})
    return path


def write_boxes_json(records: list[dict[str, Any]], path: Path) -> Path:
    """Write records as a JSON list of objects."""
    path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return path
