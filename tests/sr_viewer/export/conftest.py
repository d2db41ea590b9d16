"""Export fixtures: an identity colour table and the overlay of a study with hand-made maps."""

from __future__ import annotations

import numpy as np

from sr_viewer.state import ViewerModel

from ..conftest import FakePrediction


LUT = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)


def overlay_for(tmp_path, image, gt=()):
    model = ViewerModel()
    (study,) = model.add_studies([image.path])
    model.image_loaded(study, image)
    study.gt_boxes = list(gt)
    fpm = np.zeros((image.height, image.width), np.float32)
    fpm[300:500, 200:600] = 0.9
    model.set_prediction(study, FakePrediction({"Mass": fpm}, {"Mass": 0.8}))
    return model, model.overlay()
