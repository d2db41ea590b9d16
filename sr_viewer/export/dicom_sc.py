"""DICOM Secondary Capture of an annotated image that points back at its source.

What is written (SC Image Storage, 1.2.840.10008.5.1.4.1.1.7, explicit VR little endian,
RGB 8-bit, burned-in boxes and legend):

* New SOP Instance UID and Series Instance UID always (a new object in a new series).
* Source reference, always when the source is DICOM: SourceImageSequence and
  ReferencedImageSequence carry the source's SOP Class UID and SOP Instance UID, so a PACS
  or a reader can find the original image even in the anonymised form.
* Without "include patient identifiers" (the default): the Patient module is present but
  empty (type 2: PatientName, PatientID, PatientBirthDate, PatientSex empty), the study is a
  NEW Study Instance UID with empty date/time/ID/accession/referring physician, and
  PatientIdentityRemoved = YES with a DeidentificationMethod saying so.
* With identifiers ticked: the Patient module and the study identity (StudyInstanceUID,
  StudyDate/Time, StudyID, AccessionNumber, ReferringPhysicianName, StudyDescription) are
  copied from the source, so the capture files into the source study.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from sr_viewer.export.paths import ExportError

PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY_KEYWORDS = ("StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")
COPIED_WITH_IDENTIFIERS = PATIENT_KEYWORDS + STUDY_KEYWORDS + ("StudyInstanceUID", "StudyDescription")


def read_source_header(path: Path) -> Dataset | None:
    """The source's DICOM header (no pixels), or None when the source is not DICOM."""
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # not DICOM, or unreadable: the capture then references nothing
        return None
    return ds if "SOPInstanceUID" in ds or "StudyInstanceUID" in ds else None


def secondary_capture(
    rgb: np.ndarray,
    source: Path | None,
    *,
    include_identifiers: bool = False,
    description: str = "SR Viewer annotated image",
    now: datetime | None = None,
) -> Dataset:
    """Build the Secondary Capture dataset (see the module docstring for what it holds).

    Args:
        rgb: uint8 HxWx3 picture.
        source: The source image file (DICOM sources are referenced).
        include_identifiers: Copy the patient and study identity from the source.
        description: SeriesDescription / DerivationDescription.
        now: Creation time (tests pass a fixed one).

    Raises:
        ExportError: The picture is not HxWx3 uint8.
    """
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ExportError(f"secondary capture needs uint8 HxWx3 pixels, got {rgb.dtype} {rgb.shape}")
    now = now or datetime.now()
    header = read_source_header(source) if source is not None else None
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    _patient_and_study(ds, header, include_identifiers)
    ds.Modality = "OT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 9001
    ds.SeriesDescription = description[:64]
    ds.InstanceNumber = 1
    ds.ConversionType = "WSD"  # workstation
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = description[:1024]
    ds.BurnedInAnnotation = "YES" if include_identifiers else "NO"
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    ds.Manufacturer = "SR Viewer"
    ds.PatientOrientation = ""
    if header is not None and "SOPInstanceUID" in header:
        ds.SourceImageSequence = [_reference(header)]
        ds.ReferencedImageSequence = [_reference(header)]

    height, width = rgb.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = height, width
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = rgb.tobytes()
    return ds


def write_secondary_capture(ds: Dataset, path: Path) -> Path:
    """Save a dataset from secondary_capture() as a DICOM file (with preamble)."""
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _patient_and_study(ds: Dataset, header: Dataset | None, include_identifiers: bool) -> None:
    if include_identifiers and header is not None:
        for keyword in COPIED_WITH_IDENTIFIERS:
            value: Any = header.get(keyword)
            setattr(ds, keyword, value if value is not None else "")
        if not ds.StudyInstanceUID:
            ds.StudyInstanceUID = generate_uid()
        return
    for keyword in PATIENT_KEYWORDS + STUDY_KEYWORDS:
        setattr(ds, keyword, "")
    ds.StudyInstanceUID = generate_uid()
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "SR Viewer: patient/study identifiers not copied"  # LO: 64 chars


def _reference(header: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = header.get("SOPClassUID") or header.file_meta.get("MediaStorageSOPClassUID", "")
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    return item
