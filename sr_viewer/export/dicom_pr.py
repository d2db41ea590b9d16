"""DICOM Grayscale Softcopy Presentation State: the overlay as an editable layer on the source.

A PACS viewer (OHIF, Weasis, a vendor's workstation) that opens the source image with this
object shows the boxes, the contour, the ground truth and the distances as graphics it can
hide, move or edit, over the untouched source pixels. Built by highdicom.pr (GSPS,
1.2.840.10008.5.1.4.1.1.11.1), so the modules are the standard's, not assembled by hand.

What is written:

* A new SOP Instance UID in a new series (9002; the Secondary Capture's is 9001).
* The source image: ReferencedSeriesSequence names its SeriesInstanceUID and SOP Class and
  Instance UIDs, and every graphic annotation references it.
* Coordinates in PIXEL units of the source, unchanged from the viewer's: DICOM puts (0, 0) at
  the top-left corner of the top-left pixel and (Columns, Rows) at the bottom-right corner of
  the last (PS3.3 C.10.5.1.2), the frame of sr_core.boxes, so a box (x0, y0, x1, y1) with
  exclusive ends is the polyline through its four corners and contour vertices (pixel
  centres, col + 0.5) stay where they are. Points are kept inside the image.
* One graphic layer per kind, in the viewer's colours (palette.PALETTE), each mark with a text
  label; empty layers are left out:
  PREDICTIONS    the predicted boxes: finding, probability, threshold, model (and IoU)
  CONTOUR        the outline of each kept component at the threshold (closed polylines)
  GROUND_TRUTH   the loaded and drawn GT boxes, labelled as in the boxes table
  MEASUREMENTS   the reader's distances (two-point polylines) with their length and scale
* The window the reader set, as the Softcopy VOI LUT: a linear window in the source's
  modality values (XrayImage.windowed's fractions of raw_range, converted back); with the
  file's own window, the source's VOI attributes as they are. The Presentation LUT is
  INVERSE when the screen shows the data inverted (MONOCHROME1 unless the reader inverted
  it, or a MONOCHROME2 the reader inverted), so the PR shows what the viewer showed.
* Patient and study exactly as the Secondary Capture (export.dicom_sc): with identifiers off
  the Patient module is empty, the study is a new one and PatientIdentityRemoved = YES;
  with identifiers on the source's patient and study identity are copied, so the PR files
  into the source study. A viewer applies a presentation state to the images of its own
  study, so only the second opens on the original in a PACS; the first is for sharing.

highdicom copies the whole Patient and Study modules of the image it is given (age, other
IDs, ...) and its equipment (institution); `source_stand_in` hands it only the references
and LUT attributes of the source plus dicom_sc's patient and study, so a PR (or a
dicom_sr report) names nothing the Secondary Capture would not.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from sr_core.io import XrayImage
from sr_core.io.image import one_line

from sr_viewer.export.dicom_sc import _patient_and_study, _reference, read_source_header
from sr_viewer.export.paths import ExportError
from sr_viewer.palette import PALETTE
from sr_viewer.state.overlay import Overlay
from sr_viewer.state.window import Window

SERIES_NUMBER = 9002
CONTENT_LABEL = "SR_OVERLAY"
LABEL_HEIGHT = 0.025  # text boxes are this fraction of the image height (at least 8 px)
CHARACTER_SET = "ISO_IR 192"  # UTF-8, as the Secondary Capture
PRESENTATION_STATE = "A DICOM presentation state"  # what the messages call it

#: What a stand-in keeps of the source header: the references, the size, the LUTs.
STAND_IN_KEYWORDS = (
    "SOPInstanceUID", "SeriesInstanceUID", "Modality", "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel",
    "PhotometricInterpretation", "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
    "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction", "VOILUTSequence",
)
REQUIRED_KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Rows", "Columns")

Points = np.ndarray  # (N, 2) float (column, row) in source pixels


@dataclass(frozen=True)
class Layer:
    """A graphic layer: its DICOM name (CS, 16 characters), what it holds, its colour."""

    name: str
    description: str
    colour: tuple[int, int, int]


PREDICTIONS = Layer("PREDICTIONS", "Predicted boxes of the shown finding", PALETTE.pred_box)
CONTOUR = Layer("CONTOUR", "Outline of the map at the threshold", PALETTE.contour)
GROUND_TRUTH = Layer("GROUND_TRUTH", "Ground-truth boxes, loaded and drawn", PALETTE.gt_box)
MEASUREMENTS = Layer("MEASUREMENTS", "Distances measured by the reader", PALETTE.measure)
LAYERS = (PREDICTIONS, CONTOUR, GROUND_TRUTH, MEASUREMENTS)


def needs_dicom(what: str) -> ExportError:
    """The one-line refusal for a PNG/JPEG source."""
    return ExportError(f"{what} needs a DICOM source image: for PNG/JPEG use "
                       f"File > Export annotated PNG or Export boxes (CSV/JSON)")


def dicom_source(source: Path, what: str) -> Dataset:
    """The source's DICOM header, checked to hold what a reference needs.

    Raises:
        ExportError: The source is not DICOM (`needs_dicom`) or lacks a UID or its size.
    """
    header = read_source_header(source)
    if header is None:
        raise needs_dicom(what)
    missing = [k for k in REQUIRED_KEYWORDS if not header.get(k)]
    if missing:
        raise ExportError(f"{what} needs {', '.join(missing)} in {source.name!r}, which the file lacks")
    return header


def source_stand_in(header: Dataset, include_identifiers: bool) -> Dataset:
    """The source image as highdicom is shown it: references, size and LUTs of the source,
    patient and study by dicom_sc's rule (see the module docstring)."""
    stand_in = Dataset()
    for keyword in STAND_IN_KEYWORDS:
        if keyword in header:
            stand_in[keyword] = deepcopy(header[keyword])
    stand_in.SOPClassUID = _reference(header).ReferencedSOPClassUID
    _patient_and_study(stand_in, header, include_identifiers)
    return stand_in


