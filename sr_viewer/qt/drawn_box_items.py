"""The box tool on the canvas: one pyqtgraph RectROI per box the reader drew.

The state (sr_viewer.state.drawn_boxes.DrawnBoxes of the current study) is the truth: the
items are rebuilt from it when it changes, and the reader's edits go back to it. A left
drag on the image draws a new box for the shown finding (before the study's prediction: the
one chosen in the Findings panel) while the tool is on, kept inside the image
(`XrayViewBox.box_drag`); the corner handles resize a box and its inside moves it, whether
the tool is on or not; its right-click menu removes it, and so does Del with the tool on
(the box last drawn or touched). The IoU and hit/miss label is the canvas's GT label: a
drawn box is ground truth like a loaded one.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF

from sr_viewer.palette import PALETTE
from sr_viewer.qt.study_items import StudyItems
from sr_viewer.state import DrawnBox, Study, ViewerModel

#: A drag narrower or lower than this (image pixels) is a click, not a box.
MIN_SIZE = 2.0
#: Corner handles: (where the handle sits, the corner it scales about), in box fractions.
CORNERS = (((0, 0), (1, 1)), ((1, 0), (0, 1)), ((0, 1), (1, 0)))


class DrawnBoxItems(StudyItems):
    """Draws the current study's drawn boxes in a ViewBox and forwards the reader's edits.

    Args:
        view: The canvas's ViewBox (image coordinates).
        model: The document; its current study's drawn boxes are drawn.

    Attributes:
        say: Called with a one-line message for the reader (a drag with no finding to draw for).
    """

    def __init__(self, view: pg.ViewBox, model: ViewerModel) -> None:
        self.say: Callable[[str], None] = lambda text: None
        super().__init__(view, model, "drawn_boxes_changed")

    def marks(self, study: Study):
        return study.drawn_boxes

    def finding(self) -> str | None:
        """The finding a new box is drawn for: the one whose map is shown (or chosen)."""
        study = self.model.current
        return None if study is None else (study.shown_finding or study.finding)

    # --- drawing a new box ------------------------------------------------------------------

    def drag(self, stage: str, start: QPointF, end: QPointF) -> None:
        """A left drag with the tool on: "start" adds a box, "move" and "finish" pull its corner."""
        study = self.model.current
        if study is None or study.image is None:
            return
        box = _clipped((start.x(), start.y(), end.x(), end.y()), study)
        boxes = study.drawn_boxes
        if stage == "start" or self._drawing is None or boxes.get(self._drawing) is None:
            finding = self.finding()
            if finding is None:
                if stage == "start":
                    self.say("No finding to draw a box for: choose one in the Findings panel first")
                return
            self._drawing = boxes.add(finding, box).id
        else:
            boxes.move(self._drawing, box)
        if stage == "finish":
            drawn = boxes.get(self._drawing)
            self._drawing = None
            if drawn is not None and min(drawn.box[2] - drawn.box[0], drawn.box[3] - drawn.box[1]) < MIN_SIZE:
                boxes.remove(drawn.id)

    # --- items ------------------------------------------------------------------------------

    def _matches(self, roi: pg.RectROI, drawn: DrawnBox) -> bool:
        return _box_of(roi) == drawn.box

    def _graphics(self, roi: pg.RectROI) -> tuple:
        return (roi,)

    def _reshape(self, roi: pg.RectROI, drawn: DrawnBox) -> None:
        x0, y0, x1, y1 = drawn.box
        # finish=False: no sigRegionChangeFinished, which would write the box back to the state.
        roi.setPos((x0, y0), update=False, finish=False)
        roi.setSize((x1 - x0, y1 - y0), finish=False)

    def _add_item(self, drawn: DrawnBox) -> pg.RectROI:
        x0, y0, x1, y1 = drawn.box
        roi = pg.RectROI((x0, y0), (x1 - x0, y1 - y0), pen=pg.mkPen(PALETTE.gt_box, width=2),
                         removable=True, invertible=False)
        for handle, centre in CORNERS:
            roi.addScaleHandle(handle, centre)
        roi.setZValue(50)
        self.view.addItem(roi, ignoreBounds=True)
        box_id = drawn.id
        studies = self.model
        roi.sigRegionChangeStarted.connect(lambda r: studies.current and studies.current.drawn_boxes.select(box_id))
        roi.sigRegionChangeFinished.connect(lambda r: self._moved(box_id))
        roi.sigRemoveRequested.connect(lambda r: studies.current and studies.current.drawn_boxes.remove(box_id))
        self.items[box_id] = roi
        return roi

    def _moved(self, box_id: int) -> None:
        roi, study = self.items.get(box_id), self.model.current
        if roi is not None and study is not None:
            box = _clipped(_box_of(roi), study)
            study.drawn_boxes.move(box_id, box)
            if box != _box_of(roi):  # dragged past the image's edge: the state's box is the one shown
                self.refresh()


def _box_of(roi: pg.RectROI) -> tuple[float, float, float, float]:
    """The ROI's (x0, y0, x1, y1) in image coordinates."""
    pos, size = roi.pos(), roi.size()
    x0, y0 = float(pos.x()), float(pos.y())
    return (x0, y0, x0 + float(size.x()), y0 + float(size.y()))


def _clipped(box: tuple[float, float, float, float], study: Study) -> tuple[float, float, float, float]:
    """A box kept inside the image (a drag may leave it), as the importer clips BBox_List rows."""
    x0, y0, x1, y1 = box
    w, h = float(study.width), float(study.height)
    return (min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h))
