"""Non-modal dialogs: the shortcut list, about, and error messages (the model card: model_card.py).

All are shown with show(), never exec(): the viewer keeps working behind them (and tests
never block on one).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)


def show_dialog(parent: QWidget, title: str, body: QWidget, size=(640, 560)) -> QDialog:
    """Show `body` in a non-modal dialog with a Close button (deleted when closed)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setModal(False)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(buttons)
    dialog.resize(*size)
    dialog.show()
    return dialog


def show_shortcuts(parent: QWidget, rows: list[tuple[str, str]]) -> QDialog:
    """The (key, action) table of Help > Shortcuts (rows: sr_viewer.qt.actions.shortcut_rows)."""
    table = QTableWidget(len(rows), 2)
    table.setHorizontalHeaderLabels(["Key", "Action"])
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for r, (key, text) in enumerate(rows):
        table.setItem(r, 0, QTableWidgetItem(key))
        table.setItem(r, 1, QTableWidgetItem(text))
    return show_dialog(parent, "Keyboard shortcuts", table, (520, 640))


def show_about(parent: QWidget) -> QDialog:
    browser = QTextBrowser()
    browser.setOpenExternalLinks(True)
    browser.setHtml(
        "<h3>SR Viewer</h3><p>Weakly supervised chest X-ray abnormality localization: the model's "
        "foreground map, contour and boxes, live at any threshold. Research use, not for diagnosis.</p>"
        "<p>Demo images: NIH ChestX-ray8/14, data provided by the NIH Clinical Center "
        "(<a href='https://nihcc.app.box.com/v/ChestXray-NIHCC'>download site</a>). Wang et al., "
        "ChestX-ray8, IEEE CVPR 2017, pp. 3462-3471.</p>"
    )
    return show_dialog(parent, "About SR Viewer", browser, (520, 300))


def show_error(parent: QWidget | None, text: str, title: str = "SR Viewer") -> QMessageBox:
    """A non-modal warning box (the app keeps running behind it)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
