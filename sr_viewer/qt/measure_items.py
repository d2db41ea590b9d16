"""The distance tool on the canvas: one pyqtgraph LineSegmentROI per measured distance.

The state (sr_viewer.state.measure.Measurements of the current study) is the truth: the items
are rebuilt from it when it changes, and the reader's edits go back to it. A left drag on the
image draws a new distance while the tool is on (`XrayViewBox.measure_drag`); the two handles
of a distance move its ends and the line between them moves it whole, whether the tool is on
or not; its right-click menu removes it, and so does Measure > Delete measurement (the one
last drawn or touched).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF

from sr_viewer.palette import PALETTE
from sr_viewer.qt.study_items import StudyItems
from sr_viewer.state import Distance, Study, ViewerModel
from sr_viewer.state.measure import label_placement

#: A drag shorter than this (image pixels) is a click, not a measurement.
MIN_LENGTH = 1.0


class MeasurementItems(StudyItems):
    """Draws the current study's distances in a ViewBox and forwards the reader's edits.

    Args:
        view: The canvas's ViewBox (image coordinates).
        model: The document; its current study's measurements are drawn.
    """

    def __init__(self, view: pg.ViewBox, model: ViewerModel) -> None:
        super().__init__(view, model, "measurements_changed")

    def marks(self, study: Study):
        return study.measurements

    # --- drawing a new distance -------------------------------------------------------------

    def drag(self, stage: str, start: QPointF, end: QPointF) -> None:
        """A left drag with the tool on: "start" adds a distance, "move" and "finish" pull its end."""
        study = self.model.current
        if study is None or study.image is None:
            return
        measurements = study.measurements
        if stage == "start" or self._drawing is None or measurements.get(self._drawing) is None:
            self._drawing = measurements.add((start.x(), start.y()), (end.x(), end.y())).id
        else:
            measurements.move(self._drawing, end=(end.x(), end.y()))
        if stage == "finish":
            distance = measurements.get(self._drawing)
            self._drawing = None
            if distance is not None and _pixels(distance) < MIN_LENGTH:
                measurements.remove(distance.id)

    # --- items ------------------------------------------------------------------------------

    def _matches(self, entry, distance: Distance) -> bool:
        return self._ends(entry[0]) == (distance.start, distance.end)

    def _updated(self, entry, distance: Distance) -> None:
        self._label(entry[1], distance)

    def _graphics(self, entry) -> tuple:
        return entry

    def _reshape(self, entry, distance: Distance) -> None:
        roi = entry[0]
        # finish=False: no sigRegionChangeFinished, which would write the ends back to the state.
        for handle, point in zip(roi.endpoints, (distance.start, distance.end)):
            roi.movePoint(handle, QPointF(*point), finish=False)

    def _add_item(self, distance: Distance) -> tuple[pg.LineSegmentROI, pg.TextItem]:
        pen = pg.mkPen(PALETTE.measure, width=2)
        roi = pg.LineSegmentROI([distance.start, distance.end], pen=pen, removable=True)
        roi.setZValue(50)
        label = pg.TextItem(color=PALETTE.measure, anchor=(0.5, 1), fill=(0, 0, 0, 160))
        label.setZValue(55)
        self.view.addItem(roi, ignoreBounds=True)
        self.view.addItem(label, ignoreBounds=True)
        distance_id = distance.id
        roi.sigRegionChangeStarted.connect(lambda r: self._select(distance_id))
        roi.sigRegionChanged.connect(lambda r: self._live_label(distance_id))
        roi.sigRegionChangeFinished.connect(lambda r: self._moved(distance_id))
        roi.sigRemoveRequested.connect(lambda r: self._remove_requested(distance_id))
        self.items[distance_id] = (roi, label)
        return roi, label

    def _ends(self, roi: pg.LineSegmentROI) -> tuple[tuple[float, float], tuple[float, float]]:
        """The ROI's two ends in image coordinates."""
        a, b = (roi.mapToParent(handle.pos()) for handle in roi.endpoints)
        return (float(a.x()), float(a.y())), (float(b.x()), float(b.y()))

    def _label(self, label: pg.TextItem, distance: Distance) -> None:
        study = self.model.current
        label.setText(study.scale.distance_label(distance.start, distance.end))
        pos, anchor = label_placement(distance.start, distance.end, study.width, study.height)
        label.setAnchor(anchor)
        label.setPos(*pos)

    def _live_label(self, distance_id: int) -> None:
        entry, study = self.items.get(distance_id), self.model.current
        if entry is not None and study is not None:
            start, end = self._ends(entry[0])
            self._label(entry[1], Distance(distance_id, start, end))

    def _moved(self, distance_id: int) -> None:
        entry, study = self.items.get(distance_id), self.model.current
        if entry is not None and study is not None:
            start, end = self._ends(entry[0])
            study.measurements.move(distance_id, start, end)

    def _select(self, distance_id: int) -> None:
        if self.model.current is not None:
            self.model.current.measurements.select(distance_id)

    def _remove_requested(self, distance_id: int) -> None:
        if self.model.current is not None:
            self.model.current.measurements.remove(distance_id)


def _pixels(distance: Distance) -> float:
    (x0, y0), (x1, y1) = distance.start, distance.end
    return ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
