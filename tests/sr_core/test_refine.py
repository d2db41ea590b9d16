"""Map refinement without boxes (test-time flip, location prior) and `sr-core-train calibrate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from sr_core.checkpoint import WeightsError, load_weights, save_weights
from sr_core.cli.train import main
from sr_core.data.phantoms import write_phantom_dataset
from sr_core.io import XrayImage
from sr_core.models import create_model
from sr_core.predict import Predictor
from sr_core.refine import PRIOR_FLOOR, MapRefinement, mean_maps

TINY = dict(dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], head_channels=16, drop_path_rate=0.0)


def test_the_prior_multiplies_then_renormalises_by_hand():
    maps = np.array([[[[0.0, 1.0], [0.5, 0.5]]]], dtype=np.float32)  # (1, 1, 2, 2)
    prior = np.array([[1.0, 0.25], [1.0, 0.01]], dtype=np.float32)  # 0.01 is floored to 0.05
    refined = MapRefinement(prior_weight=1.0, prior_maps={"Mass": prior}).apply_prior(maps, ["Mass"])
    raw = np.array([[0.0, 0.25], [0.5, 0.5 * PRIOR_FLOOR]])
    np.testing.assert_allclose(refined[0, 0], raw / raw.max(), rtol=1e-6)
    assert MapRefinement(prior_weight=0.0, prior_maps={"Mass": prior}).apply_prior(maps, ["Mass"]) is maps
    # A prior at another resolution is resized to the maps'.
    big = MapRefinement(prior_weight=2.0, prior_maps={"Mass": np.ones((4, 4), np.float32)})
    np.testing.assert_allclose(big.apply_prior(maps, ["Mass"]), maps)


def test_mean_maps_floor_and_peak():
    out = mean_maps({"A": np.array([[2.0, 0.0]]), "B": np.zeros((1, 2))}, {"A": 2, "B": 1})
    np.testing.assert_allclose(out["A"], [[1.0, PRIOR_FLOOR]])
    np.testing.assert_allclose(out["B"], [[1.0, 1.0]])  # nothing learnt: a flat prior


def test_metadata_round_trip_and_a_malformed_prior_is_a_weights_error(tmp_path):
    refinement = MapRefinement(flip=True, prior_weight=0.5, prior_maps={"Mass": np.full((2, 2), 0.5, np.float32)})
    again = MapRefinement.from_metadata(json.loads(json.dumps(refinement.to_metadata())))
    assert again.flip and again.prior_weight == 0.5 and again.prior_maps["Mass"].shape == (2, 2)
    model = create_model("sr_vmamba_nano", num_classes=2, **TINY)
    path = save_weights(model, tmp_path / "bad.safetensors",
                        {"class_names": ["A", "B"], "location_prior": {"weight": 1, "maps": {"A": [1, 2]}}})
    with pytest.raises(WeightsError, match="bad.safetensors: location_prior in the weights metadata is malformed"):
        Predictor.from_weights(path, device="cpu")


def test_test_time_flip_averages_the_image_and_its_mirror():
    torch.manual_seed(0)
    model = create_model("sr_vmamba_nano", num_classes=2, **TINY).eval()
    meta = {"class_names": ["A", "B"], "input_size": 64}
    plain = Predictor(model, meta, device="cpu")
    flipped = Predictor(model, {**meta, "test_time_flip": True}, device="cpu")
    pixels = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    image, mirror = XrayImage(pixels), XrayImage(np.ascontiguousarray(pixels[:, ::-1]))
    a, b, both = plain.predict(image), plain.predict(mirror), flipped.predict(image)
    for c in ("A", "B"):
        assert both.probabilities[c] == pytest.approx((a.probabilities[c] + b.probabilities[c]) / 2, abs=1e-5)
        np.testing.assert_allclose(both.small_maps[c], (a.small_maps[c] + b.small_maps[c][:, ::-1]) / 2, atol=1e-5)
    assert both.ood_ratio == a.ood_ratio  # the out-of-distribution check sees the unflipped image


def test_calibrate_fits_chooses_and_writes_a_new_file(tmp_path, capsys):
    root = tmp_path / "data"
    write_phantom_dataset(root, n_per_class=3, size=64, seed=1, class_names=["Mass", "Nodule"], n_test_per_class=3)
    model = create_model("sr_vmamba_nano", num_classes=2, **TINY)
    source = save_weights(model, tmp_path / "w.safetensors", {"class_names": ["Mass", "Nodule"], "input_size": 64},
                          dtype=torch.float16)
    before = source.read_bytes()
    out = tmp_path / "w2.safetensors"
    assert main(["calibrate", str(source), "--data", str(root), "--out", str(out), "--prior-weights", "0,1",
                 "--device", "cpu"]) == 0
    assert source.read_bytes() == before  # the input is never rewritten
    _, meta = load_weights(out)
    record = meta["calibration"]
    assert [(t["test_time_flip"], t["prior_weight"]) for t in record["trials"]] == [
        (False, 0.0), (False, 1.0), (True, 0.0), (True, 1.0)]
    assert record["chosen"]["metric"] == max(t["metric"] for t in record["trials"])
    assert record["prior_images"] == 6
    if record["chosen"]["prior_weight"] > 0:
        assert set(meta["location_prior"]["maps"]) == {"Mass", "Nodule"}
    else:  # the prior did not help here: none is written
        assert "location_prior" not in meta
    assert meta["test_time_flip"] == record["chosen"]["test_time_flip"]
    with safe_open(str(out), "pt") as fh:
        assert fh.get_slice(next(iter(fh.keys()))).get_dtype() == "F16"  # kept fp16
    assert "wrote" in capsys.readouterr().out
    assert main(["calibrate", str(source), "--data", str(root), "--out", str(source)]) == 1
    assert "never overwritten" in capsys.readouterr().err
    assert main(["calibrate", str(source), "--data", str(root), "--out", str(out), "--prior-weights", "x"]) == 2


def test_calibrate_with_a_box_size_bound_chooses_the_bounded_thresholds(tmp_path, monkeypatch):
    from sr_core.evaluation import scoring

    root = tmp_path / "data"
    write_phantom_dataset(root, n_per_class=2, size=64, seed=1, class_names=["Mass", "Nodule"], n_test_per_class=2)
    source = save_weights(create_model("sr_vmamba_nano", num_classes=2, **TINY), tmp_path / "w.safetensors",
                          {"class_names": ["Mass", "Nodule"], "input_size": 64})
    seen = []
    real = scoring.best_thresholds
    monkeypatch.setattr(scoring, "best_thresholds", lambda curve, bound=None: seen.append(bound) or real(curve, bound))
    out = tmp_path / "w2.safetensors"
    assert main(["calibrate", str(source), "--data", str(root), "--out", str(out), "--prior-weights", "0",
                 "--no-flip", "--max-box-ratio", "2", "--device", "cpu"]) == 0
    _, meta = load_weights(out)
    assert meta["calibration"]["max_box_ratio"] == 2.0
    assert 2.0 in seen  # the choice went through the bounded rule
    for bad in ("0", "-1", "x"):
        assert main(["calibrate", str(source), "--data", str(root), "--out", str(out), "--max-box-ratio", bad]) == 2

