"""Help > Getting started and the first start's status-bar hint (shown once, remembered)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QDialog, QTextBrowser

from sr_viewer.qt.getting_started import FIRST_START_HINT, page_html, trust_html
from sr_viewer.settings import Settings

CARD = """# Model card: demo.safetensors

**Intended use: research only. Not for diagnosis.** It scores level with a fixed box.

## What it is
- more
"""


def test_first_start_shows_the_hint_once(make_window, config_dir):
    window = make_window()
    assert window.first_start_hint.isVisible()
    assert window.first_start_hint.label.text() == FIRST_START_HINT and "Getting started" in FIRST_START_HINT
    window.close()
    assert Settings.load(config_dir).first_start_hint_shown
    again = make_window()
    assert not again.first_start_hint.isVisible()


def test_the_hint_survives_a_status_message_and_can_be_dismissed(make_window, qtbot):
    window = make_window()
    window.statusBar().showMessage("something else", 50)
    qtbot.waitUntil(lambda: window.first_start_hint.isVisible(), timeout=2000)  # back after the message
    window.first_start_hint.findChild(type(window.cancel_button)).click()
    assert not window.first_start_hint.isVisible()
    window.statusBar().showMessage("another", 10)
    qtbot.wait(50)
    assert not window.first_start_hint.isVisible()  # dismissed stays dismissed


def test_getting_started_page_explains_map_threshold_and_quotes_the_card(make_window, qtbot, weights):
    window = make_window(weights=weights)
    qtbot.waitUntil(lambda: window.model.model_status.state == "ready", timeout=60_000)
    window.inference.card_text = CARD
    window.actions_by_name["getting_started"].trigger()
    QApplication.processEvents()
    (dialog,) = [d for d in window.findChildren(QDialog) if d.windowTitle() == "Getting started"]
    text = dialog.findChild(QTextBrowser).toPlainText()
    assert "foreground map" in text and "The threshold" in text and "How far to trust it" in text
    assert "Intended use: research only. Not for diagnosis. It scores level with a fixed box." in text
    assert "What it is" not in text  # only the card's first paragraph
    assert not window.first_start_hint.isVisible()  # the hint was followed
    assert window.actions_by_name["getting_started"].shortcut().toString() == "Shift+F1"


def test_without_a_card_the_page_says_the_maps_are_unvalidated():
    assert "no model card" in trust_html(None, "x.safetensors") and "unvalidated" in trust_html("")
    assert "<b>Intended use</b>" in trust_html("**Intended use** here")
    assert "{trust}" not in page_html(None)


def test_the_bundled_card_s_warning_reaches_the_page():
    from sr_core.bundled import default_weights

    from sr_viewer.jobs import model_card_text

    card = model_card_text(default_weights())  # the card shipped in resources/weights
    assert card and "Not for diagnosis, triage or any clinical decision" in trust_html(card)
