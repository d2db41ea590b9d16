"""sr_core.io.sniff: the content decides the format, not the name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sr_core.io import detect_format, read_image


def test_content_decides_jpeg_named_png(tmp_path: Path) -> None:
    ok, buffer = cv2.imencode(".jpg", np.full((40, 40), 128, np.uint8))
    path = tmp_path / "really-a-jpeg.png"
    path.write_bytes(buffer.tobytes())
    image = read_image(path)
    assert image.source_kind == "jpeg"
    assert image.pixels.mean() == pytest.approx(128 / 255, abs=0.01)
    assert detect_format(path.read_bytes()[:256]) == "jpeg"
