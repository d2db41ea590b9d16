"""Dark (reading room: low glare, neutral greys) and light themes on Qt's Fusion style.

The canvas stays black in both: an X-ray is read against black.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light")
ICON_NAME = "sr-viewer.svg"


def app_icon() -> QIcon:
    """The application icon from resources/icons (an empty icon if it is not installed)."""
    from sr_core.bundled import RESOURCES

    path = Path(RESOURCES) / "icons" / ICON_NAME
    return QIcon(str(path)) if path.is_file() else QIcon()

_DARK = {
    QPalette.ColorRole.Window: "#1b1b1d",
    QPalette.ColorRole.WindowText: "#d6d6d6",
    QPalette.ColorRole.Base: "#121213",
    QPalette.ColorRole.AlternateBase: "#1f1f22",
    QPalette.ColorRole.ToolTipBase: "#2a2a2e",
    QPalette.ColorRole.ToolTipText: "#e0e0e0",
    QPalette.ColorRole.Text: "#d6d6d6",
    QPalette.ColorRole.Button: "#26262a",
    QPalette.ColorRole.ButtonText: "#d6d6d6",
    QPalette.ColorRole.BrightText: "#ff5555",
    QPalette.ColorRole.Highlight: "#3d5a80",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8ab4f8",
    QPalette.ColorRole.PlaceholderText: "#7a7a7a",
}


def apply_theme(app: QApplication, name: str) -> str:
    """Apply "dark" or "light" (anything else: dark); returns the theme applied."""
    name = name if name in THEMES else "dark"
    app.setStyle("Fusion")
    if name == "light":
        app.setPalette(app.style().standardPalette())
        return name
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6b6b"))
    app.setPalette(palette)
    return name
