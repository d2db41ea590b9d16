"""Where exports may go: never onto a source file, never over an earlier export."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

MAX_SUFFIX = 10_000


class ExportError(ValueError):
    """An export that cannot be written (one-line message naming the file)."""


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def safe_output_path(path: str | Path, sources: Iterable[str | Path] = ()) -> Path:
    """The path to write an export to.

    A path equal to a source image is refused; a path that exists already gets a numeric
    suffix (``name_1.png``, ``name_2.png`` ...) instead of being overwritten.

    Args:
        path: The path the reader asked for.
        sources: Every source image open in the viewer.

    Raises:
        ExportError: The path is a source file, or no free name was found.
    """
    path = Path(path)
    source_list = [Path(s) for s in sources]
    if any(same_file(path, s) for s in source_list):
        raise ExportError(f"refusing to write {path.name!r}: it is a source image (choose another name)")
    if not path.exists():
        return path
    for n in range(1, MAX_SUFFIX):
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        if not candidate.exists() and not any(same_file(candidate, s) for s in source_list):
            return candidate
    raise ExportError(f"no free file name next to {path.name!r}")


def export_name(source: Path, suffix: str, tag: str = "sr") -> str:
    """The default export file name for a source image: ``<stem>_<tag><suffix>``."""
    return f"{source.stem}_{tag}{suffix}"
