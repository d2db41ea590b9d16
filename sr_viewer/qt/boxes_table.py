"""The study's boxes: predicted and ground truth, with their finding, coordinates, IoU and hit/miss.

Only the shown finding's GT boxes are scored; GT boxes of other findings are listed (Kind
"GT other", greyed) with their finding and no IoU or mark.
"""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from sr_viewer.palette import PALETTE
from sr_viewer.state import ViewerModel

COLUMNS = ("Kind", "Finding", "x0", "y0", "x1", "y1", "IoU", "Hit")
KIND_COLUMN, HIT_COLUMN = 0, 7


def kind_text(row) -> str:
    """The Kind cell: "pred", "GT" (scored against the shown map) or "GT other" (context)."""
    if row.kind == "pred":
        return "pred"
    return "GT other" if row.context else "GT"


class BoxesTable(QTableWidget):
    """Mirrors ViewerModel.overlay().rows (updated live with the threshold)."""

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
                      model.view.events.mode, model.view.events.iou_threshold):
            event.connect(lambda *args: self.refresh())
        self.refresh()

    def rows(self) -> list[list[str]]:
        """The table's text, row by row (tests read this)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def refresh(self) -> None:
        overlay = self.model.overlay()
        rows = overlay.rows if overlay is not None else []
        if rows == self._shown:
            return  # a threshold step that moved no box: nothing to redraw
        self._shown = list(rows)
        self.setUpdatesEnabled(False)
        try:
            self.setRowCount(len(rows))
            for r, row in enumerate(rows):
                hit = "" if row.hit is None else ("hit" if row.hit else "miss")
                values = (kind_text(row), row.finding, *(f"{v:.0f}" for v in row.box),
                          "" if row.iou is None else f"{row.iou:.2f}", hit)
                colour = QColor(*PALETTE.pred_box) if row.kind == "pred" else QColor(*PALETTE.gt_box)
                text = self.palette().text().color()
                if row.context:  # another finding's box: context, shown faded
                    colour = text = self.palette().placeholderText().color()
                tip = (f"Ground truth of {row.finding}: context, not scored against the {overlay.finding} map"
                       if row.context else "")
                for c, value in enumerate(values):
                    item = self.item(r, c)
                    if item is None:
                        item = QTableWidgetItem()
                        self.setItem(r, c, item)
                    elif item.text() == value and item.toolTip() == tip and c not in (KIND_COLUMN, HIT_COLUMN):
                        continue  # unchanged cell (most of them during a drag)
                    item.setText(value)
                    item.setToolTip(tip)
                    if c == KIND_COLUMN:
                        foreground = colour
                    elif c == HIT_COLUMN and row.hit is not None:
                        foreground = QColor(*(PALETTE.hit if row.hit else PALETTE.miss))
                    else:
                        foreground = text
                    item.setForeground(foreground)
        finally:
            self.setUpdatesEnabled(True)
