"""ViewSettings: how the overlay is drawn, the same for every study.

Each setting is declared here once, with its default: the canvas, the panels and the
exporter read them, `sr_viewer.settings.Settings` persists some of them with these defaults,
and the box comparison takes its IoU cut-off from here. Per-study choices (the finding, the
threshold, the window) are the document's (sr_viewer.state.document).
"""

from __future__ import annotations

from dataclasses import dataclass

from sr_core.boxes import MODES

from sr_viewer.state.events import Evented, setting

COLORMAPS = ("inferno", "viridis", "magma", "plasma", "turbo", "cividis")


@dataclass
class ViewSettings(Evented):
    """The overlay's look; `view.events.<name>` fires with the new value on each change.

        view.colormap = "viridis"        # checked, then view.events.colormap("viridis")
        view.toggle("overlay_visible")   # bools flip, choices step

    Attributes:
        mode: "largest" component only, or "all" components (sr_core.boxes.MODES).
        iou_threshold: A GT box is a hit when its best IoU with a predicted box is > this.
        overlay_visible: Heatmap, contour and predicted boxes shown.
        gt_visible: Ground-truth boxes shown.
        colormap: The heatmap's colormap (COLORMAPS).
        opacity: The heatmap's opacity, 0 to 1.
        invert: Grey inverted (white bones on black becomes black on white).
    """

    mode: str = setting("largest", choices=MODES)
    iou_threshold: float = setting(0.3, bounds=(0.0, 1.0))
    overlay_visible: bool = True
    gt_visible: bool = True
    colormap: str = setting(COLORMAPS[0], choices=COLORMAPS)
    opacity: float = setting(0.45, bounds=(0.0, 1.0))
    invert: bool = False
