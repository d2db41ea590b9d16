"""Where the bundled demo study and default weights live (resources/ at the repository root).

Both are optional at run time: a checkout or bundle without them returns None, and the
callers say so instead of guessing.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(os.environ.get("SR_VIEWER_RESOURCES", Path(__file__).resolve().parents[1] / "resources"))
DEFAULT_WEIGHTS_NAME = "sr_efficientnet_lite0.safetensors"


def default_weights() -> Path | None:
    """The bundled default weights file, or None if this installation has none."""
    path = RESOURCES / "weights" / DEFAULT_WEIGHTS_NAME
    return path if path.is_file() else None


def bundled_weights() -> list[Path]:
    """Every bundled weights file (*.safetensors in resources/weights): the default first,
    then the others by name; [] if this installation has none."""
    folder = RESOURCES / "weights"
    if not folder.is_dir():
        return []
    files = sorted(path for path in folder.glob("*.safetensors") if path.is_file())
    return sorted(files, key=lambda path: path.name != DEFAULT_WEIGHTS_NAME)  # stable: the rest keep their order


def demo_study() -> Path | None:
    """The bundled demo study folder, or None if this installation has none."""
    path = RESOURCES / "demo"
    return path if path.is_dir() else None
