"""Two models side by side: the split view, model B's canvas and the comparison table.

The split view holds model A's canvas (the window's own) and, while a comparison model is
open, model B's beside it in a QSplitter, in equal halves. The two ViewBoxes are linked
(ViewLink, below), so a pan or zoom on either side moves the other; both render the grey
image from the same study window (the document's), so window/level, set by a right drag on
either side or a preset key, is the same on both. Each side draws its own model's map,
contour and boxes at its own threshold, and scores them against the same ground truth.

The views are linked by centre and zoom (image pixels per screen pixel), not by pyqtgraph's
setXLink/setYLink: with the aspect locked, those copy each axis's range and the two views,
of different shapes (B's pane carries its threshold row), pull each other's ranges back and
forth (measured: B ended up showing another part of the image); the same centre and scale
show the same anatomy at the same size on both sides, whatever each pane's shape. A view's
own resize is not passed on (it is the window's, not the reader's); after a resize of either
pane B takes A's centre and scale again.

B's threshold sits right above B's canvas (the same slider, spin box and Reset as A's in
the Overlay panel; Alt+[ and Alt+] step it), so the reader moves it where the eye is; A's
stays where it always is. Each side's header gives the finding's probability (A's also its
threshold; B's is in the spin box beside it), then names its model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sr_viewer.palette import PALETTE
from sr_viewer.qt.canvas import Canvas
from sr_viewer.qt.overlay_panel import ThresholdControl
from sr_viewer.state import Overlay, ViewerModel
from sr_viewer.state.comparison import Comparison, ComparisonRow

COLUMNS = ("Finding", "p A", "p B", "IoU A", "IoU B")


class ComparisonCanvas(Canvas):
    """A canvas of the shown study that draws model B's overlay (Comparison.overlay)."""

    def __init__(self, model: ViewerModel, comparison: Comparison, parent=None) -> None:
        self.comparison = comparison  # before Canvas.__init__: its first refresh draws B's overlay
        super().__init__(model, parent)
        events = comparison.events
        for event in (events.threshold_changed, events.prediction_changed, events.status_changed):
            event.connect(lambda *args: self.update_overlay())

    def overlay(self) -> Overlay | None:
        return self.comparison.overlay()


def side_text(side: str, name: str, overlay: Overlay | None, note: str = "", threshold: bool = True) -> str:
    """A pane's header: the finding it is shown at (and threshold: B's has its own spin box
    beside it), the model's state, then which model. The name comes last: a header too long
    for its pane is cut at the right, and the name is in the tooltip, the probability nowhere
    else above the canvas."""
    parts = []
    if overlay is not None and overlay.finding is not None and overlay.prediction is not None:
        parts.append(f"{overlay.finding} p {overlay.probability:.2f}"
                     + (f", threshold {overlay.threshold:.2f}" if threshold else ""))
    if note:
        parts.append(note)
    parts.append(Path(name).stem if name else "no model")
    return f"{side}: " + "   ".join(parts)


class ViewLink:
    """Keeps two ViewBoxes on the same centre and zoom (see the module docstring).

    Attributes:
        enabled: Off while only one view is shown.
    """

    def __init__(self, a, b) -> None:
        self.enabled = False
        self._busy = False
        a.sigRangeChanged.connect(lambda *args: self.follow(a, b))
        b.sigRangeChanged.connect(lambda *args: self.follow(b, a))
        for view in (a, b):  # after the layout settled (both panes may be resizing)
            view.sigResized.connect(lambda *args: QTimer.singleShot(0, lambda: self.follow(a, b)))

    def follow(self, source, target) -> None:
        """Give `target` the centre and scale of `source`."""
        if self._busy or not self.enabled or source.resizing:
            return
        rect = source.viewRect()
        scale = rect.width() / max(1.0, source.width())  # image units per screen pixel (same in y)
        centre = rect.center()
        half_w, half_h = target.width() * scale / 2, target.height() * scale / 2
        self._busy = True
        try:
            target.setRange(xRange=(centre.x() - half_w, centre.x() + half_w),
                            yRange=(centre.y() - half_h, centre.y() + half_h), padding=0)
        finally:
            self._busy = False


