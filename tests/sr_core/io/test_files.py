"""sr_core.io.files: which files of a folder are offered to read_image."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_core.io import iter_image_files

from .conftest import gradient, handmade_png, make_dicom, save


# ---------------------------------------------------------------- folder walking


def test_iter_image_files_sorted_recursive_skipping_hidden(tmp_path: Path) -> None:
    png = handmade_png(16, 16, 0, [bytes(16)] * 16)
    dicom_bytes = save(make_dicom(gradient()), tmp_path / "seed.dcm").read_bytes()
    (tmp_path / "seed.dcm").unlink()
    layout = {
        "b.PNG": png,
        "a.jpeg": b"\xff\xd8\xff",
        "sub/c.dcm": dicom_bytes,
        "sub/IM0001": dicom_bytes,
        "sub/1.2.840.10008.5": dicom_bytes,
        "sub/README": b"not an image",
        "sub/DICOMDIR": dicom_bytes,
        "notes.txt": b"text",
        ".hidden.png": png,
        ".cache/d.png": png,
    }
    for name, content in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    found = [path.relative_to(tmp_path).as_posix() for path in iter_image_files(tmp_path)]
    assert found == ["a.jpeg", "b.PNG", "sub/1.2.840.10008.5", "sub/IM0001", "sub/c.dcm"]
    with pytest.raises(NotADirectoryError):
        list(iter_image_files(tmp_path / "b.PNG"))
