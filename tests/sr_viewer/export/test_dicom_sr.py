"""sr_viewer.export.dicom_sr: the predicted boxes and distances as a TID 1500 measurement report,
read back with highdicom: evidence, coded findings, exact regions, probabilities, no identifiers."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from sr_core.io import XrayImage, read_image

from sr_viewer.export import ExportError
from sr_viewer.export.dicom_sr import PRIVATE_SCHEME, finding_code, structured_report

from ..conftest import FakePrediction
from .conftest import DISTANCE, PRED_BOX, overlay_for, strings_in


def read_back(document, tmp_path, name="sr.dcm"):
    """(the SR as highdicom parses it, its measurement report)."""
    path = tmp_path / name
    document.save_as(path, enforce_file_format=True)
    sr = hd.sr.srread(path)
    return sr, hd.sr.MeasurementReport.from_sequence(sr.content)


def test_report_holds_each_box_as_a_coded_region_with_its_probability(dicom_study, tmp_path):
    model, study, _ = dicom_study
    original = pydicom.dcmread(study.path, stop_before_pixels=True)
    sr, report = read_back(structured_report(model.overlay_for(study), study.path, model_name="nano.safetensors",
                                             model_version="sr_vmamba_nano"), tmp_path)

    assert isinstance(sr, hd.sr.Comprehensive3DSR) and sr.Modality == "SR"
    assert sr.VerificationFlag == "UNVERIFIED" and sr.PreliminaryFlag == "PRELIMINARY"
    source = (original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID, original.SOPClassUID)
    assert sr.get_evidence() == [source]

    (box,) = report.get_planar_roi_measurement_groups()
    x0, y0, x1, y1 = PRED_BOX
    assert box.roi.graphic_type is hd.sr.GraphicTypeValues.POLYLINE
    assert box.roi.value.tolist() == [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]  # source pixels, exactly
    assert box.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    assert box.finding_type == hd.sr.CodedConcept("4147007", "SCT", "Mass")
    (probability,) = box.get_measurements(name=hd.sr.CodedConcept("122157", "DCM", "Probability"))
    assert probability.value == pytest.approx(0.8) and probability.unit.value == "{probability}"
    (threshold,) = box.get_measurements(name=hd.sr.CodedConcept("122411", "DCM", "Threshold Value"))
    assert threshold.value == pytest.approx(0.5)
    texts = strings_in(sr)
    assert "nano.safetensors" in texts and "sr_vmamba_nano" in texts and "threshold 0.5000" in texts

    (distance,) = report.get_image_measurement_groups()
    (length,) = distance.get_measurements(name=hd.sr.CodedConcept("410668003", "SCT", "Length"))
    assert length.value == pytest.approx(84.0) and length.unit.value == "mm"
    assert length.referenced_coordinates[0].value.tolist() == [list(p) for p in DISTANCE]
    assert "PixelSpacing" in distance.tracking_identifier

    # Identifiers off: a new study and no patient; the source is evidence from its own study.
    assert sr.StudyInstanceUID != original.StudyInstanceUID and "CurrentRequestedProcedureEvidenceSequence" not in sr
    assert sr.PertinentOtherEvidenceSequence[0].StudyInstanceUID == original.StudyInstanceUID
    assert str(sr.PatientName) == "" and sr.PatientID == "" and sr.PatientIdentityRemoved == "YES"
    assert "PatientAge" not in sr and original.PatientID not in texts


def test_report_with_identifiers_files_into_the_source_study(dicom_study, tmp_path):
    model, study, _ = dicom_study
    original = pydicom.dcmread(study.path, stop_before_pixels=True)
    sr, _ = read_back(structured_report(model.overlay_for(study), study.path, model_name="m",
                                        include_identifiers=True), tmp_path)
    assert sr.StudyInstanceUID == original.StudyInstanceUID and sr.PatientID == original.PatientID
    assert sr.get_evidence(current_procedure_only=True)[0][2] == original.SOPInstanceUID
    assert "PatientAge" not in sr and "PatientIdentityRemoved" not in sr


@pytest.mark.parametrize(("finding", "code"), [
    ("Atelectasis", ("46621007", "SCT")), ("Cardiomegaly", ("287272002", "SCT")),
    ("Effusion", ("60046008", "SCT")), ("Pleural_Effusion", ("60046008", "SCT")),
    ("Infiltration", ("112121", "DCM")), ("Mass", ("4147007", "SCT")), ("Nodule", ("27925004", "SCT")),
    ("Pneumonia", ("233604007", "SCT")), ("pneumothorax", ("36118008", "SCT")),
    ("Pleural_Thickening", ("Pleural_Thickening", PRIVATE_SCHEME)),
])
def test_findings_are_coded(finding, code):
    coded = finding_code(finding)
    assert (coded.value, coded.scheme_designator) == code


def test_uncoded_finding_and_uncalibrated_distance_say_so(shared_data, tmp_path):
    source = shared_data / "dicom" / "CR-MONO1-10-chest.dcm"  # no pixel size
    image = read_image(source)
    model, overlay = overlay_for(tmp_path, image)
    fpm = np.zeros((image.height, image.width), np.float32)
    fpm[40:90, 20:70] = 0.9
    model.set_prediction(overlay.study, FakePrediction({"Hernia": fpm}, {"Hernia": 0.3}))
    overlay.study.measurements.add((10.0, 10.0), (40.0, 50.0))
    sr, report = read_back(structured_report(model.overlay_for(overlay.study), source, model_name="m"), tmp_path)

    (box,) = report.get_planar_roi_measurement_groups()
    assert box.finding_type == hd.sr.CodedConcept("Hernia", PRIVATE_SCHEME, "Hernia")
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == PRIVATE_SCHEME
    assert box.roi.value.tolist() == [[20.0, 40.0], [70.0, 40.0], [70.0, 90.0], [20.0, 90.0], [20.0, 40.0]]
    (length,) = report.get_image_measurement_groups()[0].get_measurements()
    assert length.value == pytest.approx(50.0) and length.unit.value == "{pixels}"
    assert not [t for t in strings_in(sr) if "FUJI" in t or t == "Anonymized"]


def test_png_source_is_refused_in_one_line(shared_data, tmp_path):
    png = shared_data / "nih-demo" / "00000732_005.png"
    _, overlay = overlay_for(tmp_path, XrayImage(np.zeros((1024, 1024), np.float32), path=png, source_kind="png"))
    with pytest.raises(ExportError, match="needs a DICOM source image: for PNG/JPEG use File > Export annotated PNG"):
        structured_report(overlay, png, model_name="m")
