"""PNG and JPEG through OpenCV, with the header checked before anything is decoded.

Choices (kept truthful to the stored data):
- 8-bit data are divided by 255 and 16-bit data by 65535, never stretched to the image's own
  min/max, so a dark 16-bit file stays dark (a notice says so; the viewer's window fixes it).
- Colour is converted to grey with the ITU-R BT.601 luma weights (0.299 R + 0.587 G + 0.114 B),
  as OpenCV and PIL do. Palette PNGs arrive from OpenCV already expanded to BGR(A).
- Alpha is composited on black (grey * alpha), matching the viewer's black background; a
  notice is added when any pixel is not fully opaque.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from sr_core.io.image import ImageReadError, XrayImage, check_dimensions
from sr_core.io.sniff import PNG_SIGNATURE

_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)
_PNG_COLOR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
# SOF markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # TEM, RSTn, SOI: no length field
# How far from the end an end marker may sit (trailing padding some writers add).
_TAIL_BYTES = 4096


def read_png(path: Path, data: bytes) -> XrayImage:
    """Decode a PNG held in `data` (already sniffed as PNG).

    Raises:
        ImageReadError: Bad or too large/small header, truncated file, decode failure.
    """
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageReadError(path, "corrupt PNG: no IHDR header chunk")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    check_dimensions(path, width, height)
    if color_type not in _PNG_COLOR_TYPES:
        raise ImageReadError(path, f"corrupt PNG: unknown colour type {color_type}")
    if data.rfind(b"IEND", max(len(PNG_SIGNATURE), len(data) - _TAIL_BYTES)) < 0:
        raise ImageReadError(path, "truncated PNG (no IEND end chunk): file incomplete")
    decoded = _decode(path, data, "PNG", height, width)
    bits = 16 if decoded.dtype == np.uint16 else 8  # OpenCV scales 1/2/4-bit samples to 8
    pixels, notices = _to_grey(decoded, 2**bits - 1)
    metadata = {"format": "PNG", "color_type": _PNG_COLOR_TYPES[color_type], "bit_depth": bit_depth}
    return _raster_image(path, "png", pixels, bits, notices, metadata)


def read_jpeg(path: Path, data: bytes) -> XrayImage:
    """Decode a JPEG held in `data` (already sniffed as JPEG).

    Raises:
        ImageReadError: Bad or too large/small header, truncated file, decode failure.
    """
    width, height, precision, components = _jpeg_frame_header(path, data)
    check_dimensions(path, width, height)
    if data.rfind(b"\xff\xd9", max(2, len(data) - _TAIL_BYTES)) < 0:
        raise ImageReadError(path, "truncated JPEG (no end-of-image marker): file incomplete")
    decoded = _decode(path, data, "JPEG", height, width)
    bits = precision if decoded.dtype == np.uint16 else 8  # 12-bit JPEG arrives as uint16
    pixels, notices = _to_grey(decoded, 2**bits - 1)
    metadata = {"format": "JPEG", "components": components, "bit_depth": precision}
    return _raster_image(path, "jpeg", pixels, bits, notices, metadata)


def _jpeg_frame_header(path: Path, data: bytes) -> tuple[int, int, int, int]:
    """Walk the JPEG marker segments up to the frame header; returns (w, h, bits, components)."""
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise ImageReadError(path, "corrupt JPEG: bad marker structure before the frame header")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 10 > size:
                break
            precision, height, width, components = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            if height == 0:
                raise ImageReadError(path, "unsupported JPEG: height defined after the scan (DNL)")
            return width, height, precision, components
        if length < 2:
            raise ImageReadError(path, "corrupt JPEG: bad segment length")
        pos += 2 + length
    raise ImageReadError(path, "truncated or corrupt JPEG: no frame header found")


def _decode(path: Path, data: bytes, kind: str, height: int, width: int) -> np.ndarray:
    """cv2.imdecode with the result checked against the header."""
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageReadError(path, f"corrupt or truncated {kind}: the decoder could not read it")
    if decoded.shape[:2] != (height, width):
        raise ImageReadError(
            path,
            f"corrupt {kind}: decoded {decoded.shape[1]}x{decoded.shape[0]} px "
            f"but the header says {width}x{height}",
        )
    if decoded.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(path, f"unsupported {kind} sample type {decoded.dtype}")
    return decoded


def _to_grey(decoded: np.ndarray, max_value: int) -> tuple[np.ndarray, list[str]]:
    """BGR/BGRA/grey uint8 or uint16 -> grey float32 in [0, 1], divided by `max_value`."""
    scale = np.float32(1.0 / max_value)
    notices: list[str] = []
    if decoded.ndim == 3 and decoded.shape[2] == 1:
        decoded = decoded[:, :, 0]
    if decoded.ndim == 2:
        grey = decoded.astype(np.float32)
        grey *= scale
    else:
        grey = decoded[:, :, :3].astype(np.float32) @ _LUMA_BGR
        grey *= scale
        notices.append("colour image converted to grey (BT.601 luma)")
        if decoded.shape[2] == 4:
            alpha = decoded[:, :, 3]
            if alpha.min() < max_value:
                grey *= alpha.astype(np.float32) * scale
                notices.append("transparent areas composited on black")
    return np.clip(grey, 0.0, 1.0, out=grey), notices


def _raster_image(
    path: Path,
    kind: str,
    pixels: np.ndarray,
    bits: int,
    notices: list[str],
    metadata: dict[str, object],
) -> XrayImage:
    if bits == 16 and pixels.max() < 1.0 / 16:
        notices.append("16-bit data use only the lowest 12 bits: dark until windowed")
    return XrayImage(
        pixels=pixels,
        path=path,
        source_kind=kind,
        bits_stored=bits,
        metadata=metadata,
        notices=notices,
        raw_range=(0.0, float(2**bits - 1)),
    )
