"""What the viewer knows about the model: which weights, on which device, in what state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_WEIGHTS_MESSAGE = "no weights: choose a weights file (Model > Open weights)"
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class ModelStatus:
    """The model panel's data.

    Attributes:
        state: "none" (no weights), "loading", "ready" or "error".
        weights: The weights file in use or being loaded.
        device: The device the reader asked for: "auto", "cpu" or "cuda".
        active_device: The device the model runs on once loaded ("cpu", "cuda").
        cuda_available: Whether a usable GPU was found (None until torch was imported).
        message: One line for the panel and the status bar.
        metadata: The weights' metadata (model card data) once read.
        name: Short name of the model (the weights file name).
    """

    state: str = "none"
    weights: Path | None = None
    device: str = "auto"
    active_device: str | None = None
    cuda_available: bool | None = None
    message: str = NO_WEIGHTS_MESSAGE
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def update(self, **changes: Any) -> None:
        """Set fields by name (an unknown name raises AttributeError: no silent typo)."""
        for key, value in changes.items():
            if not hasattr(self, key):
                raise AttributeError(f"ModelStatus has no field {key!r}")
            setattr(self, key, value)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def operating_points(self) -> dict[str, float]:
        """{finding: probability cut-off} from the metadata's "operating_points", if any."""
        points = self.metadata.get("operating_points") or {}
        out = {}
        if isinstance(points, dict):
            for finding, value in points.items():
                try:
                    out[str(finding)] = float(value)
                except (TypeError, ValueError):
                    continue  # a malformed entry is not worth refusing the weights for
        return out
