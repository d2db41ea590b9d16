"""sr_core.io: read_image on real NIH/DICOM files, generated edge cases and bad files."""

from __future__ import annotations

import pickle
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from sr_core.io import (
    IDENTIFIER_KEYS,
    ImageReadError,
    XrayImage,
    detect_format,
    iter_image_files,
    read_image,
)

SHARED_DICOMS = [
    "CR-MONO1-10-chest.dcm",
    "siim-cr-chest-jpeg-baseline.dcm",
    "siim-cr-chest-edited-monochrome1.dcm",
]


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


# ---------------------------------------------------------------- real files


@pytest.mark.parametrize("name", SHARED_DICOMS)
def test_every_shared_dicom_reads_as_display_grey(shared_data: Path, name: str) -> None:
    image = read_image(shared_data / "dicom" / name)
    assert image.source_kind == "dicom"
    assert image.pixels.dtype == np.float32
    assert image.pixels.shape == (image.height, image.width)
    assert 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0
    assert image.metadata["modality"] == "CR"
    assert image.raw is not None and image.raw.shape == image.pixels.shape


def test_cr_mono1_without_preamble_is_windowed_then_inverted(shared_data: Path) -> None:
    image = read_image(shared_data / "dicom" / "CR-MONO1-10-chest.dcm")
    assert (image.width, image.height, image.bits_stored) == (440, 440, 10)
    assert image.metadata["photometric_interpretation"] == "MONOCHROME1"
    assert image.inverted
    assert any("file meta" in notice for notice in image.notices)
    assert image.raw is not None and image.raw.max() <= 1023  # 10-bit data
    # The file's window (centre 550, width 1024) then MONOCHROME1 inversion.
    expected = 1.0 - window_linear(image.raw, 550, 1024)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)
    assert image.window is not None
    np.testing.assert_allclose(image.windowed(*image.window), image.pixels, atol=1e-5)


