"""Paint an Annotation with QPainter on a QImage at full image resolution (headless).

No screen grab: the picture is the image's own pixels, so exports have the study's size
whatever the window shows, and work with QT_QPA_PLATFORM=offscreen. Lines are drawn
without antialiasing so box edges stay exactly the box colour; text is antialiased.
A comparison (two models on one study) is two such pictures side by side
(render_side_by_side), each painted by render_annotation.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPolygonF

from sr_viewer.export.annotation import Annotation
from sr_viewer.state.measure import label_placement


def line_width(width: int, height: int) -> int:
    """Box/contour pen width in image pixels: visible on a 2k image, thin on a small one."""
    return max(2, round(max(width, height) / 400))


def _inside(box, lw: int) -> QRectF:
    """The rectangle whose stroke of width lw covers the box's own border pixels: a box
    (x0, y0, x1, y1) with exclusive ends covers columns x0 .. x1-1, and its outline stays
    visible even when it touches the image's edge."""
    x0, y0, x1, y1 = (float(v) for v in box)
    half = lw / 2.0
    return QRectF(x0 + half, y0 + half, max(0.0, x1 - x0 - lw), max(0.0, y1 - y0 - lw))


def _qimage(array: np.ndarray, fmt: QImage.Format) -> QImage:
    array = np.ascontiguousarray(array)
    return QImage(array.data, array.shape[1], array.shape[0], array.strides[0], fmt).copy()


def render_annotation(annotation: Annotation) -> QImage:
    """The annotated picture: image, heatmap, contour, boxes, ground truth, distances, legend."""
    a, palette = annotation, annotation.palette
    width, height = a.width, a.height
    out = QImage(width, height, QImage.Format.Format_RGB32)
    painter = QPainter(out)
    try:
        painter.drawImage(0, 0, _qimage(a.grey, QImage.Format.Format_Grayscale8))
        if a.heat is not None:
            painter.drawImage(0, 0, _qimage(a.heat, QImage.Format.Format_RGBA8888))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        lw = line_width(width, height)
        pen = QPen(QColor(*palette.contour), lw)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for contour in a.contours:
            painter.drawPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in contour]))
        font = QFont()
        font.setPixelSize(max(12, round(height / 60)))
        painter.setFont(font)
        for row in a.gt:
            if row.context:
                colour = line_colour = palette.gt_context
            else:
                line_colour = palette.gt_box
                colour = palette.gt_box if row.hit is None else (palette.hit if row.hit else palette.miss)
            style = Qt.PenStyle.DotLine if row.context else Qt.PenStyle.DashLine
            pen = QPen(QColor(*line_colour), lw, style)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            x0, y0, x1, y1 = row.box
            painter.drawRect(_inside(row.box, lw))
            _label(painter, row.label, QPointF(x0, y1 + lw), colour, palette.legend_back, below=True)
        pen = QPen(QColor(*palette.pred_box), lw)
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        painter.setPen(pen)
        for box in a.pred_boxes:
            painter.drawRect(_inside(box, lw))
        _distances(painter, a, lw)
        _legend(painter, annotation, width, height)
    finally:
        painter.end()
    return out


def comparison_gap(width: int) -> int:
    """Pixels between A's and B's halves of a comparison: visible at any image size."""
    return max(4, round(width / 128))


def render_side_by_side(left: Annotation, right: Annotation) -> QImage:
    """Two annotated pictures of one study side by side (model A left, model B right),
    each painted as a single export is, apart by comparison_gap in the palette's divider."""
    a, b = render_annotation(left), render_annotation(right)
    gap = comparison_gap(a.width())
    out = QImage(a.width() + gap + b.width(), max(a.height(), b.height()), QImage.Format.Format_RGB32)
    out.fill(QColor(*left.palette.divider))
    painter = QPainter(out)
    try:
        painter.drawImage(0, 0, a)
        painter.drawImage(a.width() + gap, 0, b)
    finally:
        painter.end()
    return out


