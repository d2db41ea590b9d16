"""The model panel: weights, device, state, progress of the queue, cancel, model card."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from sr_viewer.state import ModelStatus, ViewerModel

DEVICE_LABELS = (("Auto (GPU if present)", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda"))
STATE_LABELS = {"none": "no model", "loading": "loading ...", "ready": "ready", "error": "error"}


class ModelPanel(QWidget):
    """Shows ModelStatus and the queue; buttons forward intent.

    Signals:
        open_weights(), show_card(), cancel(), run(): the reader's requests.
        device_chosen(str): "auto", "cpu" or "cuda".
    """

    open_weights = Signal()
    show_card = Signal()
    cancel = Signal()
    run = Signal()
    device_chosen = Signal(str)

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.weights = QLabel()
        self.weights.setWordWrap(True)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.device = QComboBox()
        for label, value in DEVICE_LABELS:
            self.device.addItem(label, value)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the inference queue (Esc)")
        self.cancel_button.setEnabled(False)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the model on cancelled or unprocessed studies (Ctrl+R)")
        open_button = QPushButton("Open weights ...")
        card_button = QPushButton("Model card ...")
        buttons = QHBoxLayout()
        for button in (open_button, card_button):
            buttons.addWidget(button)
        queue = QHBoxLayout()
        queue.addWidget(self.progress, 1)
        queue.addWidget(self.run_button)
        queue.addWidget(self.cancel_button)

        form = QFormLayout(self)
        form.addRow("Weights", self.weights)
        form.addRow("State", self.state)
        form.addRow("Device", self.device)
        form.addRow("Queue", queue)
        form.addRow(buttons)

        open_button.clicked.connect(self.open_weights)
        card_button.clicked.connect(self.show_card)
        self.cancel_button.clicked.connect(self.cancel)
        self.run_button.clicked.connect(self.run)
        self.device.activated.connect(lambda i: self.device_chosen.emit(self.device.itemData(i)))
        model.events.model_changed.connect(self.show_status)
        self.show_status(model.model_status)

    def show_status(self, status: ModelStatus) -> None:
        self.weights.setText(status.name or "none")
        self.weights.setToolTip(str(status.weights) if status.weights else "")
        text = status.message if status.state != "ready" else f"ready: {status.message}"
        self.state.setText(text)
        self.state.setStyleSheet("color: #ea4335;" if status.state in ("error", "none") else "")
        self.device.setCurrentIndex(self.device.findData(status.device))
        gpu = self.device.model().item(2)
        if gpu is not None and status.cuda_available is False:
            gpu.setEnabled(False)
            gpu.setToolTip("no usable GPU found")

    def show_progress(self, done: int, total: int, busy: bool) -> None:
        """done/total of the queue; hidden when idle."""
        self.progress.setVisible(total > 0 or busy)
        self.progress.setRange(0, max(total, 1) if total else 0)  # 0..0 = busy indicator
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total}" if total else "working ...")
        self.cancel_button.setEnabled(total > done)
