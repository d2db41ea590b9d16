"""DICOM through pydicom: modality LUT, VOI, MONOCHROME1, compressed syntaxes, first frame.

Pipeline (PS3.3 C.11 / C.7.6.3): stored values -> modality LUT (Modality LUT Sequence or
Rescale Slope/Intercept) = `raw` -> VOI (VOI LUT Sequence first, else the first Window
Center/Width with its VOI LUT Function, else the full range of the data) -> [0, 1] ->
MONOCHROME1 inverted after the VOI. Colour DICOMs become BT.601 luma without VOI.
Files without preamble or file meta are read with force=True only once the content sniffer
saw a DICOM-looking first tag, and accepted only if they carry Rows, Columns and pixel data.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder, pixel_array
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from sr_core.io.image import (
    ImageReadError,
    XrayImage,
    check_dimensions,
    short_cause,
)
from sr_core.io.voi import voi_to_display

# The pylibjpeg plugin each compressed transfer syntax needs (pydicom's own RLE decoder
# means RLE never misses one, but the plugin is faster).
_DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg-libjpeg",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg",  # JPEG Extended
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pylibjpeg-libjpeg",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pylibjpeg-libjpeg",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg-rle",  # RLE Lossless
}
# (metadata key, DICOM keyword) shown by default: none of them identifies the patient.
_DISPLAY_TAGS = (
    ("modality", "Modality"),
    ("view_position", "ViewPosition"),
    ("body_part", "BodyPartExamined"),
    ("laterality", "ImageLaterality"),
    ("study_date", "StudyDate"),
    ("manufacturer", "Manufacturer"),
    ("model", "ManufacturerModelName"),
    ("photometric_interpretation", "PhotometricInterpretation"),
)
# Added only with include_identifiers=True (keys listed in image.IDENTIFIER_KEYS).
_IDENTIFIER_TAGS = (
    ("patient_name", "PatientName"),
    ("patient_id", "PatientID"),
    ("patient_birth_date", "PatientBirthDate"),
    ("accession_number", "AccessionNumber"),
    ("institution_name", "InstitutionName"),
)
# (7FE0,0010) Pixel Data as it appears in a file, to tell "truncated" from "no pixel data".
_PIXEL_DATA_TAG_LE = b"\xe0\x7f\x10\x00"
_PIXEL_DATA_TAG_BE = b"\x7f\xe0\x00\x10"
_LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def read_dicom(path: Path, data: bytes, include_identifiers: bool = False) -> XrayImage:
    """Decode the first frame of a DICOM image held in `data`.

    Args:
        path: The file, for messages and the result.
        data: The whole file.
        include_identifiers: Also put patient/study identifiers in the metadata.

    Raises:
        ImageReadError: Not a DICOM image, no pixel data, inconsistent sizes, too large or
            small, unsupported or undecodable transfer syntax (naming the missing package).
    """
    has_preamble = data[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
    except Exception as exc:  # pydicom raises many types for broken headers
        cause = f"corrupt or truncated DICOM header ({short_cause(exc)})"
        raise ImageReadError(path, cause) from exc
    notices: list[str] = []
    if "PixelData" not in ds:
        if _PIXEL_DATA_TAG_LE in data or _PIXEL_DATA_TAG_BE in data:
            raise ImageReadError(path, "truncated or corrupt DICOM: pixel data could not be read")
        if len(ds) == 0:
            raise ImageReadError(path, "corrupt or truncated DICOM: no data elements could be read")
        if not has_preamble and ("Rows" not in ds or "Columns" not in ds):
            raise ImageReadError(path, "not a DICOM image (no Rows, Columns or pixel data)")
        raise ImageReadError(path, "DICOM file has no pixel data (not an image object)")
    if "Rows" not in ds or "Columns" not in ds:
        raise ImageReadError(path, "DICOM file has no Rows/Columns: cannot lay out the pixels")
    tsyntax = _transfer_syntax(ds, notices)
    rows, columns, frames = int(ds.Rows), int(ds.Columns), _number_of_frames(ds)
    check_dimensions(path, columns, rows, frames)
    _check_pixel_data_length(path, ds, tsyntax, frames, notices)
    if frames > 1:
        notices.append(f"multi-frame DICOM: showing frame 1 of {frames}")
    stored = _decode_first_frame(path, ds, tsyntax)

    image_kwargs = _grey_or_colour(ds, stored, notices)
    spacing, spacing_kind = _pixel_spacing(ds)
    magnification = _magnification_factor(ds) if spacing_kind == "ImagerPixelSpacing" else None
    metadata = _metadata(ds, tsyntax, frames, include_identifiers)
    return XrayImage(
        path=path,
        source_kind="dicom",
        pixel_spacing=spacing,
        pixel_spacing_kind=spacing_kind,
        magnification_factor=magnification,
        bits_stored=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8),
        metadata=metadata,
        notices=notices,
        **image_kwargs,
    )


def _transfer_syntax(ds: Dataset, notices: list[str]) -> UID:
    """The dataset's transfer syntax; for files without file meta, the one pydicom parsed with."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax:
        return UID(tsyntax)
    implicit, little = ds.original_encoding
    if implicit or implicit is None:
        tsyntax = ImplicitVRLittleEndian
    else:
        tsyntax = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = tsyntax
    notices.append(f"DICOM without file meta information: read as {tsyntax.name}")
    return tsyntax


