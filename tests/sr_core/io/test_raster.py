"""sr_core.io.raster: PNG and JPEG, real (NIH) and generated (bit depth, colour, alpha, palette)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sr_core.io import ImageReadError, read_image

from .conftest import gradient, handmade_png, write_png


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


def test_unicode_path_reads(tmp_path: Path) -> None:
    path = write_png(tmp_path / "Röntgen 胸部.png", np.full((20, 20), 255, np.uint8))
    assert read_image(path).pixels.min() == 1.0


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
