"""Image input: `read_image(path) -> XrayImage` for PNG, JPEG (8/16-bit, grey/colour/alpha/
palette) and DICOM (modality LUT, VOI, MONOCHROME1, compressed syntaxes via pylibjpeg).

Anything unreadable raises `ImageReadError` (a ValueError) with a one-line message naming the
file and the cause.
"""

from sr_core.io.files import IMAGE_SUFFIXES, is_image_candidate, iter_image_files
from sr_core.io.image import (
    IDENTIFIER_KEYS,
    MAX_FILE_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    MIN_SIDE,
    ImageReadError,
    XrayImage,
)
from sr_core.io.reader import read_image
from sr_core.io.sniff import detect_format

__all__ = [
    "IDENTIFIER_KEYS",
    "IMAGE_SUFFIXES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "ImageReadError",
    "XrayImage",
    "detect_format",
    "is_image_candidate",
    "iter_image_files",
    "read_image",
]
