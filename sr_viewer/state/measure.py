"""Measurements: the scale a study is measured in, and the distances the reader drew on it.

A `Scale` says how big a pixel is and where that came from, so every number shown or exported
carries its source: DICOM PixelSpacing (calibrated at the patient), ImagerPixelSpacing (at
the detector; divided by EstimatedRadiographicMagnificationFactor when the file has one,
which brings it to the patient, DICOM PS3.3 C.8.11.7), or plain pixels (PNG, JPEG, a DICOM
without spacing). `Measurements` is a study's evented list of `Distance`s; the canvas draws
them, the boxes table and the exports list them.

Coordinates are image pixels in the frame of sr_core.boxes: pixel (col, row) covers
[col, col+1) x [row, row+1), so a box (x0, y0, x1, y1) is x1 - x0 pixels wide and a distance
runs between two points of that plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sr_core.io import XrayImage

from sr_viewer.state.items import EditableItems

Point = tuple[float, float]


@dataclass(frozen=True)
class Scale:
    """How big a pixel is, and where that came from.

    Attributes:
        row_mm, column_mm: Millimetres per pixel down a column (between rows) and along a
            row (between columns); None when the file does not say (then lengths are pixels).
        source: "PixelSpacing", "ImagerPixelSpacing" or "pixels".
        magnification_factor: The factor ImagerPixelSpacing was divided by (None: not applied).
    """

    row_mm: float | None = None
    column_mm: float | None = None
    source: str = "pixels"
    magnification_factor: float | None = None

    @classmethod
    def of_image(cls, image: XrayImage) -> Scale:
        """The scale an image's reader found (sr_core.io: pixel_spacing and its kind)."""
        if image.pixel_spacing is None or image.pixel_spacing_kind is None:
            return cls()
        # patient_spacing is None only for ImagerPixelSpacing without a factor: the detector's.
        row, column = image.patient_spacing or image.pixel_spacing
        factor = image.magnification_factor if image.pixel_spacing_kind == "ImagerPixelSpacing" else None
        return cls(row, column, image.pixel_spacing_kind, factor)

    @property
    def calibrated(self) -> bool:
        """True when lengths are millimetres."""
        return self.row_mm is not None and self.column_mm is not None

    @property
    def unit(self) -> str:
        return "mm" if self.calibrated else "px"

    @property
    def where(self) -> str:
        """Where the millimetres are measured: "at the patient", "at the detector" or ""."""
        if not self.calibrated:
            return ""
        if self.source == "ImagerPixelSpacing" and self.magnification_factor is None:
            return "at the detector"
        return "at the patient"

    @property
    def label(self) -> str:
        """Where the scale comes from, in the reader's words (shown beside every number)."""
        if not self.calibrated:
            return "pixels (the file gives no pixel size)"
        size = f"{self.row_mm:.4g} x {self.column_mm:.4g} mm/pixel"
        if self.source == "ImagerPixelSpacing":
            if self.magnification_factor is None:
                return f"mm at the detector (DICOM ImagerPixelSpacing {size}, no magnification factor)"
            return (f"mm at the patient (DICOM ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor "
                    f"{self.magnification_factor:.4g} = {size})")
        return f"mm at the patient (DICOM PixelSpacing {size})"

    @property
    def short_label(self) -> str:
        """The source in a few words, for the canvas beside a length."""
        if not self.calibrated:
            return "pixels"
        if self.source == "ImagerPixelSpacing":
            return "ImagerPixelSpacing, detector" if self.magnification_factor is None else (
                f"ImagerPixelSpacing / {self.magnification_factor:.4g}, patient")
        return "PixelSpacing, patient"

    def length(self, start: Point, end: Point) -> float:
        """The distance between two image points, in `unit`."""
        dx, dy = end[0] - start[0], end[1] - start[1]
        if self.calibrated:
            dx, dy = dx * self.column_mm, dy * self.row_mm
        return math.hypot(dx, dy)

    def size(self, box: tuple[float, float, float, float]) -> tuple[float, float, float]:
        """(width, height, area) of an (x0, y0, x1, y1) box in `unit` and `unit` squared."""
        width, height = abs(box[2] - box[0]), abs(box[3] - box[1])
        if self.calibrated:
            width, height = width * self.column_mm, height * self.row_mm
        return width, height, width * height

    def length_text(self, start: Point, end: Point) -> str:
        return f"{self.length(start, end):.1f} {self.unit}"

    def distance_label(self, start: Point, end: Point) -> str:
        """The label of a distance, as the canvas and every export write it beside the line:
        "84.0 mm (PixelSpacing, patient)", "120.5 px (pixels)"."""
        return f"{self.length_text(start, end)} ({self.short_label})"

    def size_text(self, box: tuple[float, float, float, float]) -> str:
        width, height, area = self.size(box)
        return f"{width:.1f} x {height:.1f} {self.unit}, {area:.0f} {self.unit}\u00b2"


@dataclass(frozen=True)
class Distance:
    """A straight-line measurement between two image points.

    Attributes:
        id: Unique within the study (stays when the ends move).
        start, end: (x, y) in image pixels.
    """

    id: int
    start: Point
    end: Point


LABEL_EDGE = 0.15  # of the image's width: a label this close to a side grows away from it
LABEL_TOP = 0.05  # of its height: a line this close to the top is labelled below


def label_placement(start: tuple[float, float], end: tuple[float, float], width: float,
                    height: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(position, pyqtgraph anchor) of a distance's label: centred above the line's middle,
    but growing leftwards near the image's right side, rightwards near its left side, and below
    the line near its top, so that a line drawn along an edge keeps its label in the picture
    (the canvas fills its view with the image, so a label past an edge is cut off there).
    The anchor is the point's place in the label: (0.5, 1) its bottom middle, (1, 0) its
    top right; the canvas and the exported annotation both place labels so."""
    (x0, y0), (x1, y1) = start, end
    x = (x0 + x1) / 2
    anchor_x = 1.0 if width and x > width * (1 - LABEL_EDGE) else 0.0 if width and x < width * LABEL_EDGE else 0.5
    if height and min(y0, y1) < height * LABEL_TOP:
        return (x, max(y0, y1)), (anchor_x, 0.0)
    return (x, min(y0, y1)), (anchor_x, 1.0)



class Measurements(EditableItems[Distance]):
    """A study's distances, evented: `events.changed()` fires after every add, move or remove.

    `selected` is the distance last drawn or touched (what Delete removes).
    """

    def add(self, start: Point, end: Point) -> Distance:
        """A new distance, selected."""
        start, end = _point(start), _point(end)
        return self._insert(lambda distance_id: Distance(distance_id, start, end))

    def move(self, distance_id: int, start: Point | None = None, end: Point | None = None) -> None:
        """Move one or both ends of a distance (unknown ids are ignored)."""
        start = _point(start) if start is not None else None
        end = _point(end) if end is not None else None
        self._replace(distance_id, lambda old: replace(old, start=start or old.start, end=end or old.end))


def _point(point: Point) -> Point:
    x, y = (float(v) for v in point)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"a measurement point must be finite, got {point!r}")
    return (x, y)
