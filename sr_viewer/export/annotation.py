"""The data of an annotated export: what is burned into the picture, Qt-free.

`build_annotation` gathers the windowed grey image, the heatmap cut at the threshold, the
boxes, the contour, the ground truth, the reader's distances (labelled as on the canvas,
`Scale.distance_label`) and the legend; sr_viewer.qt.render paints it with
QPainter at full image resolution.

Patient identifiers: the legend names the finding, probability, threshold and model only.
The file name and any DICOM identifiers (patient name, ID, birth date, accession,
institution) appear only when the reader ticks "include patient identifiers": NIH file
names encode the patient number, so even the name is treated as an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from sr_core.io import IDENTIFIER_KEYS, XrayImage

from sr_viewer.palette import PALETTE, OverlayPalette, heat_index
from sr_viewer.state.compare import BoxRow
from sr_viewer.state.document import Overlay
from sr_viewer.state.measure import Point
from sr_viewer.state.window import Window, windowed_grey


@dataclass
class Annotation:
    """Everything an exported picture shows.

    Attributes:
        grey: uint8 HxW, windowed (and inverted) as on screen.
        heat: uint8 HxWx4 straight-alpha RGBA heatmap, transparent below the threshold;
            None when the overlay is hidden or there is no prediction.
        pred_boxes: Predicted boxes (x0, y0, x1, y1), exclusive ends.
        contours: (K, 2) float (x, y) outlines of the kept components.
        gt: The ground-truth rows of the box table: the shown finding's boxes with IoU and
            hit/miss, other findings' boxes as context (drawn faded, not scored).
        distances: The reader's distances: (start, end, label) in image pixels, the label
            as the canvas writes it ("84.0 mm (PixelSpacing, patient)").
        legend: Lines of text for the legend box.
        palette: Colours.
    """

    grey: np.ndarray
    heat: np.ndarray | None = None
    pred_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    contours: list[np.ndarray] = field(default_factory=list)
    gt: list[BoxRow] = field(default_factory=list)
    distances: list[tuple[Point, Point, str]] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    palette: OverlayPalette = PALETTE

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])


def heat_rgba(fpm: np.ndarray, mask: np.ndarray, lut: np.ndarray, opacity: float) -> np.ndarray:
    """Colour an FPM as the canvas does (palette.heat_index through a 256-entry (r, g, b)
    LUT); alpha = opacity where mask, else 0."""
    rgba = np.empty(fpm.shape + (4,), np.uint8)
    rgba[..., :3] = np.asarray(lut, np.uint8)[:, :3][heat_index(fpm)]
    rgba[..., 3] = np.where(mask.astype(bool), np.uint8(round(255 * float(opacity))), np.uint8(0))
    return rgba


def identifier_lines(image: XrayImage | None, identifiers: dict[str, Any] | None, file_name: str) -> list[str]:
    """Legend lines naming the patient and file (only called when the reader asked)."""
    lines = [f"File: {file_name}"]
    if identifiers:
        shown = [f"{key.replace('_', ' ')}: {identifiers[key]}" for key in IDENTIFIER_KEYS if identifiers.get(key)]
        if shown:
            lines.append("; ".join(shown))
    return lines


def ground_truth_lines(rows: list[BoxRow], finding: str | None, iou_threshold: float) -> list[str]:
    """Legend lines on the ground truth: hits among the shown finding's boxes, and how many
    boxes of other findings are drawn as context."""
    scored = [r for r in rows if r.hit is not None]
    context = sum(1 for r in rows if r.context)
    lines = []
    if scored:
        hits = sum(1 for r in scored if r.hit)
        lines.append(f"Ground truth {finding}: {hits}/{len(scored)} hit at IoU > {iou_threshold:.2f}")
    if context:
        lines.append(f"Ground truth of other findings: {context} box(es), not scored")
    return lines


def build_annotation(
    image: XrayImage,
    overlay: Overlay | None,
    *,
    window: Window | None,
    invert: bool,
    lut: np.ndarray,
    opacity: float,
    mode: str,
    iou_threshold: float,
    model_name: str,
    show_heatmap: bool = True,
    show_gt: bool = True,
    identifiers: dict[str, Any] | None = None,
    include_identifiers: bool = False,
    side: str | None = None,
) -> Annotation:
    """Gather an export's content from the image and the overlay at the current settings.

    Args:
        image: The decoded study image.
        overlay: ViewerModel.overlay_for(study) (None: the image alone).
        window, invert: The display settings, as on screen.
        lut: (256, 3+) uint8 colormap of the heatmap.
        opacity: Heatmap opacity 0..1.
        mode: "largest" or "all" (named in the legend).
        iou_threshold: Hit/miss cut-off (named in the legend).
        model_name: Weights file name.
        show_heatmap, show_gt: Draw the heatmap / the ground truth.
        identifiers: DICOM identifiers (IDENTIFIER_KEYS) read for this export, if any.
        include_identifiers: Put the file name and identifiers in the legend.
        side: "A" or "B" in a comparison (named in the legend's model line: "Model B: ...").
    """
    annotation = Annotation(grey=windowed_grey(image, window, invert))
    legend = ["SR Viewer - research use, not for diagnosis"]
    prediction = overlay.prediction if overlay is not None else None  # the study's, or model B's
    if overlay is not None and overlay.regions is not None and prediction is not None:
        regions = overlay.regions
        if show_heatmap:
            annotation.heat = heat_rgba(prediction.fpm(overlay.finding), regions.mask, lut, opacity)
        annotation.pred_boxes = list(regions.boxes)
        annotation.contours = list(regions.contours)
        legend.append(f"Finding: {overlay.finding}   p = {overlay.probability:.3f}")
        what = "largest component" if mode == "largest" else "all components"
        legend.append(f"Threshold: {overlay.threshold:.2f} ({what}, {len(regions.boxes)} box(es))")
    else:
        legend.append("No prediction")
    legend.append(f"Model{' ' + side if side else ''}: {model_name or 'none'}")
    if overlay is not None and show_gt:
        annotation.gt = overlay.gt_rows
        legend += ground_truth_lines(annotation.gt, overlay.finding, iou_threshold)
    if overlay is not None:
        scale = overlay.study.scale
        annotation.distances = [(d.start, d.end, scale.distance_label(d.start, d.end))
                                for d in overlay.study.measurements]
    if include_identifiers:
        legend += identifier_lines(image, identifiers, overlay.study.name if overlay else (image.path.name if image.path else ""))
    legend.append(f"Exported {date.today().isoformat()}")
    annotation.legend = legend
    return annotation
