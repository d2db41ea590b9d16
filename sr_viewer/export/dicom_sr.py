"""DICOM Structured Report: the predicted boxes and the distances as a TID 1500 measurement report.

Built by highdicom.sr (Comprehensive 3D SR, 1.2.840.10008.5.1.4.1.1.88.34, the document class
highdicom and dcmqi use for TID 1500), so a PACS, OHIF or a script reads the findings as
coded data rather than as pixels:

* Title "Imaging Measurement Report" (DCM 126000), procedure "Chest imaging" (SCT 413815006),
  the model as the observing device (name = the weights' name). Preliminary and not
  verified: it is a model's output (PreliminaryFlag PRELIMINARY, VerificationFlag UNVERIFIED).
* One Planar ROI group (TID 1410) per predicted box: the box as a closed SCOORD POLYLINE
  through its corners in the source's pixels, in the same frame as the viewer's and the
  presentation state's (PS3.3 C.18.6.1.2: (0, 0) is the top-left corner of the top-left
  pixel, so exclusive-end box corners go in unchanged); the finding as its finding type,
  coded (below); the finding's probability as a measurement "Probability" (DCM 122157) in
  UCUM "{probability}"; the FPM threshold as "Threshold Value" (DCM 122411, UCUM "1"); the
  model as the algorithm (TID 4019: name, version, parameters "threshold ..." and
  "mode ...").
* One measurement group (TID 1501) per distance: "Length" (SCT 410668003) in mm when the
  file gives a pixel size (UCUM "mm"), else in "{pixels}", inferred from a two-point SCOORD
  POLYLINE; the tracking identifier says where the millimetres come from (Scale.label, e.g.
  "mm at the detector" for ImagerPixelSpacing without a magnification factor).
* Evidence: the source image (its Study, Series and SOP Instance UIDs). Patient and study as
  the Secondary Capture and the presentation state (dicom_pr.source_stand_in): with
  identifiers off the report is in a new study, so the source is listed as evidence from
  another study (PertinentOtherEvidenceSequence); with identifiers on it is in the source
  study (CurrentRequestedProcedureEvidenceSequence).

Finding codes, and where each comes from:

* pydicom's bundled DICOM code dictionary (pydicom.sr.codedict, from DICOM PS3.16):
  Cardiomegaly SCT 287272002 (as PS3.16 lists it, CIDs 12248/12249), Effusion and Pleural
  effusion SCT 60046008 "Pleural effusion" (NIH's "Effusion" is the pleural one), Mass SCT
  4147007, Nodule SCT 27925004, Pneumothorax SCT 36118008, Infiltration / Infiltrate DCM
  112121 "Infiltrate" (DICOM's own code, CID 6102, not SNOMED).
* Not in pydicom's dictionary, SNOMED CT codes checked against several independent code
  tables (the `search` tool's repository index): Atelectasis SCT 46621007, Pneumonia SCT
  233604007.
* Every other finding (e.g. NIH's Consolidation, Edema, Emphysema, Fibrosis,
  Pleural_Thickening, Hernia: no code was verified for them here) gets a private code:
  scheme "99SRVIEWER" (PS3.16 8.2: designators starting "99" are private), value and
  meaning the finding's own name, and the scheme is described in
  CodingSchemeIdentificationSequence.
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from sr_core.io.image import one_line

from sr_viewer.export.dicom_pr import CHARACTER_SET, dicom_source, inside, names_as_given, rectangle, source_stand_in
from sr_viewer.export.paths import ExportError
from sr_viewer.state.measure import Scale
from sr_viewer.state.overlay import Overlay

SERIES_NUMBER = 9003
PRIVATE_SCHEME = "99SRVIEWER"
STRUCTURED_REPORT = "A DICOM structured report"  # what the messages call it

PROBABILITY = codes.DCM.Probability  # 122157
THRESHOLD = codes.DCM.ThresholdValue  # 122411
LENGTH = codes.SCT.Length  # 410668003
PROBABILITY_UNIT = hd.sr.CodedConcept("{probability}", "UCUM", "probability")
NO_UNITS = codes.UCUM.NoUnits  # "1"
MILLIMETRE = codes.UCUM.Millimeter
PIXELS = hd.sr.CodedConcept("{pixels}", "UCUM", "pixels")
CHEST_IMAGING = codes.SCT.ChestImaging  # 413815006

#: Finding name (casefolded, "_" as " ") -> code; see the module docstring for the sources.
FINDING_CODES = {
    "atelectasis": hd.sr.CodedConcept("46621007", "SCT", "Atelectasis"),
    "cardiomegaly": codes.SCT.Cardiomegaly,
    "effusion": codes.SCT.PleuralEffusion,
    "pleural effusion": codes.SCT.PleuralEffusion,
    "infiltration": codes.DCM.Infiltrate,
    "infiltrate": codes.DCM.Infiltrate,
    "mass": codes.SCT.Mass,
    "nodule": codes.SCT.Nodule,
    "pneumonia": hd.sr.CodedConcept("233604007", "SCT", "Pneumonia"),
    "pneumothorax": codes.SCT.Pneumothorax,
}


def finding_code(finding: str) -> hd.sr.CodedConcept:
    """The coded concept of a finding: a standard code where one is known, else a private one."""
    code = FINDING_CODES.get(finding.casefold().replace("_", " ").strip())
    if code is not None:
        return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)
    return hd.sr.CodedConcept(finding, PRIVATE_SCHEME, finding[:64])


def structured_report(
    overlay: Overlay,
    source: Path,
    *,
    model_name: str,
    model_version: str = "",
    mode: str = "largest",
    include_identifiers: bool = False,
) -> hd.sr.Comprehensive3DSR:
    """Build the measurement report of an overlay (see the module docstring for what it holds).

    Args:
        overlay: ViewerModel.overlay_for(study) at the current threshold.
        source: The study's DICOM file.
        model_name: The weights' name (the observing device and the algorithm).
        model_version: The architecture or release of the weights ("" when unknown).
        mode: "largest" or "all": which components gave the boxes (an algorithm parameter).
        include_identifiers: Copy the patient and study identity (dicom_sc's rule).

    Raises:
        ExportError: The source is not DICOM, or lacks a UID or its size.
    """
    header = dicom_source(source, STRUCTURED_REPORT)
    stand_in = source_stand_in(header, include_identifiers)
    width, height = int(stand_in.Columns), int(stand_in.Rows)
    model = model_name or "unnamed model"
    groups: list = []
    if overlay.regions is not None and overlay.finding is not None and overlay.probability is not None:
        algorithm = hd.sr.AlgorithmIdentification(
            name=model, version=model_version or "unknown",
            parameters=[f"threshold {overlay.threshold:.4f}", f"mode {mode}"])
        for number, row in enumerate(overlay.pred_rows, start=1):
            groups.append(_box_group(stand_in, row.box, number, overlay, algorithm, width, height))
    scale = overlay.study.scale
    for number, distance in enumerate(overlay.study.measurements, start=1):
        groups.append(_distance_group(stand_in, distance.start, distance.end, number, scale, width, height))
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name=model[:64],
                                                       manufacturer_name="SR Viewer", model_name=model[:64])
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(codes.DCM.Device, device))
    report = hd.sr.MeasurementReport(context, CHEST_IMAGING, imaging_measurements=groups or None)
    try:
        with names_as_given():
            document = hd.sr.Comprehensive3DSR(
                evidence=[stand_in], content=report[0], series_instance_uid=generate_uid(),
                series_number=SERIES_NUMBER, sop_instance_uid=generate_uid(), instance_number=1,
                manufacturer="SR Viewer", is_complete=True, specific_character_set=CHARACTER_SET)
    except ValueError as exc:  # highdicom's checks of our content: a bug here, said in one line
        raise ExportError(f"structured report not built: {one_line(exc)}") from None
    _evidence_from_the_source_study(document, header)
    document.SeriesDescription = "SR Viewer measurement report"
    if any(code.scheme_designator == PRIVATE_SCHEME for code in _finding_types(groups)):
        document.CodingSchemeIdentificationSequence = [_private_scheme()]
    return document


def _box_group(stand_in: Dataset, box, number: int, overlay: Overlay, algorithm, width: int, height: int):
    finding = overlay.finding
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=rectangle(box, width, height),
        source_image=hd.sr.SourceImageForRegion(stand_in.SOPClassUID, stand_in.SOPInstanceUID))
    measurements = [
        hd.sr.Measurement(name=PROBABILITY, value=float(overlay.probability), unit=PROBABILITY_UNIT,
                          algorithm_id=algorithm),
        hd.sr.Measurement(name=THRESHOLD, value=float(overlay.threshold), unit=NO_UNITS, algorithm_id=algorithm),
    ]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"{finding} box {number}"),
        referenced_region=region, finding_type=finding_code(finding), algorithm_id=algorithm,
        measurements=measurements)


def _distance_group(stand_in: Dataset, start, end, number: int, scale: Scale, width: int, height: int):
    line = hd.sr.CoordinatesForMeasurement(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=inside(np.array([start, end]), width, height),
        source_image=hd.sr.SourceImageForRegion(stand_in.SOPClassUID, stand_in.SOPInstanceUID))
    length = hd.sr.Measurement(name=LENGTH, value=scale.length(start, end),
                               unit=MILLIMETRE if scale.calibrated else PIXELS, referenced_coordinates=[line])
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                     identifier=f"Distance {number}, {scale.label}"),
        measurements=[length])


def _evidence_from_the_source_study(document: hd.sr.Comprehensive3DSR, header: Dataset) -> None:
    """Name the source's own study in the evidence.

    highdicom files the evidence under the stand-in's study; with identifiers off that is the
    report's new study, not the source's, so the item moves to the other-evidence sequence
    with the source's StudyInstanceUID.
    """
    if document.StudyInstanceUID == header.StudyInstanceUID:
        return
    items = document.CurrentRequestedProcedureEvidenceSequence
    del document.CurrentRequestedProcedureEvidenceSequence
    for item in items:
        item.StudyInstanceUID = header.StudyInstanceUID
    document.PertinentOtherEvidenceSequence = items


def _finding_types(groups: list) -> list[hd.sr.CodedConcept]:
    return [g.finding_type for g in groups if getattr(g, "finding_type", None) is not None]


def _private_scheme() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "SR Viewer finding names"
    item.CodingSchemeResponsibleOrganization = "SR Viewer"
    return item
