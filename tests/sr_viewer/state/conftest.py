"""State fixtures: hand-made maps and a model with loaded (blank) studies, no torch."""

from __future__ import annotations

import numpy as np

from sr_core.io import XrayImage
from sr_viewer.state import ViewerModel

from ..conftest import FakePrediction


def blobs(shape=(200, 300)) -> np.ndarray:
    """A big blob (peak 1.0) at (x=80, y=60) and a small one (peak 0.7) at (x=220, y=150)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    big = np.exp(-((cols - 80) ** 2 + (rows - 60) ** 2) / (2 * 25.0**2))
    small = 0.7 * np.exp(-((cols - 220) ** 2 + (rows - 150) ** 2) / (2 * 10.0**2))
    return np.maximum(big, small).astype(np.float32)


def loaded_model(tmp_path, n=3):
    model = ViewerModel()
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(b"")
        paths.append(path)
    studies = model.add_studies(paths)
    for study in studies:
        model.image_loaded(study, XrayImage(np.zeros((200, 300), np.float32), path=study.path))
    return model, studies


def predict(model, study, thresholds=None):
    fpm = blobs()
    pred = FakePrediction({"Mass": fpm, "Nodule": fpm[::-1].copy()}, {"Mass": 0.7, "Nodule": 0.3}, thresholds)
    model.set_prediction(study, pred)
    return pred
