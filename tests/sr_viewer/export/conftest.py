"""Export fixtures: an identity colour table, the overlay of a study with hand-made maps, and a
real DICOM study with a prediction, ground truth and a distance (for the DICOM exports)."""

from __future__ import annotations

import numpy as np
import pytest

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


PRED_BOX = (200.0, 300.0, 600.0, 500.0)  # the box of overlay_for's Mass map
LOADED_GT = (210.0, 310.0, 590.0, 480.0)
DRAWN_GT = (100.0, 100.0, 150.0, 160.0)
DISTANCE = ((100.0, 100.0), (600.0, 100.0))  # 500 px: 84 mm at the SIIM file's 0.168 mm/pixel


@pytest.fixture
def dicom_study(shared_data, tmp_path):
    """(model, study, image): the SIIM-ACR CR DICOM (1024 px, PixelSpacing 0.168 mm) with a
    Mass prediction whose box is PRED_BOX, a loaded and a drawn GT box and one distance."""
    from sr_core.io import read_image

    from sr_viewer.state import GtBox

    image = read_image(shared_data / "dicom" / "siim-cr-chest-jpeg-baseline.dcm")
    model, _ = overlay_for(tmp_path, image, gt=[GtBox("Mass", LOADED_GT, "BBox_List_2017.csv")])
    study = model.current
    study.drawn_boxes.add("Mass", DRAWN_GT)
    study.measurements.add(*DISTANCE)
    model.model_status.name = "nano.safetensors"
    return model, study, image


def strings_in(dataset) -> list[str]:
    """Every text value of a dataset, nested sequences included (to look for identifiers)."""
    found = []
    for element in dataset.iterall():
        if element.VR in ("PN", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "DA", "AS"):
            values = element.value if element.VM > 1 else [element.value]
            found += [str(v) for v in values if v not in (None, "")]
    return found
