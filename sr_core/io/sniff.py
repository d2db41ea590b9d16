"""Format detection by content (magic bytes), never by file name."""

from __future__ import annotations

import struct

#: Bytes a caller should pass to `detect_format` to see every signature it knows.
SNIFF_BYTES = 256

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

# Groups a dataset stored without preamble/file meta usually starts with (meta, identifying,
# patient, acquisition, relationship, image presentation).
_DICOM_FIRST_GROUPS = {0x0002, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028}
_DICOM_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST",
    b"SV", b"TM", b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
}  # fmt: skip

# Formats we recognise only to say what a file is when we refuse it.
_OTHER_SIGNATURES = (
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
)


def detect_format(head: bytes) -> str | None:
    """Say which supported format the first bytes of a file belong to.

    Args:
        head: The first bytes of the file (SNIFF_BYTES are enough).

    Returns:
        "png", "jpeg" or "dicom", or None if none of them. "dicom" covers files with the
        128-byte preamble and 'DICM', and datasets stored without preamble or file meta
        whose first element looks like a DICOM tag (the DICOM reader confirms by parsing).
    """
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if head[128:132] == b"DICM":
        return "dicom"
    if _looks_like_bare_dicom(head):
        return "dicom"
    return None


def describe_unsupported(head: bytes) -> str:
    """A short cause for a file `detect_format` rejected, naming what it seems to be."""
    if not head:
        return "file is empty (0 bytes)"
    for signature, what in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return f"{what}, not a PNG, JPEG or DICOM file"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "a text file, not a PNG, JPEG or DICOM image"
    return "not a PNG, JPEG or DICOM image (unrecognised content)"


def _looks_like_bare_dicom(head: bytes) -> bool:
    """True if the file starts like a DICOM dataset without preamble (little or big endian)."""
    if len(head) < 8:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", head[:4])
        if group not in _DICOM_FIRST_GROUPS:
            continue
        if head[4:6] in _DICOM_VRS:  # explicit VR
            return True
        (length,) = struct.unpack(order + "I", head[4:8])  # implicit VR: a sane length
        if length < 0x10000 and (element != 0 or length == 4):
            return True
    return False
