"""`read_image`: one entry point that opens a file, sniffs its content and picks the decoder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sr_core.io.image import MAX_FILE_BYTES, ImageReadError, XrayImage, short_cause
from sr_core.io.raster import read_jpeg, read_png
from sr_core.io.sniff import SNIFF_BYTES, describe_unsupported, detect_format

_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "dicom": "DICOM"}


def read_image(path: str | os.PathLike[str], *, include_identifiers: bool = False) -> XrayImage:
    """Read a PNG, JPEG or DICOM file as a display-ready grey image.

    The format is decided by the file's content, not its name. Sizes are checked from the
    header before any decoding (see MAX_SIDE, MAX_PIXELS, MIN_SIDE in sr_core.io.image).

    Args:
        path: The file to read.
        include_identifiers: Also put patient name/ID/birth date, accession number and
            institution in `metadata` (keys in IDENTIFIER_KEYS). Off by default.

    Returns:
        The decoded image; see XrayImage for the units of `pixels`, `raw` and `window`.

    Raises:
        ImageReadError: For anything that cannot be shown: missing file, folder, empty,
            truncated or corrupt file, unsupported format, no pixel data, inconsistent
            sizes, too large (decompression bomb) or too small, missing decoder. Its str()
            is one line naming the file and the cause. No other exception escapes.
    """
    path = Path(path)
    data = _read_file(path)
    head = data[:SNIFF_BYTES]
    kind = detect_format(head)
    if kind is None:
        raise ImageReadError(path, describe_unsupported(head))
    try:
        if kind == "png":
            return read_png(path, data)
        if kind == "jpeg":
            return read_jpeg(path, data)
        try:  # pydicom loads on the first DICOM: faster startup
            from sr_core.io.dicom import read_dicom
        except ImportError as exc:
            raise ImageReadError(path, f"DICOM needs pydicom: pip install pydicom ({exc})") from exc
        return read_dicom(path, data, include_identifiers=include_identifiers)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(path, "not enough memory to decode the image") from None
    except Exception as exc:  # anything cv2/pydicom/numpy throw becomes one line
        raise ImageReadError(
            path, f"could not decode {_FORMAT_NAMES[kind]} ({short_cause(exc)})"
        ) from exc


def _read_file(path: Path) -> bytes:
    """The whole file, after checking it is a regular, non-empty file of sane size."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except (OSError, ValueError) as exc:
        raise ImageReadError(path, f"cannot open ({short_cause(exc)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(path, "is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageReadError(path, "not a regular file")
    if info.st_size == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    if info.st_size > MAX_FILE_BYTES:
        size, limit = info.st_size / 1024**3, MAX_FILE_BYTES // 1024**3
        raise ImageReadError(path, f"file too large ({size:.1f} GiB; limit {limit} GiB)")
    try:
        return path.read_bytes()
    except PermissionError:
        raise ImageReadError(path, "permission denied") from None
    except MemoryError:
        raise ImageReadError(path, "not enough memory to read the file") from None
    except OSError as exc:
        cause = f"cannot read file ({exc.strerror or short_cause(exc)})"
        raise ImageReadError(path, cause) from None
