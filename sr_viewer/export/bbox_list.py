"""The reader's drawn boxes as a BBox_List_2017 CSV, the file NIH ships its boxes in.

Rows are ``Image Index, Finding Label, x, y, w, h`` under NIH's header, top-left x, y and
size in the 1024 x 1024 frame of NIH's released images: the frame every reader of this
format assumes (sr_core.data.layout.read_bbox_list_csv with the importer's default box
frame, ``sr-core-eval`` on an official folder, and the viewer's own GroundTruth), so a
drawn box on an image of any size comes back where it was drawn. On NIH's 1024 px PNGs
that frame is the image's own pixels.

The file is never one the ground truth was loaded from, nor a source image.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from sr_viewer.export.paths import ExportError, same_file
from sr_viewer.state.ground_truth import NIH_FRAME
from sr_viewer.state.study import Study

HEADER = ("Image Index", "Finding Label", "Bbox [x", "y", "w", "h]")
"""NIH's header line, "Image Index,Finding Label,Bbox [x,y,w,h]" split at its commas."""


def bbox_rows(studies: Iterable[Study]) -> list[tuple[str, str, float, float, float, float]]:
    """(image file name, finding, x, y, w, h in the NIH frame) per drawn box, study by study."""
    rows = []
    for study in studies:
        if not study.width or not study.height:
            continue
        sx, sy = NIH_FRAME / study.width, NIH_FRAME / study.height
        for drawn in study.drawn_boxes:
            x0, y0, x1, y1 = drawn.box
            rows.append((study.name, drawn.finding, x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy))
    return rows


def write_drawn_boxes(path: str | Path, studies: Iterable[Study], protected: Iterable[str | Path] = ()) -> int:
    """Write the studies' drawn boxes to `path` (replacing a file of the reader's own).

    Args:
        protected: Files never written over: the ground-truth files and the source images.

    Returns:
        The number of boxes written.

    Raises:
        ExportError: `path` is a protected file, or there is no drawn box to write.
    """
    path = Path(path)
    for source in protected:
        if same_file(path, Path(source)):
            raise ExportError(f"refusing to write {path.name!r}: the ground truth or an image was loaded "
                              f"from it (choose another name)")
    rows = bbox_rows(studies)
    if not rows:
        raise ExportError("no drawn box to save: draw one with the box tool (B) first")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for name, finding, *values in rows:
            writer.writerow([name, finding, *(f"{v:.3f}".rstrip("0").rstrip(".") for v in values)])
    return len(rows)
