"""Per-finding probabilities, most likely first, with the operating point marked.

The bar shows the probability; a tick (text colour) marks the weights' operating point (metadata
"operating_points" {finding: probability cut-off}) and the last column says whether the
probability reaches it. Weights without operating points show no tick and "-".
Above the table, a warning line says when the image does not look like a frontal chest film
(`Prediction.warning`, sr_core.ood); the probabilities stay visible below it.
Before a study has its prediction (no weights, or the model still busy) the rows are the
findings a reader can label (`ViewerModel.finding_choices`) with "-" for the probability:
choosing one is what the box tool draws for.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sr_viewer.state import Study, ViewerModel

PROBABILITY_ROLE = Qt.ItemDataRole.UserRole + 1
OPERATING_ROLE = Qt.ItemDataRole.UserRole + 2
WARNING_STYLE = "QLabel { background: #5c4400; color: #ffe08a; border-radius: 3px; padding: 4px; }"


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


class FindingsPanel(QWidget):
    """A warning line (when there is one) over Finding | probability bar | vs operating point;
    clicking a row shows its map."""

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.warning = QLabel()
        self.warning.setWordWrap(True)  # one line of text; wrapped only to fit a narrow dock
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setToolTip("A check of the DICOM header and of the model's features; "
                                "the results below are shown anyway: judge them with this in mind")
        self.warning.hide()
        self.table = table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels(["Finding", "Probability", "Op. point"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setItemDelegateForColumn(1, ProbabilityBar(table))
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # Room for the eight NIH findings without scrolling.
        table.setMinimumHeight(header.sizeHint().height() + 8 * table.verticalHeader().defaultSectionSize() + 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.warning)
        layout.addWidget(table)
        self._syncing = False
        table.itemSelectionChanged.connect(self._row_chosen)
        model.events.current_changed.connect(lambda study: self.refresh())
        model.events.study_changed.connect(self._study_changed)
        model.events.finding_changed.connect(lambda finding: self.refresh())
        model.events.model_changed.connect(lambda status: self.refresh())
        self.refresh()

    def rows(self) -> list[tuple[str, str, str]]:
        """(finding, probability text, operating point text) as shown (tests read this)."""
        item = self.table.item
        def probability(row: int) -> str:
            value = item(row, 1).data(PROBABILITY_ROLE)
            return "-" if value is None else f"{value:.3f}"

        return [(item(r, 0).text(), probability(r), item(r, 2).text()) for r in range(self.table.rowCount())]

    def rowCount(self) -> int:  # noqa: N802 (the table's Qt name, kept for callers of the old table)
        return self.table.rowCount()

    def warning_text(self) -> str | None:
        """The warning line as shown, or None when it is hidden (tests read this)."""
        return self.warning.text() if not self.warning.isHidden() else None

    def _study_changed(self, study: Study) -> None:
        if study is self.model.current:
            self.refresh()

    def refresh(self) -> None:
        study = self.model.current
        prediction = study.prediction if study is not None else None
        self._show_warning(getattr(prediction, "warning", None))
        table = self.table
        self._syncing = True
        try:
            table.setRowCount(0)
            if study is None:
                return
            if prediction is None:
                self._show_choices(study)
                return
            points = self.model.model_status.operating_points
            findings = prediction.findings
            table.setRowCount(len(findings))
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
                    table.setItem(row, column, item)
                if finding == study.shown_finding:
                    table.selectRow(row)
        finally:
            self._syncing = False

    def _show_choices(self, study: Study) -> None:
        """The findings to label before the model answered, without probabilities."""
        findings = self.model.finding_choices(study)
        self.table.setRowCount(len(findings))
        why = "no prediction yet: choose the finding the box tool (B) draws for"
        for row, finding in enumerate(findings):
            name = QTableWidgetItem(finding)
            name.setData(Qt.ItemDataRole.UserRole, finding)
            cells = (name, QTableWidgetItem("-"), QTableWidgetItem("-"))
            for column, item in enumerate(cells):
                item.setToolTip(why)
                self.table.setItem(row, column, item)
            if finding == study.finding:
                self.table.selectRow(row)

    def _show_warning(self, warning: str | None) -> None:
        self.warning.setText(f"\u26a0 {warning}" if warning else "")
        self.warning.setVisible(bool(warning))

    def _row_chosen(self) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.model.set_finding(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))
