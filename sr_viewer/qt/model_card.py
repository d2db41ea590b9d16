"""Model > Model card: what the weights say about themselves, and the card next to them.

The loaded model's metadata and Markdown card come from the inference controller; weights
that failed to load may still have readable metadata and a card, read here on demand.
"""

from __future__ import annotations

import dataclasses
import html
import json
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QDialog, QTextBrowser, QWidget

from sr_viewer.qt import dialogs
from sr_viewer.state import ModelStatus

if TYPE_CHECKING:  # the window's actions call show(); only the type is needed here
    from sr_viewer.qt.main_window import MainWindow


def show(window: MainWindow) -> QDialog:
    """The card of the weights in use, or of the weights that failed to load."""
    status = window.model.model_status
    card_text = window.inference.card_text
    if not status.metadata and status.weights is not None and status.state != "loading":
        # Weights that failed to load may still have a readable card (torch is loaded
        # by now: the worker imported it while trying).
        from sr_core.checkpoint import WeightsError, read_metadata

        from sr_viewer.jobs import model_card_text

        try:
            status = dataclasses.replace(status, metadata=read_metadata(status.weights))
        except (WeightsError, OSError) as exc:
            window.notifier.say(f"No model card: {exc}")
        card_text = model_card_text(status.weights)
    return show_model_card(window, status, card_text)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(_rounded(value), indent=1, sort_keys=True)[:2000]
    return str(value)


def _rounded(value: Any) -> Any:
    """Floats inside dicts and lists to 4 significant digits, as a lone float is shown
    (a threshold stored as 0.8200000000000001 reads 0.82)."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


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
        ("Detail size", None if meta.get("detail_size") is None
         else f"larger images are first reduced to {meta['detail_size']} px an axis"),
        ("Classes", ", ".join(meta.get("class_names", []))),
        ("Default threshold", meta.get("default_threshold")),
        ("Per-finding thresholds", meta.get("fpm_thresholds")),
        ("Operating points", meta.get("operating_points") or "none"),
        ("Provenance", meta.get("provenance") or meta.get("training") or meta.get("data")),
        ("Metrics", meta.get("metrics")),
        ("Format", f"{meta.get('format')} v{meta.get('format_version')}, {meta.get('dtype', '')}"),
    ]
    cells = "".join(
        # The names never wrap and the values do: a long JSON value (the provenance) would
        # otherwise take the width and squeeze the names to a letter a line.
        f"<tr><th align='left' valign='top' nowrap>{html.escape(k)}</th>"
        f"<td><pre style='margin:0; white-space: pre-wrap'>{html.escape(_value(v))}</pre></td></tr>"
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
    return dialogs.show_dialog(parent, "Model card", browser)
