"""One study: an image file, what was read from it and what the model said about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sr_core.io import XrayImage
from sr_core.prediction import Prediction

from sr_viewer.state.drawn_boxes import DRAWN_SOURCE, DrawnBoxes
from sr_viewer.state.measure import Measurements, Scale


class Status(str, enum.Enum):
    """Where a study is in the pipeline; the value is what the study list shows."""

    OPENED = "opened"  # image readable, no model to run (no weights yet)
    QUEUED = "queued"  # waiting for the model
    RUNNING = "running"  # the model is working on it
    DONE = "done"  # prediction available
    CANCELLED = "cancelled"  # the user stopped the queue before it ran
    ERROR = "error"  # unreadable image or failed inference (see Study.error)


@dataclass(frozen=True)
class GtBox:
    """A ground-truth box at the study's image size.

    Attributes:
        finding: The finding the box was drawn for (NIH spelling of Data_Entry).
        box: (x0, y0, x1, y1) in image pixels, exclusive ends.
        source: The annotation file's name, to tell the reader where it came from.
        drawn: Drawn by the reader in the viewer (Study.drawn_boxes), not loaded from a file.
    """

    finding: str
    box: tuple[float, float, float, float]
    source: str = ""
    drawn: bool = False


@dataclass(eq=False)
class Study:
    """A file the user opened, and everything the viewer knows about it.

    Attributes:
        path: The image file.
        status: Pipeline status (see Status).
        image: The decoded image, or None when not loaded (yet, or evicted to save memory).
        prediction: What the model said, once it ran (sr_core.prediction: no torch).
        error: One-line message when status is ERROR.
        gt_boxes: Ground-truth boxes found for this image, at its size.
        thumbnail: uint8 HxW small grey picture for the study list, or None.
        width, height: Image size once known (kept after the image is evicted).
        finding: The finding the reader chose for this study (None: the top finding).
        window: (center, width) the reader set, in XrayImage.windowed units; None: the
            file's own display.
        source_kind: "png", "jpeg", "dicom" once known.
        scale: How big a pixel is and where that came from (kept after the image is evicted).
        measurements: The distances the reader drew (evented).
        drawn_boxes: The ground-truth boxes the reader drew (evented; see all_gt_boxes).
        view_range: (x0, y0, x1, y1) in image pixels, the part of the image last shown (zoom
            and pan; kept by the canvas, saved in sessions); None: not shown yet.
    """

    path: Path
    status: Status = Status.QUEUED
    image: XrayImage | None = None
    prediction: Prediction | None = None
    error: str | None = None
    gt_boxes: list[GtBox] = field(default_factory=list)
    thumbnail: np.ndarray | None = None
    width: int = 0
    height: int = 0
    finding: str | None = None
    window: tuple[float, float] | None = None
    source_kind: str = ""
    scale: Scale = field(default_factory=Scale)
    measurements: Measurements = field(default_factory=Measurements)
    drawn_boxes: DrawnBoxes = field(default_factory=DrawnBoxes)
    view_range: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def all_gt_boxes(self) -> list[GtBox]:
        """The ground truth scored against the predictions: the loaded boxes, then the drawn ones."""
        drawn = [GtBox(d.finding, d.box, DRAWN_SOURCE, drawn=True) for d in self.drawn_boxes]
        return self.gt_boxes + drawn

    @property
    def readable(self) -> bool:
        """False once the image failed to load (an inference failure keeps it readable)."""
        return not (self.status is Status.ERROR and self.image is None and self.width == 0)

    @property
    def findings(self) -> list[str]:
        """Findings sorted by probability (empty before the model ran)."""
        return list(self.prediction.findings) if self.prediction is not None else []

    @property
    def shown_finding(self) -> str | None:
        """The finding whose map is shown: the chosen one, else the most likely one."""
        if self.prediction is None:
            return None
        if self.finding in self.prediction.probabilities:
            return self.finding
        return self.prediction.findings[0]

    def attach_image(self, image: XrayImage) -> None:
        """Keep a decoded image and remember its size (the size outlives the pixels)."""
        self.image = image
        self.width, self.height = image.width, image.height
        self.source_kind = image.source_kind
        self.scale = Scale.of_image(image)

    def status_text(self) -> str:
        """What the study list shows under the name."""
        if self.status is Status.ERROR and self.error:
            return f"error: {self.error}"
        if self.status is Status.DONE and self.prediction is not None:
            top = self.prediction.findings[0]
            return f"done: {top} {self.prediction.probabilities[top]:.2f}"
        return self.status.value
