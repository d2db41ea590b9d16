"""Which files in a folder are worth offering to `read_image`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sr_core.io.sniff import SNIFF_BYTES, detect_format

#: Suffixes (lower case) of files that are image candidates. Files without a suffix, or with
#: an all-digit one (DICOM files named by UID, e.g. "1.2.840.113619.2.5"), are candidates
#: too when their content sniffs as PNG, JPEG or DICOM.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".dcm", ".dicom"})

# Not images although DICOM: the media directory index.
_SKIPPED_NAMES = frozenset({"dicomdir"})


def is_image_candidate(path: Path) -> bool:
    """True if `path` names a file `read_image` should be offered (by suffix, or by content
    for suffix-less files). Hidden files and DICOMDIR are never candidates."""
    name = path.name
    if name.startswith(".") or name.lower() in _SKIPPED_NAMES:
        return False
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    if suffix == "" or suffix[1:].isdigit():
        return _sniffs_as_image(path)
    return False


def iter_image_files(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Image candidates under `folder`, recursively, sorted by path, hidden entries skipped.

    Args:
        folder: The folder to walk.

    Yields:
        Paths of candidate files (see IMAGE_SUFFIXES), in sorted order.

    Raises:
        NotADirectoryError: If `folder` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    found: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        base = Path(directory)
        found.extend(base / name for name in names if is_image_candidate(base / name))
    yield from sorted(found)


def _sniffs_as_image(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return detect_format(handle.read(SNIFF_BYTES)) is not None
    except OSError:
        return False