def _number_of_frames(ds: Dataset) -> int:
    try:
        return max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        return 1


def _check_pixel_data_length(
    path: Path, ds: Dataset, tsyntax: UID, frames: int, notices: list[str]
) -> None:
    """Native pixel data must hold Rows x Columns x Samples x Bits for every frame."""
    if tsyntax.is_encapsulated:
        return  # the decoder checks compressed frames
    bits = int(ds.get("BitsAllocated") or 0)
    if bits not in (1, 8, 16, 32, 64):
        raise ImageReadError(path, f"unsupported DICOM Bits Allocated ({bits})")
    samples = int(ds.get("SamplesPerPixel") or 1)
    frame_bits = int(ds.Rows) * int(ds.Columns) * samples * bits
    expected = math.ceil(frame_bits * frames / 8)
    actual = len(ds.PixelData)
    if actual < expected:
        raise ImageReadError(
            path,
            f"pixel data too short: Rows x Columns x bits x frames need {expected} bytes, "
            f"the file has {actual} (truncated file or inconsistent header)",
        )
    if actual > expected + 1:  # +1: padding to an even length
        if frame_bits % 8 == 0 and actual % (frame_bits // 8) == 0:
            notices.append("pixel data hold more frames than Number of Frames says")
        else:
            raise ImageReadError(
                path,
                f"inconsistent sizes: Rows x Columns x bits x frames make {expected} bytes "
                f"but the pixel data have {actual}",
            )


def _decode_first_frame(path: Path, ds: Dataset, tsyntax: UID) -> np.ndarray:
    if tsyntax.is_encapsulated:
        try:
            decoder = get_decoder(tsyntax)
        except NotImplementedError:
            raise ImageReadError(
                path, f"unsupported DICOM transfer syntax {tsyntax.name} ({tsyntax}): no decoder"
            ) from None
        if not decoder.is_available:
            package = _DECODER_PACKAGES.get(str(tsyntax), "a pydicom pixel data plugin")
            raise ImageReadError(
                path,
                f"{tsyntax.name} pixel data needs {package}: pip install pylibjpeg {package}",
            )
    try:
        return pixel_array(ds, index=0)
    except Exception as exc:
        cause = f"could not decode {tsyntax.name} pixel data ({short_cause(exc)})"
        raise ImageReadError(path, cause) from exc


def _grey_or_colour(ds: Dataset, stored: np.ndarray, notices: list[str]) -> dict[str, Any]:
    """Pixels, raw values and window for XrayImage from the decoded stored values."""
    photometric = str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip().upper()
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        stored = apply_color_lut(stored, ds)  # 16-bit RGB by the palette descriptors
        max_value = float(2 ** int(ds.RedPaletteColorLookupTableDescriptor[2]) - 1)
    else:
        max_value = float(2 ** int(ds.get("BitsStored") or 8) - 1)
    if stored.ndim == 3:  # colour: pydicom gives RGB (YBR converted)
        grey = stored[..., :3].astype(np.float32) @ _LUMA_RGB
        notices.append(f"colour DICOM ({photometric}) converted to grey (BT.601 luma)")
        return {"pixels": np.clip(grey / max_value, 0.0, 1.0), "raw_range": (0.0, max_value)}

    raw = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    low, high = float(raw.min()), float(raw.max())
    pixels, window = voi_to_display(ds, raw, low, high, notices)
    inverted = photometric == "MONOCHROME1"
    if inverted:
        np.subtract(1.0, pixels, out=pixels)
    return {
        "pixels": pixels,
        "raw": raw,
        "raw_range": (low, high),
        "window": window,
        "inverted": inverted,
    }


def _pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str | None]:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, column = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and column > 0 and math.isfinite(row) and math.isfinite(column):
            return (row, column), keyword
    return None, None


def _magnification_factor(ds: Dataset) -> float | None:
    """EstimatedRadiographicMagnificationFactor (ImagerPixelSpacing / it = spacing at the
    patient, PS3.3 C.8.11.7), or None when absent or not a positive finite number."""
    try:
        factor = float(ds.get("EstimatedRadiographicMagnificationFactor"))
    except (TypeError, ValueError):
        return None
    return factor if factor > 0 and math.isfinite(factor) else None


def _metadata(ds: Dataset, tsyntax: UID, frames: int, include_identifiers: bool) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    tags = _DISPLAY_TAGS + (_IDENTIFIER_TAGS if include_identifiers else ())
    for key, keyword in tags:
        text = _text(ds.get(keyword))
        if text:
            metadata[key] = _iso_date(text) if keyword.endswith("Date") else text
    metadata["transfer_syntax"] = tsyntax.name
    metadata["number_of_frames"] = frames
    return metadata


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return " ".join(str(value).split())


def _iso_date(text: str) -> str:
    """DICOM DA 'YYYYMMDD' -> 'YYYY-MM-DD' (anything else is returned unchanged)."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
