"""The canvas: the X-ray, the FPM heatmap, the contour and the boxes, in one pyqtgraph view.

Composition (pyqtgraph's: graphics items stacked in one ViewBox): a ViewBox (y axis down, aspect locked) holding a grey
ImageItem (16-bit data; window/level moves only its levels), a heatmap ImageItem (8-bit
index data, colormap LUT with a transparent entry 0 and the opacity as alpha), one PlotCurveItem for
all contours, one for the predicted boxes, one dashed for the ground truth of the shown
finding, one dotted and faded for the ground truth of other findings (context, not scored),
and text labels; the reader's distances are MeasurementItems (measure_items.py) and the
boxes the reader draws DrawnBoxItems (drawn_box_items.py).
Image pixel (col, row) covers [col, col+1) x [row, row+1), the frame of sr_core.boxes, so
boxes (exclusive ends) and contours (pixel centres) draw without offsets.

A threshold change costs one Prediction.regions (via ViewerModel.overlay), one multiply of
the coloured heatmap by the mask (the cut) and a few curve updates: well inside a frame at 1024^2
(benchmarks/viewer.py). No auto-downsampling: pixels are shown as they are.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem

from sr_viewer.palette import PALETTE, heat_index
from sr_viewer.qt.image_items import GreyItem, HeatmapItem
from sr_viewer.qt.drawn_box_items import DrawnBoxItems
from sr_viewer.qt.measure_items import MeasurementItems
from sr_viewer.state import Overlay, Study, ViewerModel
from sr_viewer.state.window import display_data, display_levels, drag_window, start_window, uses_raw

pg.setConfigOptions(imageAxisOrder="row-major")

_INVERT_LUT = np.arange(255, -1, -1, dtype=np.uint8)


def colormap_lut(name: str, opacity: float = 1.0) -> np.ndarray:
    """(256, 4) uint8 RGBA: entry 0 transparent (below threshold), 1..255 the colormap with
    alpha = opacity (baked into the LUT: drawing with a painter opacity costs 4x more)."""
    lut = np.zeros((256, 4), np.uint8)
    lut[1:] = pg.colormap.get(name).getLookupTable(0.0, 1.0, 255, alpha=True)
    lut[1:, 3] = round(255 * min(1.0, max(0.0, opacity)))
    return lut


def box_path(boxes) -> tuple[np.ndarray, np.ndarray]:
    """x, y of closed rectangles separated by NaN (one curve item draws them all)."""
    if not len(boxes):
        return np.empty(0), np.empty(0)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b.T
    nan = np.full(len(b), np.nan)
    xs = np.stack([x0, x1, x1, x0, x0, nan], axis=1).ravel()
    ys = np.stack([y0, y0, y1, y1, y0, nan], axis=1).ravel()
    return xs, ys


def contour_path(contours) -> tuple[np.ndarray, np.ndarray]:
    """x, y of closed outlines separated by NaN."""
    if not contours:
        return np.empty(0), np.empty(0)
    parts = []
    for c in contours:
        parts += [c, c[:1], np.array([[np.nan, np.nan]], np.float32)]
    joined = np.concatenate(parts).astype(np.float64)
    return joined[:, 0], joined[:, 1]


class XrayViewBox(pg.ViewBox):
    """A ViewBox whose right-button drag sets window/level (left drag pans, wheel zooms;
    with `measuring` on, a left drag draws a distance instead of panning, with
    `drawing_boxes` on a box).

    Signals:
        window_drag(bool, float, float): (drag started, dx, dy) as fractions of the view.
        measure_drag(str, QPointF, QPointF): ("start" | "move" | "finish", where the drag
            began, where it is now), both in image coordinates.
        box_drag(str, QPointF, QPointF): the same, with the box tool on.
    """

    window_drag = Signal(bool, float, float)
    measure_drag = Signal(str, QPointF, QPointF)
    box_drag = Signal(str, QPointF, QPointF)

    def __init__(self) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.measuring = False
        self.drawing_boxes = False
        self.resizing = False  # inside resizeEvent: a range change then is the widget's, not the reader's

    def resizeEvent(self, ev):  # noqa: N802 (Qt API)
        self.resizing = True
        try:
            super().resizeEvent(ev)
        finally:
            self.resizing = False

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph API)
        if (self.measuring or self.drawing_boxes) and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            stage = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
            signal = self.box_drag if self.drawing_boxes else self.measure_drag
            signal.emit(stage, self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos()))
            return
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.pos() - ev.buttonDownPos()
            rect = self.boundingRect()
            self.window_drag.emit(ev.isStart(), delta.x() / max(1.0, rect.width()), delta.y() / max(1.0, rect.height()))
            return
        super().mouseDragEvent(ev, axis)


class Canvas(pg.GraphicsView):
    """Draws the current study of a ViewerModel; forwards window/level drags to it.

    Signals:
        pixel_info(str): the pixel readout under the mouse ("" outside the image).
    """

    pixel_info = Signal(str)

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(parent, background="k")
        self.model = model
        self.setAcceptDrops(False)  # drops go to the main window (anywhere on it)
        self.view = XrayViewBox()
        self.setCentralItem(self.view)
        self.view.disableAutoRange()

        self.grey = GreyItem(autoDownsample=False)
        # The grey image changes only on window/level; caching it makes a threshold drag
        # repaint the overlay alone.
        self.grey.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.heat = HeatmapItem(autoDownsample=False)
        self.heat.setZValue(10)
        self.contour = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(PALETTE.contour, width=2))
        self.contour.setZValue(20)
        self.gt = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(PALETTE.gt_box, width=2, style=Qt.PenStyle.DashLine))
        self.gt.setZValue(25)
        self.gt_context = pg.PlotCurveItem(connect="finite",
                                           pen=pg.mkPen(PALETTE.gt_context, width=2, style=Qt.PenStyle.DotLine))
        self.gt_context.setZValue(24)
        self.boxes = pg.PlotCurveItem(connect="finite", pen=pg.mkPen(PALETTE.pred_box, width=2))
        self.boxes.setZValue(30)
        self.pred_label = pg.TextItem(color=PALETTE.pred_box, anchor=(0, 1), fill=(0, 0, 0, 140))
        self.pred_label.setZValue(40)
        self.message = pg.TextItem(color=(200, 200, 200), anchor=(0.5, 0.5))
        self.view.addItem(self.grey)
        for item in (self.heat, self.contour, self.gt_context, self.gt, self.boxes, self.pred_label, self.message):
            self.view.addItem(item, ignoreBounds=True)
        self.gt_labels: list[pg.TextItem] = []
        self.measurements = MeasurementItems(self.view, model)
        self.view.measure_drag.connect(self.measurements.drag)
        self.drawn_boxes = DrawnBoxItems(self.view, model)
        self.view.box_drag.connect(self.drawn_boxes.drag)

        self._grey_key: tuple | None = None
        self._heat_key: tuple | None = None
        self._window_start = None
        self._shown_study: Study | None = None

        self.view.window_drag.connect(self._window_drag)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        events = model.events
        events.current_changed.connect(lambda study: self.refresh(fit=True))
        events.study_changed.connect(self._study_changed)
        events.finding_changed.connect(lambda finding: self.update_overlay())
        events.threshold_changed.connect(lambda value: self.update_overlay())
        events.window_changed.connect(lambda window: self._update_grey())
        events.drawn_boxes_changed.connect(lambda study: self.update_overlay() if study is model.current else None)
        view = model.view.events
        view.mode.connect(lambda mode: self.update_overlay())
        view.iou_threshold.connect(lambda value: self.update_overlay())
        view.colormap.connect(lambda name: self._set_colormap())
        view.opacity.connect(lambda value: self._set_colormap())
        view.overlay_visible.connect(lambda visible: self._apply_visibility())
        view.gt_visible.connect(lambda visible: self._apply_visibility())
        view.invert.connect(lambda invert: self._update_grey())
        self._set_colormap()
        self.refresh(fit=True)

    # --- drawing ----------------------------------------------------------------------------

    def refresh(self, fit: bool = False) -> None:
        """Redraw everything for the current study (a new study, image or prediction)."""
        study = self.model.current
        new_size = study is not None and (self._shown_study is None or
                                          (self._shown_study.width, self._shown_study.height) != (study.width, study.height))
        self._shown_study = study
        self._update_grey()
        self.update_overlay()
        if study is None or study.image is None:
            text = "Drop X-ray files or folders here, or use File > Open" if study is None else (
                f"{study.name}\n{study.error}" if study.error and not study.readable else f"Loading {study.name} ...")
            self.message.setText(text)
            self.message.setPos(0.5, 0.5)
            self.message.setVisible(True)
            self.view.setRange(QRectF(0, 0, 1, 1), padding=0)
            return
        self.message.setVisible(False)
        if fit or new_size:
            self.fit()

    def _study_changed(self, study: Study) -> None:
        if study is self.model.current:
            self.refresh(fit=self._grey_key is None)

    def _update_grey(self) -> None:
        study = self.model.current
        image = study.image if study is not None else None
        if image is None:
            self.grey.clear()
            self._grey_key = None
            return
        raw = uses_raw(image, study.window)
        key = (id(image), raw)
        if key != self._grey_key:
            self.grey.setImage(display_data(image, study.window), autoLevels=False,
                               levels=display_levels(image, study.window))
            self._grey_key = key
        else:
            self.grey.setLevels(display_levels(image, study.window))
        self.grey.setLookupTable(_INVERT_LUT if self.model.view.invert else None)

    def overlay(self) -> Overlay | None:
        """What this canvas draws over the study: the document's overlay (model A). The
        comparison canvas (qt/comparison_view.py) draws model B's instead."""
        return self.model.overlay()

    def update_overlay(self) -> None:
        """Heatmap cut, contour, boxes and GT for the current threshold (the live path)."""
        overlay = self.overlay()
        regions = overlay.regions if overlay is not None else None
        if regions is None or overlay.study.image is None:
            self.heat.clear()
            self._heat_key = None
            for item in (self.contour, self.boxes):
                item.setData([], [])
            self.pred_label.setText("")
        else:
            prediction = overlay.prediction
            key = (id(prediction), overlay.finding)
            if key != self._heat_key:  # a new map: colour it once
                self.heat.setImage(heat_index(prediction.fpm(overlay.finding)), autoLevels=False, levels=(0, 255))
                self._heat_key = key
            self.heat.set_mask(regions.mask)  # the threshold cut
            self.contour.setData(*contour_path(regions.contours))
            self.boxes.setData(*box_path(regions.boxes))
            if regions.boxes:
                x0, y0 = regions.boxes[0][:2]
                self.pred_label.setText(f"{overlay.finding} {overlay.probability:.2f}")
                self.pred_label.setPos(x0, y0)
            else:
                self.pred_label.setText("")
        self._update_gt(overlay)
        self._apply_visibility()

    def _update_gt(self, overlay) -> None:
        rows = overlay.gt_rows if overlay is not None and overlay.study.image is not None else []
        # Drawn boxes are outlined by their own handles (DrawnBoxItems); they get the label only.
        self.gt.setData(*box_path([r.box for r in rows if not r.context and not r.drawn]))
        self.gt_context.setData(*box_path([r.box for r in rows if r.context and not r.drawn]))
        while len(self.gt_labels) < len(rows):
            label = pg.TextItem(anchor=(0, 0), fill=(0, 0, 0, 140))
            label.setZValue(40)
            self.view.addItem(label, ignoreBounds=True)
            self.gt_labels.append(label)
        for i, label in enumerate(self.gt_labels):
            if i >= len(rows):
                label.setText("")
                continue
            row = rows[i]
            if row.context:
                colour = PALETTE.gt_context
            elif row.hit is None:
                colour = PALETTE.gt_box
            else:
                colour = PALETTE.hit if row.hit else PALETTE.miss
            label.setText(row.label, color=colour)
            label.setPos(row.box[0], row.box[3])

    def _apply_visibility(self) -> None:
        overlay, gt = self.model.view.overlay_visible, self.model.view.gt_visible
        for item in (self.heat, self.contour, self.boxes, self.pred_label):
            item.setVisible(overlay)
        for item in [self.gt, self.gt_context, *self.gt_labels]:
            item.setVisible(gt)

    def _set_colormap(self) -> None:
        self.heat.setLookupTable(colormap_lut(self.model.view.colormap, self.model.view.opacity))

    # --- view -------------------------------------------------------------------------------

    def fit(self) -> None:
        """Show the whole image."""
        study = self.model.current
        if study is not None and study.width:
            self.view.setRange(QRectF(0, 0, study.width, study.height), padding=0.02)

    def actual_size(self) -> None:
        """One image pixel per screen pixel, around the current centre."""
        centre = self.view.viewRect().center()
        width, height = self.view.width(), self.view.height()
        self.view.setRange(xRange=(centre.x() - width / 2, centre.x() + width / 2),
                           yRange=(centre.y() - height / 2, centre.y() + height / 2), padding=0)

    def set_measuring(self, on: bool) -> None:
        """The distance tool: on, a left drag measures (and does not pan); turns the box tool off."""
        self._set_tool(bool(on), False)

    def set_drawing_boxes(self, on: bool) -> None:
        """The box tool: on, a left drag draws a GT box (and does not pan); turns the distance tool off."""
        self._set_tool(False, bool(on))

    def _set_tool(self, measuring: bool, drawing_boxes: bool) -> None:
        self.view.measuring, self.view.drawing_boxes = measuring, drawing_boxes
        self.setCursor(Qt.CursorShape.CrossCursor if measuring or drawing_boxes else Qt.CursorShape.ArrowCursor)

    @property
    def measuring(self) -> bool:
        return self.view.measuring

    @property
    def drawing_boxes(self) -> bool:
        return self.view.drawing_boxes

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out about the view's centre."""
        self.view.scaleBy((1 / factor, 1 / factor))

    def _window_drag(self, started: bool, dx: float, dy: float) -> None:
        study = self.model.current
        if study is None or study.image is None:
            return
        if started or self._window_start is None:
            self._window_start = start_window(study.image, study.window)
        self.model.set_window(drag_window(self._window_start, dx, dy))

    def _mouse_moved(self, pos) -> None:
        study = self.model.current
        image = study.image if study is not None else None
        if image is None or not self.view.sceneBoundingRect().contains(pos):
            self.pixel_info.emit("")
            return
        point = self.view.mapSceneToView(pos)
        x, y = math.floor(point.x()), math.floor(point.y())
        if not (0 <= x < image.width and 0 <= y < image.height):
            self.pixel_info.emit("")
            return
        parts = [f"x {x}  y {y}", f"value {image.pixels[y, x]:.3f}"]
        if image.raw is not None:
            parts.append(f"raw {image.raw[y, x]:g}")
        overlay = self.overlay()
        if overlay is not None and overlay.prediction is not None and overlay.finding is not None:
            parts.append(f"FPM {overlay.prediction.fpm(overlay.finding)[y, x]:.2f}")
        self.pixel_info.emit("   ".join(parts))
