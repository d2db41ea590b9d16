"""The study's boxes and measurements: predicted and ground truth boxes with their finding,
coordinates, IoU, hit/miss and size, then the reader's distances with their length.

Only the shown finding's GT boxes are scored; GT boxes of other findings are listed (Kind
"GT other", greyed) with their finding and no IoU or mark; the boxes the reader drew are
ground truth too, scored alike, of Kind "GT drawn". Sizes and lengths are in mm when
the file gives a pixel size, else in pixels; `BoxesPanel` shows where the scale comes from
above the table (and every Size cell says it in its tooltip).
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from sr_viewer.palette import PALETTE
from sr_viewer.state import Scale, ViewerModel

COLUMNS = ("Kind", "Finding", "x0", "y0", "x1", "y1", "IoU", "Hit", "Size")
KIND_COLUMN, HIT_COLUMN, SIZE_COLUMN = 0, 7, 8


def kind_text(row) -> str:
    """The Kind cell: "pred", "GT" (scored against the shown map), "GT other" (context), or
    "GT drawn" / "GT drawn other" for a box the reader drew."""
    if row.kind == "pred":
        return "pred"
    kind = "GT drawn" if row.drawn else "GT"
    return f"{kind} other" if row.context else kind


def scale_text(scale: Scale) -> str:
    """The line above the table: the unit of the Size column and where it comes from."""
    return f"Scale: {scale.label}"


class BoxesTable(QTableWidget):
    """Mirrors ViewerModel.overlay().rows (updated live with the threshold) and the current
    study's measurements."""

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.model = model
        self._shown: list = []
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        events = model.events
        for event in (events.current_changed, events.study_changed, events.finding_changed, events.threshold_changed,
                      events.measurements_changed, events.drawn_boxes_changed, model.view.events.mode, model.view.events.iou_threshold):
            event.connect(lambda *args: self.refresh())
        self.refresh()

    def rows(self) -> list[list[str]]:
        """The table's text, row by row (tests read this)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def _entries(self) -> list[tuple]:
        """(cell texts, kind colour, text colour, hit, tooltip) per line of the table."""
        overlay = self.model.overlay()
        if overlay is None:
            return []
        scale = overlay.study.scale
        text = self.palette().text().color()
        entries = []
        for row in overlay.rows:
            hit = "" if row.hit is None else ("hit" if row.hit else "miss")
            values = (kind_text(row), row.finding, *(f"{v:.0f}" for v in row.box),
                      "" if row.iou is None else f"{row.iou:.2f}", hit, scale.size_text(row.box))
            colour, fore = (QColor(*PALETTE.pred_box) if row.kind == "pred" else QColor(*PALETTE.gt_box)), text
            if row.context:  # another finding's box: context, shown faded
                colour = fore = self.palette().placeholderText().color()
            tip = (f"Ground truth of {row.finding}: context, not scored against the {overlay.finding} map"
                   if row.context else "")
            if row.drawn:
                tip = f"Drawn by the reader{': ' + tip if tip else ''}"
            entries.append((values, colour, fore, row.hit, tip))
        for distance in overlay.study.measurements:
            (x0, y0), (x1, y1) = distance.start, distance.end
            values = ("distance", "", *(f"{v:.0f}" for v in (x0, y0, x1, y1)), "", "",
                      scale.length_text(distance.start, distance.end))
            entries.append((values, QColor(*PALETTE.measure), text, None, "Measured by the reader"))
        return entries

    def refresh(self) -> None:
        entries = self._entries()
        overlay = self.model.overlay()
        scale_tip = scale_text(overlay.study.scale) if overlay is not None else ""
        key = [(e[0], e[1].name(), e[2].name(), e[3], e[4]) for e in entries] + [scale_tip]
        if key == self._shown:
            return  # a threshold step that moved no box: nothing to redraw
        self._shown = key
        self.setUpdatesEnabled(False)
        try:
            self.setRowCount(len(entries))
            for r, (values, colour, text, hit, tip) in enumerate(entries):
                for c, value in enumerate(values):
                    item = self.item(r, c)
                    if item is None:
                        item = QTableWidgetItem()
                        self.setItem(r, c, item)
                    elif item.text() == value and c not in (KIND_COLUMN, HIT_COLUMN, SIZE_COLUMN) \
                            and item.toolTip() == tip:
                        continue  # unchanged cell (most of them during a drag)
                    item.setText(value)
                    item.setToolTip(scale_tip if c == SIZE_COLUMN else tip)
                    if c == KIND_COLUMN:
                        foreground = colour
                    elif c == HIT_COLUMN and hit is not None:
                        foreground = QColor(*(PALETTE.hit if hit else PALETTE.miss))
                    else:
                        foreground = text
                    item.setForeground(foreground)
        finally:
            self.setUpdatesEnabled(True)


class BoxesPanel(QWidget):
    """The Boxes dock: where the scale comes from, above the table."""

    def __init__(self, table: BoxesTable, parent=None) -> None:
        super().__init__(parent)
        self.table = table
        self.scale_label = QLabel()
        self.scale_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scale_label)
        layout.addWidget(table)
        events = table.model.events
        for event in (events.current_changed, events.study_changed):
            event.connect(lambda *args: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        study = self.table.model.current
        self.scale_label.setText(scale_text(study.scale) if study is not None and study.width else "")
