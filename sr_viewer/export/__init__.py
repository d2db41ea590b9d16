"""Exports: annotated PNG (painted by sr_viewer.qt.render), DICOM Secondary Capture, box tables.

The data side lives here, Qt-free; painting a picture needs Qt and lives in qt/render.py.
Exports never overwrite a source image or an earlier export (see paths.safe_output_path).
"""

from sr_viewer.export.annotation import Annotation, build_annotation, heat_rgba
from sr_viewer.export.paths import ExportError, export_name, safe_output_path
from sr_viewer.export.tables import box_records, comparison_records, write_boxes_csv, write_boxes_json

__all__ = [
    "Annotation",
    "ExportError",
    "box_records",
    "build_annotation",
    "comparison_records",
    "export_name",
    "heat_rgba",
    "safe_output_path",
    "write_boxes_csv",
    "write_boxes_json",
]
