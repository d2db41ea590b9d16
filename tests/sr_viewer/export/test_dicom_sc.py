"""sr_viewer.export.dicom_sc: DICOM Secondary Capture, referencing the source, naming no patient unless asked."""

from __future__ import annotations

import numpy as np
import pydicom

from sr_viewer.export.dicom_sc import secondary_capture, write_secondary_capture


def test_secondary_capture_references_the_source_and_names_no_patient(shared_data, tmp_path):
    source = shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm"
    original = pydicom.dcmread(source, stop_before_pixels=True)
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[10, 20] = (255, 0, 0)
    path = write_secondary_capture(secondary_capture(rgb, source), tmp_path / "sc.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.SOPInstanceUID != original.SOPInstanceUID and ds.SeriesInstanceUID != original.SeriesInstanceUID
    for sequence in (ds.SourceImageSequence, ds.ReferencedImageSequence):
        assert sequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
        assert sequence[0].ReferencedSOPClassUID == original.SOPClassUID
    assert str(ds.PatientName) == "" and ds.PatientID == "" and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert ds.pixel_array.shape == (64, 80, 3) and tuple(ds.pixel_array[10, 20]) == (255, 0, 0)


def test_secondary_capture_with_identifiers_joins_the_source_study(shared_data, tmp_path):
    source = shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm"
    original = pydicom.dcmread(source, stop_before_pixels=True)
    ds = secondary_capture(np.zeros((32, 32, 3), np.uint8), source, include_identifiers=True)
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert str(ds.PatientName) == str(original.get("PatientName", "")) and ds.PatientID == original.get("PatientID", "")
    png = secondary_capture(np.zeros((32, 32, 3), np.uint8), None)
    assert "SourceImageSequence" not in png
