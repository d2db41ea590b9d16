"""Window/level: the canvas's 16-bit data + levels show what XrayImage.windowed computes."""

from __future__ import annotations

import numpy as np
import pytest

from sr_core.io import read_image
from sr_viewer.state.window import FULL_SCALE, display_data, display_levels, drag_window, windowed_grey


def shown(image, window):
    """What the grey ImageItem displays: data through levels, clipped to [0, 1]."""
    data = display_data(image, window).astype(np.float64)
    lo, hi = display_levels(image, window)
    return np.clip((data - lo) / (hi - lo), 0, 1)


@pytest.mark.parametrize("name", ["CR-MONO1-10-chest.dcm", "siim-cr-chest-edited-monochrome1.dcm"])
def test_dicom_levels_reproduce_windowed(shared_data, name):
    image = read_image(shared_data / "dicom" / name)
    assert image.raw is not None
    np.testing.assert_allclose(shown(image, None), image.pixels, atol=1.0 / FULL_SCALE)
    for window in [(0.4, 0.3), (0.6, 1.2)]:
        np.testing.assert_allclose(shown(image, window), image.windowed(*window), atol=2e-4)


def test_png_window_and_invert(nih_demo):
    image = read_image(nih_demo / "00000032_037.png")
    np.testing.assert_allclose(shown(image, (0.5, 0.5)), image.windowed(0.5, 0.5), atol=2e-4)
    grey = windowed_grey(image, None, invert=True)
    assert grey.dtype == np.uint8 and abs(int(grey[500, 500]) - round(255 * (1 - image.pixels[500, 500]))) <= 1


def test_drag_right_widens_and_down_raises_the_centre():
    center, width = drag_window((0.5, 0.5), 0.2, 0.1)
    assert width > 0.5 and center > 0.5
