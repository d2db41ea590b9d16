"""sr_core.io.dicom: the real DICOMs of ../shared/data and generated ones (photometric, modality LUT,
compressed syntaxes, frames, identifiers, spacing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from sr_core.io import IDENTIFIER_KEYS, ImageReadError, read_image

from .conftest import gradient, make_dicom, save, window_linear


SHARED_DICOMS = [
    "CR-MONO1-10-chest.dcm",
    "siim-cr-chest-jpeg-baseline.dcm",
    "siim-cr-chest-edited-monochrome1.dcm",
]


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
    assert image.magnification_factor is None
    assert image.patient_spacing is None  # at the detector only: no factor to scale it by


def test_dicom_magnification_factor_scales_imager_spacing_to_the_patient(tmp_path: Path) -> None:
    ds = make_dicom(gradient(), ImagerPixelSpacing=[0.15, 0.12], EstimatedRadiographicMagnificationFactor=1.2)
    image = read_image(save(ds, tmp_path / "magnified.dcm"))
    assert image.pixel_spacing == pytest.approx((0.15, 0.12))  # as stored, at the detector
    assert image.magnification_factor == pytest.approx(1.2)
    assert image.patient_spacing == pytest.approx((0.125, 0.1))


def test_dicom_pixel_spacing_ignores_the_magnification_factor(tmp_path: Path) -> None:
    # PixelSpacing is already at the patient: the factor must not be applied a second time.
    ds = make_dicom(gradient(), PixelSpacing=[0.2, 0.2], EstimatedRadiographicMagnificationFactor=1.5)
    image = read_image(save(ds, tmp_path / "calibrated.dcm"))
    assert image.magnification_factor is None
    assert image.patient_spacing == pytest.approx((0.2, 0.2))


@pytest.mark.parametrize("factor", ["0", "-1.1", "abc"])
def test_dicom_bad_magnification_factor_is_ignored(tmp_path: Path, factor: str) -> None:
    ds = make_dicom(gradient(), ImagerPixelSpacing=[0.15, 0.15])
    # EstimatedRadiographicMagnificationFactor; "abc" cannot be a DS, so it goes in as text
    ds.add_new(0x00181114, "LO" if factor == "abc" else "DS", factor)
    image = read_image(save(ds, tmp_path / "bad.dcm"))
    assert image.magnification_factor is None