@contextmanager
def names_as_given() -> Iterator[None]:
    """Silence highdicom's warning about one-component person names (a UUID or "Anonymized").
    The names it copies are the source's own, or empty: written as the source wrote them, which
    is right, so the warning would only be noise on a user's terminal at every export."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name",
                                category=UserWarning)
        yield


def software_version() -> str:
    try:
        return metadata.version("sr-viewer")
    except metadata.PackageNotFoundError:
        return "unknown"


def rectangle(box: tuple[float, float, float, float], width: int, height: int) -> Points:
    """The closed polyline of a box (x0, y0, x1, y1): its corners clockwise from top-left,
    the first repeated, kept inside the image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
    return inside(corners, width, height)


def inside(points: np.ndarray, width: int, height: int) -> Points:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.column_stack([np.clip(points[:, 0], 0, width), np.clip(points[:, 1], 0, height)])


def layer_marks(overlay: Overlay, model_name: str, width: int, height: int) -> dict[Layer, list[tuple[Points, str]]]:
    """(points, label) of every mark per layer; a closed shape repeats its first point."""
    marks: dict[Layer, list[tuple[Points, str]]] = {layer: [] for layer in LAYERS}
    finding, threshold = overlay.finding, overlay.threshold
    if overlay.regions is not None and overlay.probability is not None:
        for row in overlay.pred_rows:
            label = f"{finding} p={overlay.probability:.3f} threshold {threshold:.2f} {model_name or 'model'}"
            if row.iou is not None:
                label += f" IoU {row.iou:.2f}"
            marks[PREDICTIONS].append((rectangle(row.box, width, height), label))
        for contour in overlay.regions.contours:
            points = inside(contour, width, height)
            marks[CONTOUR].append((np.vstack([points, points[:1]]), f"{finding} map >= {threshold:.2f}"))
    for row in overlay.gt_rows:
        label = row.label + (" (drawn)" if row.drawn else "")
        marks[GROUND_TRUTH].append((rectangle(row.box, width, height), label))
    scale = overlay.study.scale
    for distance in overlay.study.measurements:
        marks[MEASUREMENTS].append((inside([distance.start, distance.end], width, height),
                                    scale.distance_label(distance.start, distance.end)))
    return marks


