"""Ensembles (sr_core.ensemble, sr-core-train ensemble): one file, several models, mixed maps."""

import json

import numpy as np
import pytest
import torch

from sr_core.boxes import upsample_fpm
from sr_core.checkpoint import WeightsError, load_weights, read_metadata, save_weights
from sr_core.cli.train import main as train_main
from sr_core.ensemble import EnsemblePredictor, save_ensemble
from sr_core.io import XrayImage
from sr_core.models import create_model
from sr_core.predict import Predictor
from sr_core.prediction import Prediction

CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two files of different architectures and map grids (VMamba 2x2, Lite0 4x4 at 64 px)."""
    folder = tmp_path_factory.mktemp("members")
    torch.manual_seed(0)
    a = save_weights(create_model("sr_vmamba_nano"), folder / "a.safetensors",
                     {"class_names": CLASSES, "input_size": 64, "default_threshold": 0.6}, dtype=torch.float16)
    b = save_weights(create_model("sr_efficientnet_lite0", fpm=False), folder / "b.safetensors",
                     {"class_names": CLASSES, "input_size": 64, "test_time_flip": True})
    return a, b


def image(seed: int) -> XrayImage:
    return XrayImage(np.random.default_rng(seed).random((80, 96), dtype=np.float32))


def test_an_ensemble_file_predicts_the_mix_of_its_members(members, tmp_path):
    a, b = members
    out = save_ensemble([a, b], [3, 1], tmp_path / "e.safetensors",
                        {"default_threshold": 0.4, "fpm_thresholds": {"Mass": 0.3}})
    meta = read_metadata(out)
    assert meta["format"] == "sr-ensemble" and meta["mix"] == [0.75, 0.25]
    assert meta["member_files"] == ["a.safetensors", "b.safetensors"]
    assert meta["model"]["name"] == "ensemble: 0.75 sr_vmamba_nano + 0.25 sr_efficientnet_lite0"
    ens = Predictor.from_weights(out, device="cpu")
    assert isinstance(ens, EnsemblePredictor) and ens.class_names == CLASSES and ens.input_size == 64
    got = ens.predict_batch([image(1), image(2)])
    alone = [Predictor.from_weights(w, device="cpu").predict_batch([image(1), image(2)]) for w in (a, b)]
    for i, pred in enumerate(got):
        pa, pb = alone[0][i], alone[1][i]
        assert pa.small_maps["Mass"].shape == (2, 2) and pb.small_maps["Mass"].shape == (4, 4)
        for c in CLASSES:
            want = 0.75 * upsample_fpm(pa.small_maps[c], (4, 4)) + 0.25 * upsample_fpm(pb.small_maps[c], (4, 4))
            np.testing.assert_allclose(pred.small_maps[c], want, rtol=1e-5, atol=1e-6)
            assert pred.probabilities[c] == pytest.approx(0.75 * pa.probabilities[c] + 0.25 * pb.probabilities[c])
        assert (pred.width, pred.height) == (96, 80) and pred.fpm("Mass").shape == (80, 96)
        assert pred.threshold_for("Mass") == 0.3 and pred.threshold_for("Nodule") == 0.4
        assert pred.boxes(0.3, "Mass") == pred.regions(None, "Mass").boxes
    # Kept predictions (for choosing a mix) are by file path: images without one are never mixed up.
    kept = EnsemblePredictor(ens.members, ens.mix, ens.metadata, keep=True)
    for _ in range(2):
        again = kept.predict_batch([image(1), image(2)])
        for a_pred, b_pred in zip(again, got):
            np.testing.assert_allclose(a_pred.small_maps["Mass"], b_pred.small_maps["Mass"], rtol=1e-6)
    assert kept._kept == {}


def test_warnings_come_from_any_member_and_the_ratio_is_the_largest():
    class Member:  # what EnsemblePredictor reads of a member before predicting
        class_names, device, batch_size, input_size = CLASSES, "cpu", 4, 64

    def pred(ratio, warning):
        return Prediction({c: 1 / 8 for c in CLASSES}, {c: np.eye(2, dtype=np.float32) for c in CLASSES},
                          CLASSES[:1], 10, 10, warning=warning, ood_ratio=ratio)

    ens = EnsemblePredictor([Member(), Member()], [1, 1])
    mixed = ens.mixed([pred(0.7, None), pred(1.3, "not like the chest films")])
    assert mixed.warning == "not like the chest films" and mixed.ood_ratio == 1.3
    assert ens.mixed([pred(None, None), pred(0.5, None)]).ood_ratio == 0.5
    assert ens.mixed([pred(None, None), pred(None, None)]).ood_ratio is None


def test_bad_ensembles_are_refused_in_one_line(members, tmp_path):
    a, b = members
    e = save_ensemble([a, b], [1, 1], tmp_path / "e.safetensors", {})
    with pytest.raises(WeightsError, match="e.safetensors: an ensemble of 2 weights files"):
        load_weights(e)  # calibrate, export and the OOD fit take one model
    with pytest.raises(WeightsError, match="cannot be a member"):
        save_ensemble([a, e], [1, 1], tmp_path / "nested.safetensors", {})
    with pytest.raises(ValueError, match="never overwritten"):
        save_ensemble([a, b], [1, 1], a, {})
    with pytest.raises(ValueError, match="not all 0"):
        save_ensemble([a, b], [0, 0], tmp_path / "zero.safetensors", {})
    other = save_weights(create_model("sr_vmamba_nano", num_classes=2), tmp_path / "two.safetensors",
                         {"class_names": ["x", "y"]})
    with pytest.raises(ValueError, match="different findings"):
        save_ensemble([a, other], [1, 1], tmp_path / "mixed.safetensors", {})
    # A member's tensors missing from the file: named, like any weights that do not fit.
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(e), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if not k.startswith("m1.")}
        meta = fh.metadata()
    save_file(tensors, str(tmp_path / "cut.safetensors"), metadata=meta)
    with pytest.raises(WeightsError, match="cut.safetensors: weights do not fit the architecture: .* missing keys"):
        Predictor.from_weights(tmp_path / "cut.safetensors", device="cpu")


def test_the_cli_chooses_the_mix_on_the_layout_and_writes_the_file(members, nih_import_64, tmp_path, capsys):
    status, root = nih_import_64
    assert status == 0
    a, b = members
    out = tmp_path / "e.safetensors"
    assert train_main(["ensemble", str(a), str(b), "--data", str(root), "--out", str(out), "--mixes", "1,0.5",
                       "--max-box-ratio", "2", "--device", "cpu"]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = read_metadata(out)
    record = meta["calibration"]
    assert [t["mix"] for t in record["trials"]] == [[1.0, 0.0], [0.5, 0.5]] and record["max_box_ratio"] == 2
    best = max(record["trials"], key=lambda t: t["metric"])
    assert record["chosen"]["mix"] == best["mix"] == meta["mix"]
    assert set(meta["fpm_thresholds"]) <= set(CLASSES) and json.dumps(meta["operating_points"])
    assert isinstance(Predictor.from_weights(out, device="cpu"), EnsemblePredictor)
    assert train_main(["ensemble", str(a), str(b), "--data", str(root), "--out", str(out), "--mixes", "1.5"]) == 2
    assert train_main(["ensemble", str(a), str(out), "--data", str(root), "--out", str(tmp_path / "x.safetensors"),
                       "--device", "cpu"]) == 1
    assert "cannot be a member" in capsys.readouterr().err
