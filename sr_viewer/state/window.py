"""Window/level for display: the units of XrayImage.windowed, presets and grey levels.

A window is (center, width) in fractions of the image's data range (XrayImage's units);
None means "the file's own display" (`XrayImage.pixels`: the DICOM VOI, or the PNG as is).
The canvas shows 16-bit data and moves only the levels while the reader drags, so a drag on
a 2k x 2k image never recomputes the image: `display_data` is made once per image and
window kind, `display_levels` per mouse move.
"""

from __future__ import annotations

import numpy as np

from sr_core.io import XrayImage

FULL_SCALE = 65535
Window = tuple[float, float]

#: (label, window) presets; None = the file's own window (DICOM VOI or the image as stored).
PRESETS: tuple[tuple[str, Window | None], ...] = (
    ("File default", None),
    ("Full range", (0.5, 1.0)),
    ("High contrast", (0.5, 0.5)),
    ("Low contrast", (0.5, 1.6)),
)


def start_window(image: XrayImage, window: Window | None) -> Window:
    """The window a drag starts from: the reader's, else the file's, else the identity."""
    if window is not None:
        return window
    return image.window if image.window is not None else (0.5, 1.0)


def uses_raw(image: XrayImage, window: Window | None) -> bool:
    """Whether the display re-windows the original data (a DICOM with a reader's window)."""
    return window is not None and image.raw is not None


def display_data(image: XrayImage, window: Window | None) -> np.ndarray:
    """uint16 HxW the canvas shows for this kind of window (see uses_raw).

    The file's own display is `pixels`; a reader's window on a DICOM needs the full data
    range, `windowed(0.5, 1.0)` (already inverted for MONOCHROME1).
    """
    source = image.windowed(0.5, 1.0) if uses_raw(image, window) else image.pixels
    return np.rint(np.clip(source, 0.0, 1.0) * FULL_SCALE).astype(np.uint16)


def display_levels(image: XrayImage, window: Window | None) -> tuple[float, float]:
    """(black, white) levels in display_data units for a window."""
    if window is None:
        return (0.0, float(FULL_SCALE))
    center, width = window
    if uses_raw(image, window) and image.inverted:
        # MONOCHROME1: the data were inverted, so the window's centre is mirrored too.
        center = 1.0 - center
    return ((center - width / 2) * FULL_SCALE, (center + width / 2) * FULL_SCALE)


def windowed_grey(image: XrayImage, window: Window | None, invert: bool = False) -> np.ndarray:
    """uint8 HxW as shown on screen (for exports): window applied, then the reader's invert."""
    grey = image.pixels if window is None else image.windowed(*window)
    out = np.rint(np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8)
    return np.subtract(255, out, out=out) if invert else out


def drag_window(start: Window, dx: float, dy: float, sensitivity: float = 1.0) -> Window:
    """The window after a mouse drag of (dx, dy) fractions of the view size.

    Right moves widen the window (less contrast), down moves raise the centre (darker), as
    in most PACS viewers.
    """
    center, width = start
    width = max(1e-3, width * float(np.exp(dx * 2.0 * sensitivity)))
    center = center + dy * sensitivity * max(width, 0.05)
    return (center, width)