def _distances(painter: QPainter, annotation: Annotation, lw: int) -> None:
    """Each distance as a line with its label where the canvas puts it (`label_placement`),
    and kept inside the picture."""
    palette = annotation.palette
    width, height = painter.device().width(), painter.device().height()
    bounds = QRectF(0, 0, width, height)
    for start, end, text in annotation.distances:
        painter.setPen(QPen(QColor(*palette.measure), lw, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        painter.drawLine(QPointF(*start), QPointF(*end))
        (x, y), anchor = label_placement(start, end, width, height)
        y += lw if anchor[1] == 0 else -lw  # clear of the line's width
        _label(painter, text, QPointF(x, y), palette.measure, palette.legend_back, anchor=anchor, inside=bounds)


def _label(painter: QPainter, text: str, point: QPointF, colour, back, below: bool = False,
           anchor: tuple[float, float] | None = None, inside: QRectF | None = None) -> None:
    """A label whose top-left (below) or bottom-left corner is `point`; anchor (fractions of
    the label, as pyqtgraph's) says which point of it is there instead; inside: moved, not cut,
    to stay within that rectangle."""
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    metrics = QFontMetricsF(painter.font())
    rect = metrics.boundingRect(text).adjusted(-3, -2, 3, 2)
    ax, ay = anchor if anchor is not None else (0.0, 0.0 if below else 1.0)
    rect.moveTopLeft(QPointF(point.x() - ax * rect.width(), point.y() - ay * rect.height()))
    if inside is not None:
        rect.moveLeft(min(max(rect.left(), inside.left()), inside.right() - rect.width()))
        rect.moveTop(min(max(rect.top(), inside.top()), inside.bottom() - rect.height()))
    painter.fillRect(rect, QColor(*back))
    painter.setPen(QColor(*colour))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _legend(painter: QPainter, annotation: Annotation, width: int, height: int) -> None:
    """Legend box at the top left: the text lines, then a key of the line styles."""
    palette = annotation.palette
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    font = QFont()
    font.setPixelSize(max(11, round(height / 55)))
    painter.setFont(font)
    metrics = QFontMetricsF(font)
    line = metrics.height() * 1.15
    keys = [("predicted box", palette.pred_box, Qt.PenStyle.SolidLine),
            ("contour", palette.contour, Qt.PenStyle.SolidLine)]
    if any(not row.context for row in annotation.gt):
        keys.append(("ground truth", palette.gt_box, Qt.PenStyle.DashLine))
    if any(row.context for row in annotation.gt):
        keys.append(("ground truth, other finding", palette.gt_context, Qt.PenStyle.DotLine))
    if annotation.distances:
        keys.append(("distance (reader)", palette.measure, Qt.PenStyle.SolidLine))
    swatch = line * 1.6
    text_width = max([metrics.horizontalAdvance(t) for t in annotation.legend] +
                     [swatch + 6 + metrics.horizontalAdvance(k[0]) for k in keys]) + 1  # +1: the widest line is not elided
    pad = line * 0.4
    box = QRectF(pad, pad, min(width - 2 * pad, text_width + 2 * pad), (len(annotation.legend) + len(keys)) * line + 2 * pad)
    painter.fillRect(box, QColor(*palette.legend_back))
    painter.setPen(QColor(*palette.legend_text))
    y = box.top() + pad
    for text in annotation.legend:
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, box.width() - 2 * pad)
        painter.drawText(QRectF(box.left() + pad, y, box.width() - 2 * pad, line),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shown)
        y += line
    lw = max(2, round(line / 8))
    for label, colour, style in keys:
        painter.setPen(QPen(QColor(*colour), lw, style))
        middle = y + line / 2
        painter.drawLine(QPointF(box.left() + pad, middle), QPointF(box.left() + pad + swatch, middle))
        painter.setPen(QColor(*palette.legend_text))
        painter.drawText(QRectF(box.left() + pad + swatch + 6, y, box.width(), line),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
        y += line


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """uint8 HxWx3 copy of a QImage."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), np.uint8, count=stride * height).reshape(height, stride)
    return buffer[:, : width * 3].reshape(height, width, 3).copy()
