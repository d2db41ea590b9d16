"""The out-of-distribution check: DICOM headers of real files, the feature distance on a tiny
model, and the calibration's trip through a weights file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from sr_core import ood
from sr_core.checkpoint import WeightsError, read_metadata, save_weights
from sr_core.io import XrayImage, read_image
from sr_core.models import create_model
from sr_core.predict import Predictor

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]
TINY = {"dims": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "head_channels": 16}
TINY_INPUT = 64


def test_header_check_passes_the_real_chest_cr_dicoms(shared_data):
    files = sorted((shared_data / "dicom").glob("*.dcm"))
    assert len(files) == 3
    for path in files:
        metadata = read_image(path).metadata
        assert (metadata["modality"], metadata["body_part"], metadata["view_position"]) == ("CR", "CHEST", "PA")
        assert ood.header_reason(metadata) is None
        assert ood.warning_line(metadata, None) is None


@pytest.mark.parametrize("name, modality", [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")])
def test_header_check_warns_on_pydicoms_ct_and_mr(name, modality):
    reason = ood.header_reason(read_image(PYDICOM_FILES / name).metadata)
    assert reason == f"DICOM Modality is {modality}, not a radiograph"


@pytest.mark.parametrize("metadata, expected", [
    ({"modality": "PX"}, "DICOM Modality is PX (panoramic dental X-ray), not a radiograph"),
    ({"modality": "DX", "body_part": "SKULL"}, "DICOM BodyPartExamined is SKULL, not chest"),
    ({"modality": "CR", "body_part": "Chest", "view_position": "LL"},
     "DICOM ViewPosition is LL (lateral; the model knows frontal films)"),
    ({"modality": "DX", "view_position": "RAO"}, "DICOM ViewPosition is RAO (oblique; the model knows frontal films)"),
    ({"modality": "MG", "body_part": "BREAST"},
     "DICOM Modality is MG (mammography), not a radiograph; DICOM BodyPartExamined is BREAST, not chest"),
])
def test_header_reasons_name_the_attribute_and_its_value(metadata, expected):
    assert ood.header_reason(metadata) == expected


@pytest.mark.parametrize("metadata", [
    {},  # PNG / JPEG: nothing to go on
    {"modality": "OT"},  # "other": says nothing either way
    {"modality": "DX", "body_part": "THORAX", "view_position": "AP"},
    {"modality": "CR", "body_part": "PORT CHEST", "view_position": ""},
])
def test_header_check_is_silent_without_evidence(metadata):
    assert ood.header_reason(metadata) is None


def test_warning_line_joins_reasons_on_one_line():
    line = ood.warning_line({"modality": "CT"}, 3.24)
    assert line == ("DICOM Modality is CT, not a radiograph; not like the chest films this model was "
                    "trained on (feature distance 3.24x the calibration limit)")
    assert "\n" not in line
    assert ood.warning_line({}, 0.99) is None and ood.warning_line({}, None) is None
    assert "not finite" in ood.warning_line({}, float("nan"))


def test_distance_of_a_gaussian_sample_is_about_one_and_the_limit_is_out_of_fold():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(40, 40)) * np.linspace(3, 0.1, 40)[:, None]
    train, new = rng.normal(size=(2000, 40)) @ mixing, rng.normal(size=(2000, 40)) @ mixing
    reference, out_of_fold = ood.calibrate_reference(train, components=8, percentile=99.0)
    assert np.median(reference.distances(new)) == pytest.approx(1.0, abs=0.1)
    assert reference.limit == pytest.approx(np.percentile(out_of_fold, 99.0))
    # On new samples from the same law, about 1% cross the 99th-percentile limit.
    assert 0.002 < (reference.ratios(new) > 1).mean() < 0.03
    assert (reference.ratios(new + 12 * mixing[0]) > 1).mean() > 0.99  # 12 sigma along the main direction


@pytest.fixture(scope="module")
def tiny_predictor(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    save_weights(create_model("sr_vmamba_nano", **TINY), path, {"class_names": CLASSES, "input_size": TINY_INPUT})
    return Predictor.from_weights(path, device="cpu")


def chest_films(folder: Path, count: int) -> list[XrayImage]:
    return [read_image(p) for p in sorted(folder.glob("*"))[:count]]


def noise_image(seed: int = 0) -> XrayImage:
    return XrayImage(np.random.default_rng(seed).random((256, 256), dtype=np.float32))


def half_and_half() -> XrayImage:
    """Black on the left, white on the right: nothing like a chest film, even to a random model."""
    pixels = np.zeros((256, 256), np.float32)
    pixels[:, 129:] = 1.0
    return XrayImage(pixels)


@pytest.fixture(scope="module")
def reference(tiny_predictor, shared_data) -> ood.FeatureReference:
    """The (untrained) tiny model's reference, fitted on 96 nih-train films."""
    films = chest_films(shared_data / "nih-train" / "images", 96)
    fingerprint = ood.weights_fingerprint(tiny_predictor.model.cam.cls.weight.detach().numpy())
    fitted, _ = ood.calibrate_reference(tiny_predictor.ood_descriptors(films), components=4, percentile=99.0,
                                        fingerprint=fingerprint)
    return fitted


