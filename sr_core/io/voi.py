"""DICOM VOI (PS3.3 C.11.2): modality values -> display grey in [0, 1].

Order of preference: the first VOI LUT Sequence item, else the first Window Center/Width
(VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID), else the full range of the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID

from sr_core.io.image import short_cause, to_unit_range


def voi_to_display(
    ds: Dataset, raw: np.ndarray, low: float, high: float, notices: list[str]
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Apply the dataset's VOI to modality values.

    Args:
        ds: The dataset (VOI LUT Sequence, Window Center/Width, VOI LUT Function).
        raw: Modality values (after the modality LUT), float32.
        low: raw.min(), the bottom of the full-range fallback.
        high: raw.max().
        notices: Remarks are appended here (unusable LUT, invalid window).

    Returns:
        (pixels float32 in [0, 1], window) where window is the file's (center, width) in
        fractions of [low, high], or None for a VOI LUT or the full-range fallback.
    """
    span = high - low if high > low else 1.0
    if ds.get("VOILUTSequence"):
        try:
            return _apply_voi_lut(ds, raw), None
        except Exception as exc:
            notices.append(f"VOI LUT unusable ({short_cause(exc)}): using window or full range")
    center, width = first_number(ds.get("WindowCenter")), first_number(ds.get("WindowWidth"))
    if center is not None and width is not None:
        function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
        if function == "SIGMOID" and width > 0:
            pixels = 1.0 / (1.0 + np.exp(-4.0 * (raw - np.float32(center)) / np.float32(width)))
            return pixels.astype(np.float32), ((center - low) / span, width / span)
        if function == "LINEAR_EXACT" and width > 0:
            return to_unit_range(raw, center, width), ((center - low) / span, width / span)
        if width >= 1:  # LINEAR (PS3.3 C.11.2.1.2.1): centre - 0.5, width - 1
            effective_center, effective_width = center - 0.5, max(width - 1.0, 1e-6)
            window = ((effective_center - low) / span, effective_width / span)
            return to_unit_range(raw, effective_center, effective_width), window
        notices.append(f"invalid window width {width:g}: showing the full range of the data")
    return to_unit_range(raw, low + span / 2, span), None


def _apply_voi_lut(ds: Dataset, raw: np.ndarray) -> np.ndarray:
    """First VOI LUT of the sequence, output scaled to [0, 1] by its nominal bit depth.

    Applied here rather than with pydicom's apply_voi, which (3.0.2) computes table indices
    in the LUT's own dtype and so wraps them for 8-bit tables longer than 256 entries.
    Some writers declare 16 bits per entry for 12-bit tables; the smallest 2**k - 1 that holds
    the table's largest entry is used when it is far below the nominal maximum.
    """
    item = ds.VOILUTSequence[0]
    descriptor = item.LUTDescriptor
    entries, first_map = int(descriptor[0]) or 2**16, int(descriptor[1])
    depth = int(descriptor[2])
    if first_map >= 2**15 and int(ds.get("PixelRepresentation") or 0) == 1:
        first_map -= 2**16  # US-encoded negative first value
    table = _lut_data(ds, item, entries)
    top = float(2**depth - 1)
    table_max = float(table.max())
    if 0 < table_max < top / 2:
        top = float(2 ** max(int(table_max).bit_length(), 1) - 1)
    index = np.clip(np.rint(raw).astype(np.int64) - first_map, 0, entries - 1)
    pixels = table[index] / np.float32(top)
    return np.clip(pixels, 0.0, 1.0, out=pixels)


def _lut_data(ds: Dataset, item: Dataset, entries: int) -> np.ndarray:
    """LUT Data (US values, or OW bytes in the file's byte order) as float32."""
    value = item.LUTData
    if isinstance(value, (bytes, bytearray)):
        little = UID(ds.file_meta.TransferSyntaxUID).is_little_endian
        if len(value) >= 2 * entries:
            table = np.frombuffer(value, dtype="<u2" if little else ">u2", count=entries)
        else:  # 8-bit entries packed one per byte
            table = np.frombuffer(value, dtype=np.uint8, count=min(entries, len(value)))
    elif isinstance(value, int):
        table = np.asarray([value])
    else:
        table = np.asarray(list(value))
    if table.size != entries:
        raise ValueError(f"LUT has {table.size} entries, its descriptor says {entries}")
    return table.astype(np.float32)


def first_number(value: Any) -> float | None:
    """First number of a possibly multi-valued DS element, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        if len(value) == 0:
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
