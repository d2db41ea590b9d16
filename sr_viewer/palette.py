"""The overlay's colours and line styles, shared by the canvas and the exported images.

Chosen to stay apart from each other and from the heatmap colormaps (inferno, viridis ...):
boxes are lime, the contour cyan, ground truth magenta and dashed; ground truth of other
findings than the shown one (context, not scored) is the same magenta faded, dotted; the
reader's distance measurements are amber.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OverlayPalette:
    """Colours as (r, g, b) 0-255; `gt_context` is (r, g, b, a)."""

    pred_box: tuple[int, int, int] = (57, 255, 20)  # lime
    contour: tuple[int, int, int] = (0, 229, 255)  # cyan
    gt_box: tuple[int, int, int] = (255, 59, 212)  # magenta, dashed
    gt_context_alpha: int = 120  # ground truth of other findings: gt_box faded, dotted
    hit: tuple[int, int, int] = (57, 255, 20)
    miss: tuple[int, int, int] = (255, 80, 80)
    measure: tuple[int, int, int] = (255, 196, 0)  # amber: the reader's distances
    legend_text: tuple[int, int, int] = (240, 240, 240)
    legend_back: tuple[int, int, int, int] = (0, 0, 0, 170)
    divider: tuple[int, int, int] = (128, 128, 128)  # between A's and B's halves of a comparison export

    @property
    def gt_context(self) -> tuple[int, int, int, int]:
        """RGBA of a ground-truth box of another finding than the shown one, on the canvas
        and in exports alike (derived, so it follows gt_box)."""
        return (*self.gt_box, self.gt_context_alpha)

    @staticmethod
    def hex(rgb: tuple[int, ...]) -> str:
        return "#" + "".join(f"{v:02x}" for v in rgb[:3])


PALETTE = OverlayPalette()


def heat_index(fpm: np.ndarray) -> np.ndarray:
    """uint8 1..255 colormap index of an FPM in [0, 1]; 0 is kept for "below threshold".

    The canvas and the exports both colour the map through a 256-entry LUT whose entry i
    (i >= 1) is the colormap at (i - 1) / 254.
    """
    return (np.clip(fpm, 0.0, 1.0) * 254.0).astype(np.uint8) + np.uint8(1)
