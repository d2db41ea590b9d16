"""Exports from the viewer: annotated PNG, DICOM Secondary Capture, Presentation State and
Structured Report, box tables, batches.

Every method takes its destination and options as arguments (the menu actions ask with a
dialog first: ask_export_presentation_state and ask_export_structured_report below are such
commands), so scripts and tests export without dialogs. Destinations pass through
safe_output_path: a source image is never overwritten, an existing export gets a suffix.
With a comparison open, export_comparison_png and export_boxes(..., comparison=True) put
model B beside model A (the single exports' builders, once per model); the batch and the
DICOM exports stay A's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sr_core.io import IDENTIFIER_KEYS, ImageReadError, XrayImage, read_image

from sr_viewer.export import (
    ExportError,
    box_records,
    build_annotation,
    comparison_records,
    export_name,
    safe_output_path,
    write_boxes_csv,
    write_boxes_json,
)
from sr_viewer.qt.canvas import colormap_lut
from sr_viewer.qt.render import qimage_to_rgb, render_annotation, render_side_by_side
from sr_viewer.state import Study, ViewerModel
from sr_viewer.state.comparison import Comparison

if TYPE_CHECKING:  # the window imports this module; the dialog commands only need its type
    from sr_viewer.qt.main_window import MainWindow

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    """What a batch export wrote and what it skipped (with why)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped by the progress callback; the exports so far are kept
    exported_studies: int = 0


