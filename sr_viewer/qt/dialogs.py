"""Non-modal dialogs: the model card, the shortcut list, about, and error messages.

All are shown with show(), never exec(): the viewer keeps working behind them (and tests
never block on one).
"""

from __future__ import annotations

import html
import json
from typing import Any

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

from sr_viewer.qt.actions import ACTIONS, MOUSE_HELP
from sr_viewer.state import ModelStatus


def _dialog(parent: QWidget, title: str, body: QWidget, size=(640, 560)) -> QDialog:
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


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=1, sort_keys=True)[:2000]
    return str(value)


def model_card_html(status: ModelStatus, card_text: str | None) -> str:
    """The model card as HTML: architecture, classes, thresholds, provenance, metrics, card."""
    meta = status.metadata
    if not meta:
        body = f"<p>{html.escape(status.message)}</p>"
        return body + ("<hr><pre>" + html.escape(card_text) + "</pre>" if card_text else "")
    config = meta.get("model") or {}
    rows = [
        ("Weights", str(status.weights or status.name)),
        ("Architecture", config.get("name") or config.get("arch") or _value(config)[:200]),
        ("Device", status.active_device or status.device),
        ("Input size", meta.get("input_size")),
        ("Classes", ", ".join(meta.get("class_names", []))),
        ("Default threshold", meta.get("default_threshold")),
        ("Per-finding thresholds", meta.get("fpm_thresholds")),
        ("Operating points", meta.get("operating_points") or "none"),
        ("Provenance", meta.get("provenance") or meta.get("training") or meta.get("data")),
        ("Metrics", meta.get("metrics")),
        ("Format", f"{meta.get('format')} v{meta.get('format_version')}, {meta.get('dtype', '')}"),
    ]
    cells = "".join(
        f"<tr><th align='left' valign='top'>{html.escape(k)}</th><td><pre style='margin:0'>{html.escape(_value(v))}</pre></td></tr>"
        for k, v in rows if v not in (None, "", {})
    )
    text = f"<h3>{html.escape(status.name)}</h3><table cellspacing='6'>{cells}</table>"
    if card_text:
        text += "<hr><h3>Model card</h3><pre style='white-space: pre-wrap'>" + html.escape(card_text) + "</pre>"
    else:
        text += "<p><i>No Markdown model card next to the weights (&lt;name&gt;.md).</i></p>"
    return text


def show_model_card(parent: QWidget, status: ModelStatus, card_text: str | None) -> QDialog:
    browser = QTextBrowser()
    browser.setHtml(model_card_html(status, card_text))
    return _dialog(parent, "Model card", browser)


def show_shortcuts(parent: QWidget) -> QDialog:
    rows = [(a.shortcut, f"{a.menu}: {a.text.rstrip(' .')}") for a in ACTIONS if a.shortcut] + list(MOUSE_HELP)
    table = QTableWidget(len(rows), 2)
    table.setHorizontalHeaderLabels(["Key", "Action"])
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for r, (key, text) in enumerate(rows):
        table.setItem(r, 0, QTableWidgetItem(key))
        table.setItem(r, 1, QTableWidgetItem(text))
    return _dialog(parent, "Keyboard shortcuts", table, (520, 640))


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
    return _dialog(parent, "About SR Viewer", browser, (520, 300))


def show_error(parent: QWidget | None, text: str, title: str = "SR Viewer") -> QMessageBox:
    """A non-modal warning box (the app keeps running behind it)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
