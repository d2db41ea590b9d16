"""sr_core.io.reader: files that must be refused, each with a one-line error naming it and its cause."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from sr_core.io import ImageReadError, read_image

from .conftest import gradient, handmade_png, make_dicom, save


# ---------------------------------------------------------------- files that must be refused


def _bad_dicom_no_pixel_data(tmp_path: Path, shared: Path) -> Path:
    ds = make_dicom(gradient())
    del ds.PixelData
    return save(ds, tmp_path / "no-pixels.dcm")


def _bad_dicom_rows_too_many(tmp_path: Path, shared: Path) -> Path:
    ds = make_dicom(gradient())
    ds.Rows = 128
    return save(ds, tmp_path / "rows.dcm")


def _bad_dicom_columns_too_few(tmp_path: Path, shared: Path) -> Path:
    ds = make_dicom(gradient())
    ds.Columns = 47
    return save(ds, tmp_path / "columns.dcm")


def _bad_dicom_truncated(tmp_path: Path, shared: Path) -> Path:
    path = save(make_dicom(gradient()), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:-2000])
    return path


def _bad_dicom_compressed_truncated(tmp_path: Path, shared: Path) -> Path:
    source = (shared / "dicom" / "siim-cr-chest-jpeg-baseline.dcm").read_bytes()
    path = tmp_path / "half.dcm"
    path.write_bytes(source[: len(source) // 2])
    return path


def _bad_dicom_bomb(tmp_path: Path, shared: Path) -> Path:
    ds = make_dicom(gradient())
    ds.Rows, ds.Columns = 30000, 30000
    return save(ds, tmp_path / "bomb.dcm")


def _bad_png_truncated(tmp_path: Path, shared: Path) -> Path:
    source = sorted((shared / "nih-demo").glob("*.png"))[0].read_bytes()
    path = tmp_path / "half.png"
    path.write_bytes(source[: len(source) // 2])
    return path


def _bad_jpeg_truncated(tmp_path: Path, shared: Path) -> Path:
    source = sorted((shared / "nih-train" / "images").glob("*.jpg"))[0].read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(source[: len(source) // 2])
    return path


def _bad_jpeg_bomb(tmp_path: Path, shared: Path) -> Path:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60000, 60000, 1) + b"\x01\x11\x00"
    path = tmp_path / "bomb.jpg"
    path.write_bytes(b"\xff\xd8" + sof + b"\xff\xda" + b"\x00" * 64 + b"\xff\xd9")
    return path


def _write(name: str, content: bytes):
    def make(tmp_path: Path, shared: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


BAD_FILES = {
    "empty": (_write("empty.png", b""), "empty"),
    "text": (_write("notes.dcm", b"Patient notes: nothing to see here.\n" * 20), "text file"),
    "bomb-png": (_write("bomb.png", handmade_png(100_000, 100_000, 0, None)), "too large"),
    "tiny-png": (_write("dot.png", handmade_png(1, 1, 0, [b"\x80"])), "too small"),
    "truncated-png": (_bad_png_truncated, "truncated"),
    "truncated-jpeg": (_bad_jpeg_truncated, "truncated"),
    "bomb-jpeg": (_bad_jpeg_bomb, "too large"),
    "truncated-dicom": (_bad_dicom_truncated, "truncated"),
    "truncated-jpeg-dicom": (_bad_dicom_compressed_truncated, "truncated"),
    "no-pixel-data": (_bad_dicom_no_pixel_data, "no pixel data"),
    "rows-inconsistent": (_bad_dicom_rows_too_many, "too short"),
    "columns-inconsistent": (_bad_dicom_columns_too_few, "inconsistent sizes"),
    "bomb-dicom": (_bad_dicom_bomb, "too large"),
    "missing": (lambda tmp_path, shared: tmp_path / "nowhere.png", "not found"),
    "directory": (lambda tmp_path, shared: tmp_path, "folder"),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about what we then refuse
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_one_line_error_naming_it(
    tmp_path: Path, shared_data: Path, case: str
) -> None:
    make, cause = BAD_FILES[case]
    path = make(tmp_path, shared_data)
    started = time.perf_counter()
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    elapsed = time.perf_counter() - started
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in message and "Traceback" not in message
    assert path.name in message
    assert cause in message
    assert elapsed < 1.0  # bombs are refused from the header, not after decoding
