"""Help > Getting started: what the map is, what the threshold does, how far to trust the
model (in the words of the loaded weights' own card), and the one-time hint that points to it.

The page is made from the model status and card text the inference controller holds, so
what it says about trust is the card's, not a text of ours that could drift from it.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QTextBrowser, QToolButton, QWidget

from sr_viewer.qt import dialogs

if TYPE_CHECKING:  # the window's action calls show(); only the type is needed here
    from sr_viewer.qt.main_window import MainWindow

#: The status-bar line of the first start (shown once, remembered in the settings).
FIRST_START_HINT = ("New here? Help > Getting started (Shift+F1) explains the map, the threshold and how far to "
                    "trust the model. F1 lists every key.")

PAGE = """
<h3>Getting started</h3>
<p><b>Open</b> chest X-rays (PNG, JPEG, DICOM) with File &gt; Open or by dropping files or folders
on the window. The model runs on each study in the background; the Studies list shows where
each one is.</p>
<h4>The map</h4>
<p>The coloured overlay is the model's <b>foreground map</b> for the finding chosen in the
Findings panel: for each pixel, how strongly the model ties that part of the image to the
finding, from 0 to 1. The model learned it from image-level labels only (which findings a
film has, never where), so the map shows where the model <i>looks</i>, not a drawn
lesion. The probabilities beside the findings rank them for this image; they are not
calibrated risks, and "no finding" is not one of them.</p>
<h4>The threshold</h4>
<p>The threshold (Overlay panel, or <b>[</b> and <b>]</b>) cuts the map: only the part above it is
coloured, its outline is the contour, and each region becomes a box. Lower it and the boxes
grow; raise it and they shrink to the strongest part. It starts at the value the weights were
tuned with for that finding (<b>R</b> returns to it). Ground-truth boxes, when a test_gt.txt or
BBox_List CSV is found, are drawn dashed with their IoU and hit or miss.</p>
<h4>How far to trust it</h4>
{trust}
<p>The full card, with the measured scores, is under Model &gt; Model card (Ctrl+I).</p>
<h4>Also</h4>
<p>Right drag: window/level. Wheel: zoom. <b>D</b>: the distance tool (mm when the file says
how big a pixel is). Exports (File menu) carry no patient identifiers unless you ask.</p>
"""


def trust_html(card_text: str | None, model_name: str = "") -> str:
    """What the loaded weights' card says about their use: its first paragraph, quoted."""
    paragraph = _first_paragraph(card_text or "")
    if not paragraph:
        name = f" of {html.escape(model_name)}" if model_name else ""
        return (f"<p>The weights{name} come with no model card: nothing says what they were "
                "validated for, so read their maps as unvalidated research output.</p>")
    quoted = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(paragraph))
    return f"<p>The model card of the loaded weights says:</p><blockquote>{quoted}</blockquote>"


def page_html(card_text: str | None, model_name: str = "") -> str:
    return PAGE.replace("{trust}", trust_html(card_text, model_name))


def show(window: MainWindow) -> QDialog:
    """Help > Getting started (and the first-start hint goes: it has been followed)."""
    window.first_start_hint.setVisible(False)
    browser = QTextBrowser()
    browser.setHtml(page_html(window.inference.card_text, window.model.model_status.name))
    return dialogs.show_dialog(window, "Getting started", browser, (640, 640))


class FirstStartHint(QWidget):
    """The status bar's one-time hint with a close button.

    Signals:
        dismissed(): the reader closed it.
    """

    dismissed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel(FIRST_START_HINT)
        close = QToolButton()
        close.setText("\u00d7")
        close.setToolTip("Hide this hint")
        close.clicked.connect(self._dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(close)

    def _dismiss(self) -> None:
        self.setVisible(False)
        self.dismissed.emit()


def _first_paragraph(markdown: str) -> str:
    """The card's first paragraph of prose (headings skipped), on one line."""
    lines: list[str] = []
    for line in markdown.splitlines():
        text = line.strip()
        if text.startswith("#"):
            if lines:
                break
            continue
        if not text:
            if lines:
                break
            continue
        lines.append(text)
    return " ".join(lines)
