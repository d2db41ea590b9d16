"""The boxes a reader draws: ground truth made in the viewer, per study and finding.

`DrawnBoxes` is a study's evented list of `DrawnBox`es (like `Measurements`); the overlay
scores them against the predicted boxes exactly as the loaded ground truth (they join
`Study.all_gt_boxes` as GtBoxes with `drawn=True`), the canvas draws them with handles, and
File > Save drawn boxes writes them as a BBox_List_2017 CSV (sr_viewer.export.bbox_list).

Boxes are (x0, y0, x1, y1) in image pixels, exclusive ends (the frame of sr_core.boxes),
always stored with x0 < x1 and y0 < y1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sr_viewer.state.items import EditableItems

Box = tuple[float, float, float, float]

DRAWN_SOURCE = "drawn by the reader"
"""The GtBox.source of a drawn box (what the table and the exports say it came from)."""


@dataclass(frozen=True)
class DrawnBox:
    """A ground-truth box the reader drew.

    Attributes:
        id: Unique within the study (stays when the box moves).
        finding: The finding it was drawn for.
        box: (x0, y0, x1, y1) in image pixels, x0 < x1, y0 < y1.
    """

    id: int
    finding: str
    box: Box


class DrawnBoxes(EditableItems[DrawnBox]):
    """The boxes drawn on one study, any finding (EditableItems: evented, `selected` is the
    one Delete removes)."""

    def add(self, finding: str, box: Box) -> DrawnBox:
        """A new box for `finding`, selected."""
        if not finding:
            raise ValueError("a drawn box needs a finding")
        box = normalised(box)
        return self._insert(lambda box_id: DrawnBox(box_id, finding, box))

    def move(self, box_id: int, box: Box) -> None:
        """Give a box new corners (unknown ids are ignored)."""
        box = normalised(box)
        self._replace(box_id, lambda old: replace(old, box=box))


def normalised(box: Box) -> Box:
    """(x0, y0, x1, y1) as finite floats with x0 <= x1 and y0 <= y1 (a drag may go up-left)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"a drawn box must be finite, got {box!r}")
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