class SplitView(QWidget):
    """Canvas A alone, or canvas A and canvas B side by side while a comparison is open.

    Signals:
        remove_requested(): the reader asked to close the comparison.
    """

    remove_requested = Signal()

    def __init__(self, model: ViewerModel, comparison: Comparison, canvas_a: Canvas, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.comparison = comparison
        self.canvas_a = canvas_a
        self.canvas_b = ComparisonCanvas(model, comparison)
        self.link = ViewLink(canvas_a.view, self.canvas_b.view)

        self.header_a = QLabel()
        self.header_b = QLabel()
        for header in (self.header_a, self.header_b):  # a long name is cut, never widens its pane
            header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.threshold_b = ThresholdControl(
            "Model B's FPM threshold: its heatmap cut, contour and boxes follow live (Alt+[ and Alt+])",
            "Back to model B's weights' threshold for this finding")
        self.threshold_b.slider.setMinimumWidth(120)
        self.threshold_b.setMaximumWidth(230)  # the rest of the row is B's name
        remove = QToolButton()
        remove.setText("\u2715")  # a close mark: the row is B's name and threshold
        remove.setToolTip("Remove the comparison (Model > Remove comparison, Ctrl+Alt+Shift+W)")
        remove.clicked.connect(self.remove_requested)
        self.pane_b = QWidget()
        controls = QHBoxLayout()
        controls.addWidget(self.header_b, 1)
        controls.addWidget(self.threshold_b)
        controls.addWidget(remove)
        # Headers of one height: the two canvases are then of one height, the image level on both.
        self.header_a.setFixedHeight(max(w.sizeHint().height() for w in (self.header_b, self.threshold_b, remove)))
        layout_b = QVBoxLayout(self.pane_b)
        layout_b.setContentsMargins(0, 0, 0, 0)
        layout_b.addLayout(controls)
        layout_b.addWidget(self.canvas_b, 1)
        pane_a = QWidget()
        layout_a = QVBoxLayout(pane_a)
        layout_a.setContentsMargins(0, 0, 0, 0)
        layout_a.addWidget(self.header_a)
        layout_a.addWidget(canvas_a, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(pane_a)
        self.splitter.addWidget(self.pane_b)
        self.splitter.setChildrenCollapsible(False)
        for index in (0, 1):  # halves stay halves when the window is resized
            self.splitter.setStretchFactor(index, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self.threshold_b.changed.connect(comparison.set_threshold)
        self.threshold_b.reset.connect(comparison.reset_threshold)
        events = model.events
        for event in (events.current_changed, events.study_changed, events.finding_changed, events.threshold_changed,
                      events.model_changed, *comparison.events):
            event.connect(lambda *args: self.sync())
        comparison.events.status_changed.connect(self._status_changed)
        self._status_changed(comparison.status)

    @property
    def comparing(self) -> bool:
        """Canvas B is shown (a comparison model is open)."""
        return not self.pane_b.isHidden()

    def _status_changed(self, status) -> None:
        active = self.comparison.active
        if active != self.comparing:
            self.pane_b.setVisible(active)
            self.header_a.setVisible(active)
            self.link.enabled = active
            if active:  # after the layout has made room for B
                QTimer.singleShot(0, self._halves)
        self.sync()

    def _halves(self) -> None:
        """Two equal halves, B showing what A shows."""
        half = max(1, self.splitter.width() // 2)
        self.splitter.setSizes([half, half])
        self.link.follow(self.canvas_a.view, self.canvas_b.view)

    def sync(self) -> None:
        """Headers and B's threshold as the state says (no echo back to the state)."""
        if not self.comparison.active:
            return
        self.header_a.setText(side_text("A", self.model.model_status.name, self.model.overlay()))
        self.header_a.setToolTip(str(self.model.model_status.weights or ""))
        status = self.comparison.status
        study = self.model.current
        note = ""
        if status.state != "ready":
            note = status.message
        elif self.comparison.failure_for(study):
            note = f"failed: {self.comparison.failure_for(study)}"
        elif study is not None and self.comparison.prediction_for(study) is None:
            note = "working ..."
        elif self.comparison.finding is None and self.model.finding is not None:
            note = f"knows no {self.model.finding}"
        overlay = self.comparison.overlay()
        self.header_b.setText(side_text("B", status.name, overlay, note, threshold=False))
        self.header_b.setToolTip(str(status.weights) if status.weights else "")
        known = overlay is not None and overlay.prediction is not None
        self.threshold_b.show_threshold(self.comparison.threshold if known else None)


def cell_texts(row: ComparisonRow) -> tuple[str, ...]:
    """The table's cells for a row: probabilities for a finding, IoU and hit/miss for a GT box."""
    def probability(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    def iou(value: float | None, hit: bool | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f} {'hit' if hit else 'miss'}" if hit is not None else f"{value:.2f}"

    if row.kind == "finding":
        return (row.finding, probability(row.probability_a), probability(row.probability_b), "", "")
    return (f"GT {row.finding}", "", "", iou(row.iou_a, row.hit_a), iou(row.iou_b, row.hit_b))


def box_tip(row: ComparisonRow) -> str:
    """A GT row's tooltip: where the box is (the cells stay short enough for a side dock)."""
    x0, y0, x1, y1 = (round(v) for v in row.box)
    return f"GT box ({x0}, {y0}) to ({x1}, {y1}), image pixels"


class ComparisonTable(QTableWidget):
    """Both models' probabilities for every finding, then each GT box of the shown finding
    with both models' IoU and hit/miss (Comparison.rows); choosing a finding shows it on both sides."""

    def __init__(self, model: ViewerModel, comparison: Comparison, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.model = model
        self.comparison = comparison
        self._rows: list[ComparisonRow] = []
        self._syncing = False
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        events = model.events
        for event in (events.current_changed, events.study_changed, events.finding_changed, events.threshold_changed,
                      events.drawn_boxes_changed, model.view.events.mode, model.view.events.iou_threshold,
                      *comparison.events):
            event.connect(lambda *args: self.refresh())
        self.itemSelectionChanged.connect(self._row_chosen)
        self.refresh()

    def rows(self) -> list[list[str]]:
        """The table's text, row by row (tests read this)."""
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]

    def refresh(self) -> None:
        self._rows = self.comparison.rows()
        bold = QFont(self.font())
        bold.setBold(True)
        self._syncing = True
        try:
            self.setRowCount(len(self._rows))
            for r, row in enumerate(self._rows):
                for c, text in enumerate(cell_texts(row)):
                    item = QTableWidgetItem(text)
                    if row.shown:
                        item.setFont(bold)
                    if row.kind == "gt":
                        item.setToolTip(box_tip(row))
                        item.setForeground(QColor(*PALETTE.gt_box))
                        if c >= 3:
                            hit = row.hit_a if c == 3 else row.hit_b
                            if hit is not None:
                                item.setForeground(QColor(*(PALETTE.hit if hit else PALETTE.miss)))
                    self.setItem(r, c, item)
                if row.shown:
                    self.selectRow(r)
        finally:
            self._syncing = False

    def _row_chosen(self) -> None:
        if self._syncing:
            return
        selected = self.selectionModel().selectedRows()
        if not selected:
            return
        row = self._rows[selected[0].row()]
        study = self.model.current
        if row.kind == "finding" and study is not None and study.prediction is not None \
                and row.finding in study.prediction.probabilities:
            self.model.set_finding(row.finding)
