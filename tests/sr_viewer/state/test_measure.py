"""sr_viewer.state.measure: the scale and its source label, and the evented distances."""

from __future__ import annotations

import numpy as np
import pytest

from sr_core.io import XrayImage
from sr_viewer.state import Measurements, Scale, ViewerModel


def image(spacing=None, kind=None, factor=None) -> XrayImage:
    return XrayImage(np.zeros((20, 30), np.float32), pixel_spacing=spacing, pixel_spacing_kind=kind,
                     magnification_factor=factor)


def test_pixel_spacing_scale_is_millimetres_at_the_patient():
    scale = Scale.of_image(image((0.5, 0.25), "PixelSpacing"))
    assert scale.unit == "mm" and scale.where == "at the patient"
    assert scale.length((0, 0), (4, 0)) == pytest.approx(1.0)  # columns: 0.25 mm
    assert scale.length((0, 0), (0, 4)) == pytest.approx(2.0)  # rows: 0.5 mm
    assert scale.length((0, 0), (3, 4)) == pytest.approx(np.hypot(0.75, 2.0))
    assert scale.size((0, 0, 8, 2)) == pytest.approx((2.0, 1.0, 2.0))
    assert scale.label.startswith("mm at the patient (DICOM PixelSpacing")


def test_imager_spacing_without_factor_is_at_the_detector():
    scale = Scale.of_image(image((0.2, 0.2), "ImagerPixelSpacing"))
    assert scale.unit == "mm" and scale.where == "at the detector" and scale.magnification_factor is None
    assert scale.length((0, 0), (10, 0)) == pytest.approx(2.0)
    assert "at the detector" in scale.label and "ImagerPixelSpacing" in scale.label


def test_imager_spacing_divided_by_the_magnification_factor():
    scale = Scale.of_image(image((0.2, 0.2), "ImagerPixelSpacing", 1.25))
    assert scale.where == "at the patient" and scale.row_mm == pytest.approx(0.16)
    assert scale.length((0, 0), (10, 0)) == pytest.approx(1.6)
    assert "EstimatedRadiographicMagnificationFactor 1.25" in scale.label


def test_no_spacing_is_pixels():
    scale = Scale.of_image(image())
    assert scale.unit == "px" and not scale.calibrated and scale.where == ""
    assert scale.length_text((0, 0), (3, 4)) == "5.0 px"
    assert scale.size_text((0, 0, 10, 5)) == "10.0 x 5.0 px, 50 px\u00b2"
    assert scale.distance_label((0, 0), (3, 4)) == "5.0 px (pixels)"


def test_distance_label_names_the_scale_source():
    """The one label the canvas, the annotated PNG/SC and the presentation state write."""
    assert Scale.of_image(image((0.168, 0.168), "PixelSpacing")).distance_label((0, 0), (500, 0)) == (
        "84.0 mm (PixelSpacing, patient)")
    assert Scale.of_image(image((0.2, 0.2), "ImagerPixelSpacing")).distance_label((0, 0), (10, 0)) == (
        "2.0 mm (ImagerPixelSpacing, detector)")


def test_measurements_add_move_remove_emit_and_select():
    measurements = Measurements()
    changes = []
    measurements.events.changed.connect(lambda: changes.append(len(measurements)))
    a = measurements.add((1, 2), (3, 4))
    b = measurements.add((5, 6), (7, 8))
    assert measurements.selected == b.id and a.id != b.id
    measurements.move(a.id, end=(9, 9))
    assert measurements.get(a.id).end == (9.0, 9.0) and measurements.selected == a.id
    measurements.move(a.id, end=(9, 9))  # no change: no event
    assert measurements.remove() and [d.id for d in measurements] == [b.id]
    assert not measurements.remove()  # nothing selected any more
    measurements.clear()
    assert changes == [1, 2, 2, 1, 0]
    with pytest.raises(ValueError):
        measurements.add((float("nan"), 0), (1, 1))


def test_document_relays_a_study_s_measurement_changes(tmp_path):
    model = ViewerModel()
    path = tmp_path / "a.png"
    path.write_bytes(b"")
    (study,) = model.add_studies([path])
    seen = []
    model.events.measurements_changed.connect(seen.append)
    study.measurements.add((0, 0), (1, 1))
    assert seen == [study]
    model.image_loaded(study, image((0.3, 0.3), "PixelSpacing"))
    assert study.scale.source == "PixelSpacing"
    study.image = None  # evicted: the scale stays for exports
    assert study.scale.unit == "mm"


def test_label_placement_grows_away_from_the_edges():
    from sr_viewer.state.measure import label_placement

    assert label_placement((400, 500), (600, 500), 1000, 1000) == ((500, 500), (0.5, 1.0))  # above the middle
    assert label_placement((990, 300), (990, 600), 1000, 1000) == ((990, 300), (1.0, 1.0))  # right edge: leftwards
    assert label_placement((5, 300), (5, 600), 1000, 1000) == ((5, 300), (0.0, 1.0))  # left edge: rightwards
    assert label_placement((300, 2), (700, 10), 1000, 1000) == ((500, 10), (0.5, 0.0))  # top: below the line