def test_siim_monochrome1_relabel_is_the_inverse_of_the_original(shared_data: Path) -> None:
    mono2 = read_image(shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm")
    mono1 = read_image(shared_data / "dicom" / "siim-cr-chest-edited-monochrome1.dcm")
    assert (mono2.width, mono2.height) == (1024, 1024)
    assert mono2.metadata["transfer_syntax"] == "JPEG Baseline (Process 1)"
    assert not mono2.inverted and mono1.inverted
    np.testing.assert_allclose(mono1.pixels, 1.0 - mono2.pixels, atol=1e-5)
    assert mono2.pixel_spacing == pytest.approx((0.168, 0.168))
    assert mono2.pixel_spacing_kind == "PixelSpacing"


def test_shared_dicom_identifiers_are_left_out(shared_data: Path) -> None:
    path = shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm"
    patient_id = str(pydicom.dcmread(path, stop_before_pixels=True).PatientID)
    image = read_image(path)
    assert patient_id not in repr(image.metadata) and patient_id not in str(image)
    assert read_image(path, include_identifiers=True).metadata["patient_id"] == patient_id


def test_nih_demo_png_reads_at_full_size_scaled_by_bit_depth(shared_data: Path) -> None:
    path = sorted((shared_data / "nih-demo").glob("*.png"))[0]
    image = read_image(path)
    assert (image.width, image.height, image.source_kind) == (1024, 1024, "png")
    assert image.bits_stored == 8
    reference = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    np.testing.assert_allclose(image.pixels, reference, atol=1e-6)
    assert image.path == path and image.window is None and image.pixel_spacing is None


def test_nih_train_jpeg_reads(shared_data: Path) -> None:
    path = sorted((shared_data / "nih-train" / "images").glob("*.jpg"))[0]
    image = read_image(path)
    assert (image.width, image.height, image.source_kind) == (256, 256, "jpeg")
    assert 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0


# ---------------------------------------------------------------- generated raster files


def test_16bit_png_is_scaled_by_65535_not_stretched(tmp_path: Path) -> None:
    stored = (gradient(top=3000) + 1000).astype(np.uint16)  # 1000..4000 of 65535: 12-bit data
    image = read_image(write_png(tmp_path / "deep.png", stored))
    assert image.bits_stored == 16 and image.raw_range == (0.0, 65535.0)
    np.testing.assert_allclose(image.pixels, stored / 65535.0, rtol=1e-6)
    assert image.pixels.max() < 0.062
    assert any("dark" in notice for notice in image.notices)


def test_rgb_png_becomes_luma_grey(tmp_path: Path) -> None:
    bgr = np.zeros((32, 32, 3), np.uint8)
    bgr[:] = (50, 100, 200)  # B, G, R
    image = read_image(write_png(tmp_path / "colour.png", bgr))
    assert image.pixels.shape == (32, 32)
    luma = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    assert image.pixels[0, 0] == pytest.approx(luma, abs=1e-5)
    assert any("grey" in notice for notice in image.notices)


def test_rgba_png_is_composited_on_black(tmp_path: Path) -> None:
    bgra = np.full((32, 32, 4), 200, np.uint8)
    bgra[:, :, 3] = 255
    bgra[:, :16, 3] = 0  # left half transparent
    image = read_image(write_png(tmp_path / "alpha.png", bgra))
    assert image.pixels[:, :16].max() == 0.0
    np.testing.assert_allclose(image.pixels[:, 16:], 200 / 255, atol=1e-5)
    assert any("black" in notice for notice in image.notices)


def test_grey_alpha_png_opaque_keeps_grey(tmp_path: Path) -> None:
    rows = [bytes([120, 255] * 20) for _ in range(20)]
    path = tmp_path / "ga.png"
    path.write_bytes(handmade_png(20, 20, 4, rows))
    np.testing.assert_allclose(read_image(path).pixels, 120 / 255, atol=1e-5)


def test_palette_png_expands_through_its_palette(tmp_path: Path) -> None:
    palette = bytes([0, 0, 0, 64, 64, 64, 255, 255, 255, 255, 0, 0])
    rows = [bytes([(x + y) % 4 for x in range(24)]) for y in range(20)]
    path = tmp_path / "palette.png"
    path.write_bytes(handmade_png(24, 20, 3, rows, palette))
    image = read_image(path)
    assert (image.width, image.height) == (24, 20)
    assert image.metadata["color_type"] == "palette"
    assert image.pixels[0, :4] == pytest.approx([0.0, 64 / 255, 1.0, 0.299], abs=1e-5)


def test_content_decides_jpeg_named_png(tmp_path: Path) -> None:
    ok, buffer = cv2.imencode(".jpg", np.full((40, 40), 128, np.uint8))
    path = tmp_path / "really-a-jpeg.png"
    path.write_bytes(buffer.tobytes())
    image = read_image(path)
    assert image.source_kind == "jpeg"
    assert image.pixels.mean() == pytest.approx(128 / 255, abs=0.01)
    assert detect_format(path.read_bytes()[:256]) == "jpeg"


def test_unicode_path_reads(tmp_path: Path) -> None:
    path = write_png(tmp_path / "Röntgen 胸部.png", np.full((20, 20), 255, np.uint8))
    assert read_image(path).pixels.min() == 1.0


# ---------------------------------------------------------------- generated DICOM files


def test_dicom_monochrome1_is_the_inverse_of_monochrome2(tmp_path: Path) -> None:
    stored = gradient()
    mono2 = read_image(save(make_dicom(stored, "MONOCHROME2"), tmp_path / "m2.dcm"))
    mono1 = read_image(save(make_dicom(stored, "MONOCHROME1"), tmp_path / "m1.dcm"))
    np.testing.assert_allclose(mono2.pixels, stored / stored.max(), atol=1e-6)  # full range
    np.testing.assert_allclose(mono1.pixels, 1.0 - mono2.pixels, atol=1e-6)
    assert mono2.window is None


def test_dicom_rescale_slope_intercept_gives_modality_values(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored, RescaleSlope=2, RescaleIntercept=-1024)
    image = read_image(save(ds, tmp_path / "ct-like.dcm"))
    np.testing.assert_allclose(image.raw, stored * 2.0 - 1024)
    assert image.raw_range == (-1024.0, 4000 * 2 - 1024.0)


def test_dicom_window_is_applied_first_of_multi_valued(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored, WindowCenter=[2000, 500], WindowWidth=[1001, 200])
    image = read_image(save(ds, tmp_path / "windowed.dcm"))
    expected = window_linear(stored.astype(float), 2000, 1001)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)
    assert image.pixels[stored < 1400].max() == 0.0 and image.pixels[stored > 2600].min() == 1.0
    assert image.window == pytest.approx(((2000 - 0.5) / 4000, 1000 / 4000))
    np.testing.assert_allclose(image.windowed(*image.window), image.pixels, atol=1e-5)


