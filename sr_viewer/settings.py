"""Settings that survive a restart, as JSON in platformdirs' config folder.

    SR_VIEWER_CONFIG_DIR=/tmp/x sr-viewer     # tests and portable use: config, logs and state there
    SR_VIEWER_STATE_DIR=/tmp/s sr-viewer      # only the state (the session autosave) elsewhere

The file is written atomically (temporary file + rename) so a crash never leaves half of
it; an unreadable or foreign file is set aside and defaults are used, with a log line.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

from sr_viewer.state.view import ViewSettings

log = logging.getLogger(__name__)

APP_NAME = "sr-viewer"
CONFIG_ENV = "SR_VIEWER_CONFIG_DIR"
STATE_ENV = "SR_VIEWER_STATE_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 10


def config_dir() -> Path:
    """Where settings live: $SR_VIEWER_CONFIG_DIR, else platformdirs' user config folder."""
    override = os.environ.get(CONFIG_ENV)
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """Where the log goes: <config>/logs with the override (tests), else user_log_dir."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Where the session autosave lives: $SR_VIEWER_STATE_DIR, else <config>/state with the
    config override (tests), else platformdirs' user state folder. Never a source folder."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override)
    config = os.environ.get(CONFIG_ENV)
    if config:
        return Path(config) / "state"
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def _view(name: str) -> Any:
    """A persisted ViewSettings field: its default is the view's own (declared once, there)."""
    return field(default=ViewSettings.default(name), metadata={"view": True})


@dataclass
class Settings:
    """Everything the viewer remembers between sessions.

    Attributes:
        colormap, opacity: Heatmap look (these four are ViewSettings fields, see restore_view).
        thresholds: {model name: {finding: threshold}} the reader set (else the weights' own).
        mode: "largest" or "all" components.
        iou_threshold: Hit/miss cut-off for GT comparison.
        device: "auto", "cpu" or "cuda".
        weights: Last weights file used (None: the bundled default, if any).
        window_geometry, window_state: Qt's saveGeometry/saveState, base64 text.
        recent_files: Most recent first (files and folders).
        theme: "dark" or "light".
        last_folder: Where file dialogs open.
        export_identifiers: Whether the reader last ticked "include patient identifiers".
        first_start_hint_shown: The status bar's "Getting started" hint was shown (once).
    """

    colormap: str = _view("colormap")
    opacity: float = _view("opacity")
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    mode: str = _view("mode")
    iou_threshold: float = _view("iou_threshold")
    device: str = "auto"
    weights: str | None = None
    window_geometry: str = ""
    window_state: str = ""
    recent_files: list[str] = field(default_factory=list)
    theme: str = "dark"
    last_folder: str = ""
    export_identifiers: bool = False
    first_start_hint_shown: bool = False

    def restore_view(self, view: ViewSettings) -> None:
        """Set the persisted view settings; a value the view refuses (an unknown colormap
        in a hand-edited file) leaves its default."""
        for name in self._view_fields():
            try:
                setattr(view, name, getattr(self, name))
            except ValueError:
                continue

    def remember_view(self, view: ViewSettings) -> None:
        """Copy the persisted view settings from the session's view."""
        for name in self._view_fields():
            setattr(self, name, getattr(view, name))

    @classmethod
    def _view_fields(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.metadata.get("view")]

    def add_recent(self, path: str | Path) -> None:
        """Put a file or folder first in the recent list (deduplicated, MAX_RECENT long)."""
        text = str(Path(path).resolve())
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        del self.recent_files[MAX_RECENT:]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build from JSON data: unknown keys are dropped and ill-typed values defaulted."""
        defaults = cls()
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value, default = data[f.name], getattr(defaults, f.name)
            if default is None or isinstance(value, type(default)) or (
                isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
            ):
                values[f.name] = value
        settings = cls(**values)
        settings.recent_files = [p for p in settings.recent_files if isinstance(p, str)][:MAX_RECENT]
        settings.thresholds = {
            str(model): {str(k): float(v) for k, v in per.items() if isinstance(v, (int, float))}
            for model, per in settings.thresholds.items()
            if isinstance(per, dict)
        }
        return settings

    @classmethod
    def load(cls, folder: Path | None = None) -> Settings:
        """Read the settings file; defaults when it is missing or unusable (never raises)."""
        path = (folder or config_dir()) / SETTINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return cls.from_dict(data)
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unusable (%s); using defaults", path, exc)
            return cls()

    def save(self, folder: Path | None = None) -> Path:
        """Write the settings atomically; returns the file written.

        Raises:
            OSError: The folder cannot be created or written.
        """
        folder = folder or config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / SETTINGS_FILE
        fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(asdict(self), handle, indent=2, sort_keys=True)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path
