"""Files the sr_core.io tests write: hand-made PNGs, generated DICOMs, and the LINEAR window."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


# ---------------------------------------------------------------- helpers that write files


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def handmade_png(
    width: int,
    height: int,
    color_type: int,
    rows: list[bytes] | None,
    palette: bytes | None = None,
) -> bytes:
    """A minimal 8-bit PNG (cv2 cannot write palette or grey+alpha); rows=None: no IDAT."""
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    )
    if palette is not None:
        out += _png_chunk(b"PLTE", palette)
    if rows is not None:
        out += _png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for row in rows)))
    return out + _png_chunk(b"IEND", b"")


def write_png(path: Path, array: np.ndarray) -> Path:
    ok, buffer = cv2.imencode(".png", array)
    assert ok
    path.write_bytes(buffer.tobytes())
    return path


def gradient(height: int = 64, width: int = 48, top: int = 4000) -> np.ndarray:
    """uint16 ramp 0..top, increasing along rows then columns."""
    values = np.linspace(0, top, height * width)
    return np.round(values).astype(np.uint16).reshape(height, width)


def make_dicom(
    pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12, **elements
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.set_pixel_data(pixels, photometric, bits_stored)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def window_linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR window into [0, 1]."""
    out = (values - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(out, 0.0, 1.0)
