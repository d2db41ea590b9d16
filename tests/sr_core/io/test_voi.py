"""sr_core.io.voi: the DICOM window (first of several, after rescale and MONOCHROME1) and VOI LUTs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sr_core.io import read_image

from .conftest import gradient, make_dicom, save, window_linear


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