def test_feature_check_tells_a_chest_film_from_a_different_picture_on_a_tiny_model(tiny_predictor, reference,
                                                                                      shared_data):
    predictor = Predictor(tiny_predictor.model, dict(tiny_predictor.metadata), device="cpu")
    predictor.ood_reference = reference
    chest = read_image(shared_data / "nih-val" / "images" / "00000032_037.png")  # not in the fit
    film, other = predictor.predict_batch([chest, half_and_half()])
    assert film.ood_ratio < 1 and film.warning is None
    assert other.ood_ratio > 1 and other.ood_ratio > 2 * film.ood_ratio
    assert other.warning == ("not like the chest films this model was trained on "
                             f"(feature distance {other.ood_ratio:.2f}x the calibration limit)")
    # The warning never hides the results.
    assert len(other.probabilities) == 8 and other.fpm("Mass").shape == (256, 256)


def test_calibration_travels_in_the_weights_metadata(tiny_predictor, reference, tmp_path):
    path = tmp_path / "calibrated.safetensors"
    save_weights(tiny_predictor.model, path, {"class_names": CLASSES, "input_size": TINY_INPUT,
                                              "ood": reference.to_metadata()})
    entry = read_metadata(path)["ood"]
    assert len(json.dumps(entry)) < 100_000
    loaded = ood.FeatureReference.from_metadata(entry)
    for name in ("mean", "scale", "components", "variances"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(reference, name))
    assert (loaded.limit, loaded.percentile, loaded.fingerprint) == (reference.limit, 99.0, reference.fingerprint)
    predictor = Predictor.from_weights(path, device="cpu")
    assert predictor.ood_reference is not None and "feature-distance" in predictor.ood_note
    noise = predictor.predict(noise_image(1))
    assert noise.ood_ratio == pytest.approx(float(reference.ratios(predictor.ood_descriptors([noise_image(1)]))[0]))


def test_weights_without_calibration_get_the_header_check_only(tiny_predictor):
    predictor = Predictor(tiny_predictor.model, dict(tiny_predictor.metadata), device="cpu")
    assert predictor.ood_reference is None and "header check only" in predictor.ood_note
    noise, ct = predictor.predict_batch([noise_image(), read_image(PYDICOM_FILES / "CT_small.dcm")])
    assert noise.warning is None and noise.ood_ratio is None  # nothing is invented
    assert ct.warning == "DICOM Modality is CT, not a radiograph"


def test_a_calibration_made_for_other_weights_is_not_used(reference, tmp_path):
    entry = reference.to_metadata()
    torch.manual_seed(1)
    other = create_model("sr_vmamba_nano", **TINY)
    path = tmp_path / "other.safetensors"
    save_weights(other, path, {"class_names": CLASSES, "input_size": TINY_INPUT, "ood": entry})
    predictor = Predictor.from_weights(path, device="cpu")
    assert predictor.ood_reference is None and "made for other weights" in predictor.ood_note
    assert predictor.predict(noise_image()).warning is None


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(features="something else"), "fitted on"),
    (lambda e: e.update(mean=e["mean"][:-8]), "malformed"),
    (lambda e: e.update(limit=-1.0), "non-positive"),
    (lambda e: e.update(format_version=99), "format 99"),
])
def test_a_broken_calibration_is_a_one_line_weights_error(tiny_predictor, reference, tmp_path, change, message):
    entry = reference.to_metadata()
    change(entry)
    path = tmp_path / "broken.safetensors"
    save_weights(tiny_predictor.model, path, {"class_names": CLASSES, "input_size": TINY_INPUT, "ood": entry})
    with pytest.raises(WeightsError, match=message) as caught:
        Predictor.from_weights(path, device="cpu")
    assert str(caught.value).startswith("broken.safetensors: ") and "\n" not in str(caught.value)