def test_dicom_window_after_rescale_and_monochrome1(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored, "MONOCHROME1", RescaleSlope=1, RescaleIntercept=-1000)
    ds.WindowCenter, ds.WindowWidth = 0, 2001
    image = read_image(save(ds, tmp_path / "w-m1.dcm"))
    expected = 1.0 - window_linear(stored - 1000.0, 0, 2001)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)


def test_dicom_voi_lut_sequence_is_preferred_over_window(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored, WindowCenter=2000, WindowWidth=100)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 8]
    table = 255 - np.arange(4096) // 16  # an inverting 8-bit LUT over 12-bit input
    item.add_new(0x00283006, "US", [int(v) for v in table])  # LUT Data
    ds.VOILUTSequence = Sequence([item])
    image = read_image(save(ds, tmp_path / "voi-lut.dcm"))
    np.testing.assert_allclose(image.pixels, table[stored] / 255.0, atol=1e-6)
    assert image.window is None


def test_dicom_voi_lut_as_ow_bytes_with_overstated_depth(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]  # says 16 bits per entry, holds 12-bit values
    table = np.arange(4096, dtype="<u2")[::-1].copy()
    item.add_new(0x00283006, "OW", table.tobytes())
    ds.VOILUTSequence = Sequence([item])
    image = read_image(save(ds, tmp_path / "voi-ow.dcm"))
    np.testing.assert_allclose(image.pixels, (4095 - stored) / 4095.0, atol=1e-6)


def test_dicom_without_preamble_or_file_meta_reads(tmp_path: Path) -> None:
    stored = gradient()
    ds = make_dicom(stored)
    del ds.file_meta
    path = tmp_path / "bare"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    image = read_image(path)
    np.testing.assert_allclose(image.pixels, stored / stored.max(), atol=1e-6)
    assert image.metadata["transfer_syntax"] == ImplicitVRLittleEndian.name


def test_dicom_rle_compressed_matches_native(tmp_path: Path) -> None:
    stored = gradient()
    native = read_image(save(make_dicom(stored), tmp_path / "native.dcm"))
    ds = make_dicom(stored)
    ds.compress(RLELossless)
    image = read_image(save(ds, tmp_path / "rle.dcm"))
    assert image.metadata["transfer_syntax"] == RLELossless.name
    np.testing.assert_array_equal(image.pixels, native.pixels)


def test_dicom_jpeg2000_compressed_matches_native(tmp_path: Path) -> None:
    encoder = pydicom.pixels.get_encoder(JPEG2000Lossless)
    if not encoder.is_available:
        pytest.skip("no JPEG 2000 encoder available")
    stored = gradient()
    ds = make_dicom(stored)
    ds.compress(JPEG2000Lossless)
    image = read_image(save(ds, tmp_path / "j2k.dcm"))
    np.testing.assert_allclose(image.pixels, stored / stored.max(), atol=1e-6)