def label_box(points: Points, text: str, width: int, height: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a text label just above a mark's top-left, inside the image."""
    line = max(8.0, round(height * LABEL_HEIGHT))
    length = min(float(width), max(line, 0.6 * line * len(text)))
    x, y = float(points[:, 0].min()), float(points[:, 1].min())
    left = max(0.0, min(x, width - line))
    top = min(max(0.0, y - line), height - line)
    return (left, top, min(float(width), left + length), top + line)


def graphic_annotation(reference: Dataset, layer: hd.pr.GraphicLayer, points: Points,
                       text: str) -> hd.pr.GraphicAnnotation:
    """One mark of a layer: its polyline and its label, on the source image."""
    width, height = int(reference.Columns), int(reference.Rows)
    shape = hd.pr.GraphicObject(hd.pr.GraphicTypeValues.POLYLINE, points, hd.pr.AnnotationUnitsValues.PIXEL)
    label = hd.pr.TextObject(text, hd.pr.AnnotationUnitsValues.PIXEL,
                             bounding_box=label_box(points, text, width, height),
                             anchor_point=(float(points[0, 0]), float(points[0, 1])), anchor_point_visible=False,
                             text_justification=hd.pr.TextJustificationValues.LEFT)
    return hd.pr.GraphicAnnotation([reference], layer, graphic_objects=[shape], text_objects=[label])


def voi_window(image: XrayImage | None, window: Window | None) -> list[hd.pr.SoftcopyVOILUTTransformation] | None:
    """The reader's window in the source's modality values; None for the file's own window."""
    if window is None or image is None or image.raw is None:
        return None
    low, high = image.raw_range
    span = high - low if high > low else 1.0
    center, width = window
    # One-item lists: highdicom (0.28) stores a plain explanation string letter by letter.
    return [hd.pr.SoftcopyVOILUTTransformation(window_center=[low + center * span],
                                               window_width=[max(width * span, 1.0)],
                                               window_explanation=["SR Viewer window"])]


def presentation_lut(header: Dataset, invert: bool) -> hd.PresentationLUTTransformation:
    """INVERSE when the screen shows the data inverted (see the module docstring)."""
    inverted = (header.get("PhotometricInterpretation") == "MONOCHROME1") != bool(invert)
    shape = hd.PresentationLUTShapeValues.INVERSE if inverted else hd.PresentationLUTShapeValues.IDENTITY
    return hd.PresentationLUTTransformation(presentation_lut_shape=shape)


def presentation_state(
    overlay: Overlay,
    source: Path,
    *,
    model_name: str,
    image: XrayImage | None = None,
    window: Window | None = None,
    invert: bool = False,
    include_identifiers: bool = False,
) -> hd.pr.GrayscaleSoftcopyPresentationState:
    """Build the presentation state of an overlay (see the module docstring for what it holds).

    Args:
        overlay: ViewerModel.overlay_for(study) at the current threshold.
        source: The study's DICOM file.
        model_name: The weights' name, in the labels.
        image: The decoded study (its raw_range converts the window); None: no VOI of ours.
        window: Study.window (None: the file's own window).
        invert: The reader's invert setting.
        include_identifiers: Copy the patient and study identity (dicom_sc's rule).

    Raises:
        ExportError: The source is not DICOM, or lacks a UID or its size.
    """
    header = dicom_source(source, PRESENTATION_STATE)
    reference = source_stand_in(header, include_identifiers)
    description = "SR Viewer overlay"
    if overlay.finding is not None and overlay.probability is not None:
        description = f"SR Viewer: {overlay.finding} p={overlay.probability:.3f} threshold {overlay.threshold:.2f}"
    try:
        layers, annotations = graphic_layers(reference, layer_marks(overlay, model_name, int(reference.Columns),
                                                                    int(reference.Rows)))
        with names_as_given():
            state = hd.pr.GrayscaleSoftcopyPresentationState(
                referenced_images=[reference],
                series_instance_uid=generate_uid(),
                series_number=SERIES_NUMBER,
                sop_instance_uid=generate_uid(),
                instance_number=1,
                manufacturer="SR Viewer",
                manufacturer_model_name="SR Viewer",
                software_versions=software_version(),
                device_serial_number="",
                content_label=CONTENT_LABEL,
                content_description=description[:64],
                graphic_annotations=annotations or None,
                graphic_layers=layers or None,
                voi_lut_transformations=voi_window(image, window),
                presentation_lut_transformation=presentation_lut(header, invert),
                specific_character_set=CHARACTER_SET,
            )
    except ValueError as exc:  # highdicom's checks, e.g. a colour (RGB) source: one line
        raise ExportError(f"presentation state not built: {one_line(exc)}") from None
    state.SeriesDescription = description[:64]
    return state


def graphic_layers(reference: Dataset, marks: dict[Layer, list[tuple[Points, str]]]
                   ) -> tuple[list[hd.pr.GraphicLayer], list[hd.pr.GraphicAnnotation]]:
    """The layers that hold a mark, numbered in LAYERS order, and one annotation per mark."""
    layers, annotations = [], []
    for order, layer in enumerate((layer for layer in LAYERS if marks[layer]), start=1):
        graphic_layer = hd.pr.GraphicLayer(layer.name, order, layer.description,
                                           hd.color.CIELabColor.from_rgb(*layer.colour))
        layers.append(graphic_layer)
        annotations += [graphic_annotation(reference, graphic_layer, points, text) for points, text in marks[layer]]
    return layers, annotations
