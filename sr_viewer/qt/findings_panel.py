"""Per-finding probabilities, most likely first, with the operating point marked.

The bar shows the probability; a tick (text colour) marks the weights' operating point (metadata
"operating_points" {finding: probability cut-off}) and the last column says whether the
probability reaches it. Weights without operating points show no tick and "-".
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyledItemDelegate, QTableWidget, QTableWidgetItem

from sr_viewer.state import Study, ViewerModel

PROBABILITY_ROLE = Qt.ItemDataRole.UserRole + 1
OPERATING_ROLE = Qt.ItemDataRole.UserRole + 2


class ProbabilityBar(QStyledItemDelegate):
    """Paints a probability as a bar with the operating point as a tick."""

    def paint(self, painter: QPainter, option, index) -> None:  # noqa: D102 (Qt API)
        super().paint(painter, option, index)
        probability = index.data(PROBABILITY_ROLE)
        if probability is None:
            return
        painter.save()
        rect = QRectF(option.rect).adjusted(4, 5, -48, -5)
        painter.fillRect(rect, QColor(90, 90, 90, 120))
        painter.fillRect(QRectF(rect.x(), rect.y(), rect.width() * probability, rect.height()), QColor("#f9ab00"))
        operating = index.data(OPERATING_ROLE)
        if operating is not None:
            x = rect.x() + rect.width() * operating
            painter.setPen(QPen(option.palette.text().color(), 2))  # readable in both themes
            painter.drawLine(int(x), int(rect.top() - 3), int(x), int(rect.bottom() + 3))
        painter.setPen(option.palette.text().color())
        painter.drawText(QRectF(rect.right() + 4, option.rect.y(), 44, option.rect.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"{probability:.3f}")
        painter.restore()


class FindingsPanel(QTableWidget):
    """Finding | probability bar | vs operating point; clicking a row shows its map."""

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(0, 3, parent)
        self.model = model
        self.setHorizontalHeaderLabels(["Finding", "Probability", "Op. point"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setItemDelegateForColumn(1, ProbabilityBar(self))
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # Room for the eight NIH findings without scrolling.
        self.setMinimumHeight(self.horizontalHeader().sizeHint().height() + 8 * self.verticalHeader().defaultSectionSize() + 4)
        self._syncing = False
        self.itemSelectionChanged.connect(self._row_chosen)
        model.events.current_changed.connect(lambda study: self.refresh())
        model.events.study_changed.connect(self._study_changed)
        model.events.finding_changed.connect(lambda finding: self.refresh())
        model.events.model_changed.connect(lambda status: self.refresh())
        self.refresh()

    def rows(self) -> list[tuple[str, str, str]]:
        """(finding, probability text, operating point text) as shown (tests read this)."""
        return [(self.item(r, 0).text(), f"{self.item(r, 1).data(PROBABILITY_ROLE):.3f}", self.item(r, 2).text())
                for r in range(self.rowCount())]

    def _study_changed(self, study: Study) -> None:
        if study is self.model.current:
            self.refresh()

    def refresh(self) -> None:
        study = self.model.current
        prediction = study.prediction if study is not None else None
        self._syncing = True
        try:
            self.setRowCount(0)
            if prediction is None:
                return
            points = self.model.model_status.operating_points
            findings = prediction.findings
            self.setRowCount(len(findings))
            for row, finding in enumerate(findings):
                probability = float(prediction.probabilities[finding])
                name = QTableWidgetItem(finding)
                name.setData(Qt.ItemDataRole.UserRole, finding)
                bar = QTableWidgetItem()
                bar.setData(PROBABILITY_ROLE, probability)
                bar.setToolTip(f"{finding}: p = {probability:.4f}")
                operating = points.get(finding)
                if operating is None:
                    mark = QTableWidgetItem("-")
                    mark.setToolTip("these weights carry no operating point for this finding")
                else:
                    bar.setData(OPERATING_ROLE, operating)
                    above = probability >= operating
                    mark = QTableWidgetItem(f"{'>=' if above else '<'} {operating:.2f}")
                    mark.setForeground(QColor("#34a853" if above else "#9aa0a6"))
                    mark.setToolTip("probability at or above the operating point" if above else
                                    "probability below the operating point")
                for column, item in enumerate((name, bar, mark)):
                    self.setItem(row, column, item)
                if finding == study.shown_finding:
                    self.selectRow(row)
        finally:
            self._syncing = False

    def _row_chosen(self) -> None:
        if self._syncing:
            return
        rows = self.selectionModel().selectedRows()
        if rows:
            self.model.set_finding(self.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))