class Exporter:
    """Writes exports of a ViewerModel's studies at the current view settings.

    Args:
        model: The document (model A).
        comparison: Model B's state, for the comparison exports (None: there are none).
    """

    def __init__(self, model: ViewerModel, comparison: Comparison | None = None) -> None:
        self.model = model
        self.comparison = comparison

    def sources(self) -> list[Path]:
        return [s.path for s in self.model.studies]

    def _image(self, study: Study) -> XrayImage:
        if study.image is not None:
            return study.image
        try:
            image = read_image(study.path)
        except ImageReadError as exc:
            raise ExportError(str(exc)) from None
        study.source_kind = study.source_kind or image.source_kind
        return image

    def _identifiers(self, study: Study) -> dict:
        """Identifiers for the legend, read only now, only when the reader asked."""
        if study.source_kind != "dicom":
            return {}
        try:
            metadata = read_image(study.path, include_identifiers=True).metadata
        except ImageReadError:
            return {}
        return {k: metadata[k] for k in IDENTIFIER_KEYS if metadata.get(k)}

    def _annotation(self, study: Study, image: XrayImage, overlay, model_name: str, identifiers: dict | None,
                    include_identifiers: bool, side: str | None = None):
        """build_annotation at the current view settings, for one model's overlay of the study."""
        view = self.model.view
        return build_annotation(
            image, overlay,
            window=study.window, invert=view.invert,
            lut=colormap_lut(view.colormap)[:, :3], opacity=view.opacity, mode=view.mode,
            iou_threshold=view.iou_threshold, model_name=model_name, show_heatmap=view.overlay_visible,
            show_gt=view.gt_visible, identifiers=identifiers, include_identifiers=include_identifiers, side=side,
        )

    def render(self, study: Study, include_identifiers: bool = False):
        """The annotated QImage of a study at full resolution."""
        identifiers = self._identifiers(study) if include_identifiers else None
        return render_annotation(self._annotation(study, self._image(study), self.model.overlay_for(study),
                                                  self.model.model_status.name, identifiers, include_identifiers))

    def comparison_annotations(self, study: Study, include_identifiers: bool = False):
        """A's and B's Annotations of a study (each its own overlay, threshold and legend; the
        GT and the distances on both): what render_comparison paints side by side."""
        comparison = self._open_comparison()
        image = self._image(study)
        identifiers = self._identifiers(study) if include_identifiers else None
        left = self._annotation(study, image, self.model.overlay_for(study), self.model.model_status.name,
                                identifiers, include_identifiers, side="A")
        right = self._annotation(study, image, comparison.overlay_for(study), comparison.name,
                                 identifiers, include_identifiers, side="B")
        return left, right

    def render_comparison(self, study: Study, include_identifiers: bool = False):
        """A's annotated picture of a study beside B's, at full resolution."""
        return render_side_by_side(*self.comparison_annotations(study, include_identifiers))

    def _open_comparison(self) -> Comparison:
        if self.comparison is None or not self.comparison.active:
            raise ExportError("no comparison model is open")
        return self.comparison

    def export_png(self, study: Study, path: str | Path, include_identifiers: bool = False) -> Path:
        """Write the annotated PNG; returns the path written (maybe suffixed)."""
        return self._write_png(self.render(study, include_identifiers), path, "PNG")

    def export_comparison_png(self, study: Study, path: str | Path, include_identifiers: bool = False) -> Path:
        """Write A's and B's annotated pictures side by side as one PNG (render_comparison)."""
        return self._write_png(self.render_comparison(study, include_identifiers), path, "comparison PNG")

    def _write_png(self, image, path: str | Path, what: str) -> Path:
        target = safe_output_path(Path(path).with_suffix(".png") if not Path(path).suffix else path, self.sources())
        if not image.save(str(target), "PNG"):
            raise ExportError(f"could not write {target.name!r} (folder not writable?)")
        log.info("exported %s %s", what, target.name)
        return target

    def export_dicom(self, study: Study, path: str | Path, include_identifiers: bool = False) -> Path:
        """Write a DICOM Secondary Capture referencing a DICOM source (see export.dicom_sc)."""
        from sr_viewer.export.dicom_sc import secondary_capture  # pydicom: on demand

        target = safe_output_path(path, self.sources())
        overlay = self.model.overlay_for(study)
        description = "SR Viewer annotated image"
        if overlay.finding is not None:
            description += f": {overlay.finding} p={overlay.probability:.3f} threshold {overlay.threshold:.2f}"
        rgb = qimage_to_rgb(self.render(study, include_identifiers))
        dataset = secondary_capture(rgb, study.path, include_identifiers=include_identifiers, description=description)
        return self._write_dicom(dataset, target, "DICOM SC")

    def export_presentation_state(self, study: Study, path: str | Path, include_identifiers: bool = False) -> Path:
        """Write a DICOM Grayscale Softcopy Presentation State of the overlay on a DICOM source:
        boxes, contour, ground truth and distances as editable layers, the window as its VOI
        (see export.dicom_pr). A PNG/JPEG source is refused in one line."""
        from sr_viewer.export.dicom_pr import PRESENTATION_STATE, presentation_state  # highdicom: on demand

        require_dicom(study, PRESENTATION_STATE)
        target = safe_output_path(path, self.sources())
        model, view = self.model, self.model.view
        dataset = presentation_state(
            model.overlay_for(study), study.path, model_name=model.model_status.name, image=self._image(study),
            window=study.window, invert=view.invert, include_identifiers=include_identifiers)
        return self._write_dicom(dataset, target, "DICOM presentation state")

    def export_structured_report(self, study: Study, path: str | Path, include_identifiers: bool = False) -> Path:
        """Write a DICOM TID 1500 measurement report of a DICOM source: each predicted box as a
        coded planar region with its probability, each distance (see export.dicom_sr). A
        PNG/JPEG source is refused in one line."""
        from sr_viewer.export.dicom_sr import STRUCTURED_REPORT, structured_report  # highdicom: on demand

        require_dicom(study, STRUCTURED_REPORT)
        target = safe_output_path(path, self.sources())
        status = self.model.model_status
        architecture = status.metadata.get("model")
        dataset = structured_report(
            self.model.overlay_for(study), study.path, model_name=status.name,
            model_version=str(architecture.get("name", "")) if isinstance(architecture, dict) else "",
            mode=self.model.view.mode, include_identifiers=include_identifiers)
        return self._write_dicom(dataset, target, "DICOM structured report")

    @staticmethod
    def _write_dicom(dataset, target: Path, what: str) -> Path:
        """Save a pydicom/highdicom dataset as a DICOM file (with preamble)."""
        try:
            dataset.save_as(str(target), enforce_file_format=True)
        except OSError as exc:
            raise ExportError(f"could not write {target.name!r}: {exc.strerror or exc}") from None
        log.info("exported %s %s", what, target.name)
        return target

    def export_boxes(self, studies: list[Study], path: str | Path, comparison: bool = False) -> Path:
        """Write the boxes of studies as CSV (or JSON when the name ends in .json).

        Args:
            studies: The studies (unreadable ones are left out).
            path: The destination.
            comparison: Add model B's boxes (export.comparison_records; a comparison must be open).
        """
        target = safe_output_path(path, self.sources())
        name = self.model.model_status.name
        if comparison:
            other = self._open_comparison()
            records = [r for s in studies if s.readable for r in comparison_records(
                self.model.overlay_for(s), name, other.overlay_for(s), other.name)]
        else:
            records = [r for s in studies if s.readable for r in box_records(self.model.overlay_for(s), name)]
        try:
            if target.suffix.lower() == ".json":
                write_boxes_json(records, target)
            else:
                write_boxes_csv(records, target)
        except OSError as exc:
            raise ExportError(f"could not write {target.name!r}: {exc.strerror or exc}") from None
        return target

    def save_drawn_boxes(self, path: str | Path) -> tuple[Path, int]:
        """Write every open study's drawn boxes as a BBox_List_2017 CSV (export.bbox_list);
        never over a ground-truth file or a source image. Returns (path, boxes written)."""
        from sr_viewer.export.bbox_list import write_drawn_boxes

        path = Path(path)
        protected = [*self.model.ground_truth.files, *self.sources()]
        try:
            count = write_drawn_boxes(path, self.model.studies, protected)
        except OSError as exc:
            raise ExportError(f"could not write {path.name!r}: {exc.strerror or exc}") from None
        log.info("saved %d drawn boxes to %s", count, path.name)
        return path, count

    def export_all(self, folder: str | Path, include_identifiers: bool = False, dicom: bool = True,
                   progress=None) -> BatchReport:
        """Export every readable study to a folder: PNG each, SC for DICOM sources, one CSV.

        Args:
            folder: Destination (created if missing).
            include_identifiers: As for single exports.
            dicom: Also write a Secondary Capture for each DICOM source.
            progress: Optional callback (done, total) between studies; returning False stops
                the batch there (boxes.csv still covers the studies exported so far).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        report = BatchReport()
        studies = list(self.model.studies)
        exported = []
        for done, study in enumerate(studies):
            if progress is not None and progress(done, len(studies)) is False:
                report.cancelled = True
                break
            if not study.readable:
                report.skipped.append(f"{study.name}: {study.error or 'unreadable'}")
                continue
            try:
                report.written.append(self.export_png(study, folder / export_name(study.path, ".png"), include_identifiers))
                if dicom and study.source_kind == "dicom":
                    report.written.append(self.export_dicom(study, folder / export_name(study.path, ".dcm"), include_identifiers))
                exported.append(study)
            except ExportError as exc:
                report.skipped.append(str(exc))
        report.exported_studies = len(exported)
        if exported:
            report.written.append(self.export_boxes(exported, folder / "boxes.csv"))
        if progress is not None and not report.cancelled:
            progress(len(studies), len(studies))
        return report


def ask_export_presentation_state(window: MainWindow) -> Path | None:
    """File > Export DICOM presentation state: ask where, write it, say so in the status bar.

    A study known not to be DICOM gets the one-line refusal, and no dialog.
    """
    from sr_viewer.export.dicom_pr import PRESENTATION_STATE

    return _ask_export_dicom(window, PRESENTATION_STATE, "DICOM presentation state", "pr",
                             window.exporter.export_presentation_state)


def ask_export_structured_report(window: MainWindow) -> Path | None:
    """File > Export DICOM structured report: as ask_export_presentation_state."""
    from sr_viewer.export.dicom_sr import STRUCTURED_REPORT

    return _ask_export_dicom(window, STRUCTURED_REPORT, "DICOM structured report", "report",
                             window.exporter.export_structured_report)


def _ask_export_dicom(window: MainWindow, what: str, title: str, tag: str, export) -> Path | None:
    """The window's save dialog (never confirms an overwrite: safe_output_path suffixes), then
    `export(study, path, include_identifiers)` through the window's error reporting."""
    study = window._exportable_current()
    if study is None:
        return None
    try:
        require_dicom(study, what)
    except ExportError as exc:
        window.notifier.say(str(exc))
        return None
    path = window._save_path(f"Export {title}", export_name(study.path, ".dcm", tag), "DICOM (*.dcm)")
    if path is None:
        return None
    return window._export(title, lambda: export(study, path, window.include_identifiers))


def require_dicom(study: Study, what: str) -> None:
    """Refuse a study known not to be DICOM in one line (one not read yet: the builder checks)."""
    from sr_viewer.export.dicom_pr import needs_dicom

    if study.source_kind and study.source_kind != "dicom":
        raise needs_dicom(what)
