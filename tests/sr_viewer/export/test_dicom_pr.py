"""sr_viewer.export.dicom_pr: the overlay as a Grayscale Softcopy Presentation State on the source
image, read back: references, layers, exact coordinates, labels, window and no identifiers."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from sr_core.io import XrayImage, read_image

from sr_viewer.export import ExportError
from sr_viewer.export.dicom_pr import presentation_state

from .conftest import DISTANCE, DRAWN_GT, LOADED_GT, PRED_BOX, overlay_for, strings_in

GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
IDENTIFIERS = ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName", "PatientAge")


def corners(box):
    x0, y0, x1, y1 = box
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def written(dataset, tmp_path, name="pr.dcm"):
    path = tmp_path / name
    dataset.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


def marks_by_layer(ds):
    """{layer: [(points (N, 2), label)]} as a viewer reads the file."""
    marks = {}
    for annotation in ds.GraphicAnnotationSequence:
        (graphic,) = annotation.GraphicObjectSequence
        (text,) = annotation.TextObjectSequence
        assert hd.pr.GraphicTypeValues(graphic.GraphicType) is hd.pr.GraphicTypeValues.POLYLINE
        assert hd.pr.AnnotationUnitsValues(graphic.GraphicAnnotationUnits) is hd.pr.AnnotationUnitsValues.PIXEL
        points = np.array(graphic.GraphicData, dtype=float).reshape(-1, 2)
        marks.setdefault(annotation.GraphicLayer, []).append((points, text.UnformattedTextValue))
    return marks


def test_presentation_state_references_the_source_and_carries_each_layer(dicom_study, tmp_path):
    model, study, image = dicom_study
    original = pydicom.dcmread(study.path, stop_before_pixels=True)
    ds = written(presentation_state(model.overlay_for(study), study.path, model_name="nano.safetensors",
                                    image=image), tmp_path)

    assert ds.SOPClassUID == GSPS and ds.Modality == "PR" and ds.SOPInstanceUID != original.SOPInstanceUID
    (series,) = ds.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == original.SeriesInstanceUID != ds.SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series.ReferencedImageSequence] == [original.SOPInstanceUID]
    for annotation in ds.GraphicAnnotationSequence:
        assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
        assert annotation.ReferencedImageSequence[0].ReferencedSOPClassUID == original.SOPClassUID
    assert [layer.GraphicLayer for layer in ds.GraphicLayerSequence] == [
        "PREDICTIONS", "CONTOUR", "GROUND_TRUTH", "MEASUREMENTS"]

    marks = marks_by_layer(ds)
    ((box, label),) = marks["PREDICTIONS"]
    assert box.tolist() == corners(PRED_BOX)  # source pixels, exactly
    assert "Mass" in label and "p=0.800" in label and "threshold 0.50" in label and "nano.safetensors" in label
    ((outline, label),) = marks["CONTOUR"]
    assert outline[0].tolist() == outline[-1].tolist()  # closed
    assert outline.min(axis=0).tolist() == [200.5, 300.5] and outline.max(axis=0).tolist() == [599.5, 499.5]
    assert "0.50" in label
    assert [(points.tolist(), text) for points, text in marks["GROUND_TRUTH"]] == [
        (corners(LOADED_GT), "GT Mass IoU 0.81 hit"), (corners(DRAWN_GT), "GT Mass IoU 0.00 miss (drawn)")]
    ((line, label),) = marks["MEASUREMENTS"]
    assert line.tolist() == [list(p) for p in DISTANCE] and label.startswith("84.0 mm")

    # The file's own display (no window set, none in the file) and no inversion.
    assert "SoftcopyVOILUTSequence" not in ds and ds.PresentationLUTShape == "IDENTITY"
    # Identifiers off: the patient is empty, the study new, nothing of the source's patient anywhere.
    assert str(ds.PatientName) == "" and ds.PatientID == "" and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID != original.StudyInstanceUID and "PatientAge" not in ds
    texts = strings_in(ds)
    assert not [k for k in IDENTIFIERS if original.get(k) and str(original.get(k)) in texts]


def test_presentation_state_with_identifiers_joins_the_source_study_and_adds_nothing(dicom_study, tmp_path):
    model, study, image = dicom_study
    original = pydicom.dcmread(study.path, stop_before_pixels=True)
    ds = written(presentation_state(model.overlay_for(study), study.path, model_name="m", image=image,
                                    include_identifiers=True), tmp_path)
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert ds.PatientID == original.PatientID and str(ds.PatientName) == str(original.PatientName)
    assert "PatientIdentityRemoved" not in ds
    assert "PatientAge" not in ds  # the Secondary Capture's rule: the source has one, it is not copied


def test_presentation_state_carries_the_readers_window_and_the_inversion(dicom_study, tmp_path):
    model, study, image = dicom_study
    ds = written(presentation_state(model.overlay_for(study), study.path, model_name="m", image=image,
                                    window=(0.4, 0.5), invert=True), tmp_path)
    (voi,) = ds.SoftcopyVOILUTSequence
    low, high = image.raw_range  # 0..255: the window's fractions of the data range, in stored values
    assert float(voi.WindowCenter) == pytest.approx(low + 0.4 * (high - low))
    assert float(voi.WindowWidth) == pytest.approx(0.5 * (high - low))
    assert ds.PresentationLUTShape == "INVERSE"


def test_monochrome1_source_keeps_its_window_shows_upright_and_names_no_one(shared_data, tmp_path):
    source = shared_data / "dicom" / "CR-MONO1-10-chest.dcm"  # MONOCHROME1, window 550/1024, no pixel size
    original = pydicom.dcmread(source, stop_before_pixels=True, force=True)
    model, overlay = overlay_for(tmp_path, read_image(source))
    model.overlay_for(overlay.study).study.measurements.add((10.0, 10.0), (40.0, 50.0))
    anonymous = written(presentation_state(model.overlay_for(overlay.study), source, model_name="m"), tmp_path)
    (voi,) = anonymous.SoftcopyVOILUTSequence
    assert (float(voi.WindowCenter), float(voi.WindowWidth)) == (550.0, 1024.0)
    assert anonymous.PresentationLUTShape == "INVERSE"  # MONOCHROME1 shown as on screen
    assert marks_by_layer(anonymous)["MEASUREMENTS"][0][1].startswith("50.0 px")
    texts = strings_in(anonymous)
    assert not [t for t in texts if "FUJI" in t or t == "Anonymized"]  # institution, accession, name

    named = written(presentation_state(model.overlay_for(overlay.study), source, model_name="m",
                                       include_identifiers=True), tmp_path, "named.dcm")
    assert named.AccessionNumber == original.AccessionNumber and str(named.PatientName) == "Anonymized"
    assert named.PatientID == "" and named.PatientBirthDate == ""  # the source has none: none added
    assert "InstitutionName" not in named and not [t for t in strings_in(named) if "FUJI PHOTO" in t]


def test_png_source_is_refused_in_one_line(shared_data, tmp_path):
    png = shared_data / "nih-demo" / "00000732_005.png"
    _, overlay = overlay_for(tmp_path, XrayImage(np.zeros((1024, 1024), np.float32), path=png, source_kind="png"))
    refusal = "needs a DICOM source image: for PNG/JPEG use File > Export annotated PNG"
    with pytest.raises(ExportError, match=refusal) as err:
        presentation_state(overlay, png, model_name="m")
    assert "\n" not in str(err.value)
