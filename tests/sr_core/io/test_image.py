"""sr_core.io.image: XrayImage and ImageReadError."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from sr_core.io import ImageReadError, XrayImage


def test_image_read_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ImageReadError("/tmp/x.png", "file not found")))
    assert str(error) == "cannot read 'x.png': file not found" and error.path == Path("/tmp/x.png")


def test_xray_image_derives_size_and_checks_shape() -> None:
    image = XrayImage(np.zeros((30, 40), np.float64))
    assert (image.width, image.height, image.pixels.dtype) == (40, 30, np.float32)
    with pytest.raises(ValueError):
        XrayImage(np.zeros((3, 30, 40)))