def test_missing_decoder_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not pydicom.pixels.get_encoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 encoder available")
    ds = make_dicom(gradient())
    ds.compress(JPEG2000Lossless)
    path = save(ds, tmp_path / "j2k.dcm")
    decoder_class = type(pydicom.pixels.get_decoder(JPEG2000Lossless))
    monkeypatch.setattr(decoder_class, "is_available", property(lambda self: False))
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    assert "needs pylibjpeg-openjpeg: pip install" in str(caught.value)
    assert "j2k.dcm" in str(caught.value)


def test_multiframe_dicom_shows_first_frame_with_notice(tmp_path: Path) -> None:
    frames = np.stack([gradient(), gradient()[::-1], np.full((64, 48), 7, np.uint16)])
    image = read_image(save(make_dicom(frames), tmp_path / "cine.dcm"))
    np.testing.assert_allclose(image.pixels, frames[0] / frames[0].max(), atol=1e-6)
    assert "multi-frame DICOM: showing frame 1 of 3" in image.notices
    assert image.metadata["number_of_frames"] == 3


def test_dicom_identifiers_only_on_request(tmp_path: Path) -> None:
    identifiers = {
        "PatientName": "Doe^Jane",
        "PatientID": "PID-98765",
        "PatientBirthDate": "19700101",
        "AccessionNumber": "ACC-4242",
        "InstitutionName": "Saint Nowhere Hospital",
    }
    ds = make_dicom(gradient(), ViewPosition="PA", BodyPartExamined="CHEST", **identifiers)
    path = save(ds, tmp_path / "patient.dcm")
    image = read_image(path)
    shown = repr(image.metadata) + str(image) + repr(image)
    for value in ("Doe", "PID-98765", "1970", "ACC-4242", "Nowhere"):
        assert value not in shown
    assert not set(IDENTIFIER_KEYS) & set(image.metadata)
    assert image.metadata["view_position"] == "PA" and image.metadata["body_part"] == "CHEST"
    full = read_image(path, include_identifiers=True)
    assert full.metadata["patient_name"] == "Doe^Jane"
    assert full.metadata["patient_id"] == "PID-98765"
    assert full.metadata["accession_number"] == "ACC-4242"
    assert "Doe" not in str(full)


def test_colour_dicom_becomes_luma_grey(tmp_path: Path) -> None:
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:] = (200, 100, 50)
    image = read_image(save(make_dicom(rgb, "RGB", 8), tmp_path / "rgb.dcm"))
    luma = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    np.testing.assert_allclose(image.pixels, luma, atol=1e-5)
    assert image.raw is None


def test_dicom_imager_pixel_spacing_is_labelled(tmp_path: Path) -> None:
    ds = make_dicom(gradient(), ImagerPixelSpacing=[0.15, 0.14])
    image = read_image(save(ds, tmp_path / "imager.dcm"))
    assert image.pixel_spacing == pytest.approx((0.15, 0.14))
    assert image.pixel_spacing_kind == "ImagerPixelSpacing"


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


def test_unexpected_decoder_failure_is_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_png(tmp_path / "fine.png", np.zeros((20, 20), np.uint8))

    def explode(*args, **kwargs):
        raise cv2.error("OpenCV(5.0) decoder exploded\n  at line 42\n")

    monkeypatch.setattr(cv2, "imdecode", explode)
    with pytest.raises(ImageReadError) as caught:
        read_image(path)
    expected = "cannot read 'fine.png': could not decode PNG (OpenCV(5.0) decoder exploded)"
    assert str(caught.value) == expected


def test_image_read_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ImageReadError("/tmp/x.png", "file not found")))
    assert str(error) == "cannot read 'x.png': file not found" and error.path == Path("/tmp/x.png")


def test_xray_image_derives_size_and_checks_shape() -> None:
    image = XrayImage(np.zeros((30, 40), np.float64))
    assert (image.width, image.height, image.pixels.dtype) == (40, 30, np.float32)
    with pytest.raises(ValueError):
        XrayImage(np.zeros((3, 30, 40)))


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
