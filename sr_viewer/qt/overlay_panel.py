"""Overlay controls: threshold (slider + spin box), components, colormap, opacity, GT.

`ThresholdControl` (slider, spin box, reset) is also the comparison model's threshold
above its canvas (qt/comparison_view.py): the same control on both sides, read the same way.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from sr_viewer.state import COLORMAPS, ViewerModel

SLIDER_STEPS = 1000  # threshold resolution of the slider (and its arrow keys): 0.001
SLIDER_PAGE_STEP = 50  # a click on the groove (Page Up/Down) moves 0.05
UNKNOWN = "-"  # what the threshold reads before a map and the weights' value for it exist


class ThresholdControl(QWidget):
    """A threshold's slider, spin box and Reset button, kept in step with each other.

    Signals:
        changed(float): the reader moved the slider or typed a value.
        reset(): the reader asked for the weights' threshold back.
    """

    changed = Signal(float)
    reset = Signal()

    def __init__(self, tip: str, reset_tip: str, parent=None) -> None:
        super().__init__(parent)
        self._syncing = False
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(SLIDER_PAGE_STEP)
        self.slider.setTracking(True)  # live while dragging
        self.slider.setToolTip(tip)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setKeyboardTracking(False)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip(reset_tip)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        row.addWidget(self.reset_button)
        self.slider.valueChanged.connect(lambda v: self._forward(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(self._forward)
        self.reset_button.clicked.connect(self.reset)

    def _forward(self, value: float) -> None:
        if not self._syncing:
            self.changed.emit(value)

    def show_threshold(self, threshold: float | None) -> None:
        """The threshold, or "-" with the controls off while there is no map to cut (no
        prediction yet: the model's value for the finding is not known, so none is shown)."""
        known = threshold is not None
        self._syncing = True
        try:
            for control in (self.slider, self.spin, self.reset_button):
                control.setEnabled(known)
            self.spin.setSpecialValueText("" if known else UNKNOWN)  # shown at the minimum
            self.slider.setValue(round(threshold * SLIDER_STEPS) if known else 0)
            self.spin.setValue(threshold if known else self.spin.minimum())
        finally:
            self._syncing = False


class OverlayPanel(QWidget):
    """Forwards the reader's overlay settings to the model and mirrors the model back.

    Signals:
        load_ground_truth(): the reader asked to choose an annotation file.
    """

    load_ground_truth = Signal()

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self._syncing = False

        self.threshold = ThresholdControl("FPM threshold: heatmap cut, contour and boxes follow live ([ and ] keys)",
                                          "Back to the weights' threshold for this finding (R)")
        self.slider, self.spin, self.reset = self.threshold.slider, self.threshold.spin, self.threshold.reset_button
        self.default_label = QLabel()

        self.mode = QComboBox()
        self.mode.addItem("Largest component", "largest")
        self.mode.addItem("All components", "all")
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.overlay_visible = QCheckBox("Show overlay (O)")
        self.gt_visible = QCheckBox("Show ground truth (G)")
        self.iou = QDoubleSpinBox()
        self.iou.setRange(0.0, 0.95)
        self.iou.setSingleStep(0.05)
        self.iou.setDecimals(2)
        self.iou.setToolTip("A ground-truth box is a hit when its best IoU with a predicted box is > this")
        self.gt_files = QLabel("none found")
        self.gt_files.setWordWrap(True)
        gt_button = QPushButton("Load ground truth ...")
        gt_button.clicked.connect(self.load_ground_truth)

        form = QFormLayout(self)
        form.addRow("Threshold", self.threshold)
        form.addRow("", self.default_label)
        form.addRow("Boxes", self.mode)
        form.addRow("Colormap", self.colormap)
        form.addRow("Opacity", self.opacity)
        form.addRow(self.overlay_visible)
        form.addRow(self.gt_visible)
        form.addRow("Hit at IoU >", self.iou)
        form.addRow("Ground truth", self.gt_files)
        form.addRow("", gt_button)

        self.threshold.changed.connect(lambda v: self._forward(model.set_threshold, v))
        self.threshold.reset.connect(model.reset_threshold)
        self.mode.currentIndexChanged.connect(lambda i: self._set_view("mode", self.mode.itemData(i)))
        self.colormap.currentTextChanged.connect(lambda name: self._set_view("colormap", name))
        self.opacity.valueChanged.connect(lambda v: self._set_view("opacity", v / 100))
        self.overlay_visible.toggled.connect(lambda on: self._set_view("overlay_visible", on))
        self.gt_visible.toggled.connect(lambda on: self._set_view("gt_visible", on))
        self.iou.valueChanged.connect(lambda v: self._set_view("iou_threshold", v))

        for event in (*model.view.events, model.events.threshold_changed, model.events.current_changed,
                      model.events.finding_changed, model.events.study_changed):
            event.connect(lambda *args: self.sync())
        model.ground_truth.events.changed.connect(self.sync)
        self.sync()

    def _forward(self, setter, value) -> None:
        if not self._syncing:
            setter(value)

    def _set_view(self, name: str, value) -> None:
        self._forward(lambda v: setattr(self.model.view, name, v), value)

    def sync(self) -> None:
        """Show the model's values without echoing them back."""
        model = self.model
        self._syncing = True
        try:
            finding = model.finding
            self.threshold.show_threshold(model.threshold if finding is not None else None)
            if finding is not None:
                self.default_label.setText(f"weights' threshold for {finding}: {model.weights_threshold(finding):.2f}")
            else:
                self.default_label.setText("")
            view = model.view
            self.mode.setCurrentIndex(self.mode.findData(view.mode))
            self.colormap.setCurrentText(view.colormap)
            self.opacity.setValue(round(view.opacity * 100))
            self.overlay_visible.setChecked(view.overlay_visible)
            self.gt_visible.setChecked(view.gt_visible)
            self.iou.setValue(view.iou_threshold)
            files = model.ground_truth.files
            self.gt_files.setText(", ".join(p.name for p in files) if files else "none found")
        finally:
            self._syncing = False
