"""Predictor: real X-rays in, probabilities, maps at image size and boxes at any threshold out."""

from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from sr_core.checkpoint import WeightsError, read_metadata, save_weights
from sr_core.io import XrayImage, read_image
from sr_core.models import create_model
from sr_core.predict import Predictor, resolve_device

BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "weights" / "sr_vmamba_nano_distilled.safetensors"
CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "nano.safetensors"
    save_weights(create_model("sr_vmamba_nano"), path,
                 {"class_names": CLASSES, "default_threshold": 0.6, "fpm_thresholds": {"Mass": 0.4}})
    return path


def test_predicts_a_real_1024px_xray(weights, shared_data):
    image = read_image(shared_data / "nih-demo" / "00000032_037.png")
    predictor = Predictor.from_weights(weights, device="cpu")
    pred = predictor.predict(image)
    assert set(pred.probabilities) == set(CLASSES)
    assert abs(sum(pred.probabilities.values()) - 1) < 1e-5
    assert pred.findings[0] == max(pred.probabilities, key=pred.probabilities.get)
    fpm = pred.fpm("Effusion")
    assert fpm.shape == (image.height, image.width) and fpm.dtype == np.float32
    assert 0 <= fpm.min() and fpm.max() <= 1 and fpm.max() > 0.99
    assert pred.fpm("Effusion") is fpm  # cached: a threshold change never re-runs anything
    assert pred.fpm(None).shape == fpm.shape
    assert pred.threshold_for("Mass") == 0.4 and pred.threshold_for("Nodule") == 0.6
    # Lower thresholds give bigger (or equal) largest boxes; a threshold above the max gives none.
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for t in (0.3, 0.6, 0.9) for b in pred.boxes(t, "Effusion")[:1]]
    assert areas == sorted(areas, reverse=True) and len(areas) == 3
    assert pred.boxes(1.01, "Effusion") == []
    with pytest.raises(KeyError, match="unknown finding"):
        pred.fpm("Fracture")


def test_batches_give_the_same_answer_as_single_images(weights):
    rng = np.random.default_rng(0)
    images = [XrayImage(rng.random((300 + 20 * i, 280), dtype=np.float32)) for i in range(3)]
    predictor = Predictor.from_weights(weights, device="cpu", batch_size=2)
    seen = []
    batched = predictor.predict_batch(images, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 3), (3, 3)]
    for img, pred in zip(images, batched):
        single = predictor.predict(img)
        assert pred.probabilities == pytest.approx(single.probabilities, abs=1e-5)
        np.testing.assert_allclose(pred.small_maps["Mass"], single.small_maps["Mass"], atol=1e-5)
        assert pred.fpm().shape == (img.height, img.width)


def test_per_finding_maps_use_that_finding_as_p_label(weights):
    # With modulation on, the map of finding c is the FPM the model makes for p_label = c.
    predictor = Predictor.from_weights(weights, device="cpu")
    model = predictor.model
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        _, maps = model.finding_maps(x)
        feat = model.backbone.forward_loc(x)
        x_loc = model.backbone.norm(feat)
        for c in (0, 5):
            weights_c = torch.nn.functional.one_hot(torch.tensor([c]), 8).float()
            torch.testing.assert_close(maps[:, c], model.fpm_generator(x_loc, weights_c)[:, c])


def test_detail_size_in_the_metadata_reduces_large_films_first(tmp_path, weights):
    """A file run above the size it was trained at (detail_size): a large image reaches the
    model as its reduced copy does; a bad value is refused with a one-line message."""
    model = create_model("sr_vmamba_nano")
    rng = np.random.default_rng(2)
    film = XrayImage(rng.random((256, 256), dtype=np.float32))
    copy = XrayImage(film.pixels.reshape(64, 4, 64, 4).mean(axis=(1, 3)))  # area reduction by 4
    path = tmp_path / "detail.safetensors"
    torch.manual_seed(0)
    save_weights(model, path, {"class_names": CLASSES, "input_size": 96, "detail_size": 64})
    predictor = Predictor.from_weights(path, device="cpu")
    assert predictor.detail_size == 64
    a, b = predictor.predict(film), predictor.predict(copy)
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    np.testing.assert_allclose(a.small_maps["Mass"], b.small_maps["Mass"], atol=1e-5)
    assert (a.width, a.height) == (256, 256)  # maps still come back at the film's size
    plain = Predictor(model, {"class_names": CLASSES, "input_size": 96}, device="cpu").predict(film)
    assert plain.probabilities != pytest.approx(a.probabilities, abs=1e-5)
    for bad in (0, "64", 6.5, True):
        save_weights(model, path, {"class_names": CLASSES, "input_size": 96, "detail_size": bad})
        with pytest.raises(WeightsError, match=r"^detail\.safetensors: metadata detail_size must be"):
            Predictor.from_weights(path, device="cpu")


def test_device_resolution():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable GPU"):
            resolve_device("cuda")


def test_bundled_weights_warn_on_non_chest_pictures_and_not_on_a_chest_film(shared_data):
    meta = read_metadata(BUNDLED)
    assert meta["dtype"] == "float16" and meta["ood"]["percentile"] == 99.0
    predictor = Predictor.from_weights(BUNDLED, device="cpu")
    assert predictor.ood_reference is not None
    photo = read_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")  # a real photograph
    checkerboard = XrayImage(np.indices((512, 512)).sum(axis=0) // 32 % 2)
    # 00000072_000, not 00000032_037: that ICU film sits nearer the limit (0.88 and 0.91 of it).
    film, portrait, board = predictor.predict_batch([read_image(shared_data / "nih-demo" / "00000072_000.png"),
                                                     photo, checkerboard])
    assert film.warning is None and film.ood_ratio < 0.8
    for other in (portrait, board):
        assert other.ood_ratio > 1.15
        assert other.warning.startswith("not like the chest films this model was trained on (feature distance")
        assert len(other.probabilities) == 8  # results are still there


def test_cuda_graphs_are_ignored_on_the_cpu(weights):
    image = XrayImage(np.random.default_rng(3).random((300, 280), dtype=np.float32))
    graphed = Predictor.from_weights(weights, device="cpu", cuda_graphs=True)
    assert graphed._graphs is None
    plain = Predictor.from_weights(weights, device="cpu").predict(image)
    got = graphed.predict(image)
    assert got.probabilities == plain.probabilities
    np.testing.assert_array_equal(got.small_maps["Mass"], plain.small_maps["Mass"])


def test_a_graph_that_cannot_be_recorded_leaves_its_shape_eager(monkeypatch, caplog):
    from sr_core.predict import _GraphedForward

    graphs = _GraphedForward(lambda batch: (batch * 2,))
    tried = []

    def refuse(batch):
        tried.append(tuple(batch.shape))
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(graphs, "_record", refuse)
    with caplog.at_level("WARNING", logger="sr_core.predict"):
        for _ in range(2):
            (out,) = graphs(torch.ones(2, 3))
            assert torch.equal(out, torch.full((2, 3), 2.0))
    assert tried == [(2, 3)] and graphs.eager == {(2, 3)} and not graphs.graphs
    assert "not recorded (operation not permitted when stream is capturing)" in caplog.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graphs_give_the_eager_answer_cuda(weights):
    rng = np.random.default_rng(4)
    images = [XrayImage(rng.random((300 + 20 * i, 280), dtype=np.float32)) for i in range(3)]
    eager = Predictor.from_weights(weights, device="cuda", batch_size=2)
    graphed = Predictor.from_weights(weights, device="cuda", batch_size=2, cuda_graphs=True)
    want = eager.predict_batch(images) + [eager.predict(images[2])]
    got = graphed.predict_batch(images) + [graphed.predict(images[2])]  # shapes (2, ...), (1, ...), (1, ...)
    assert len(graphed._graphs.graphs) == 2 and not graphed._graphs.eager  # batches of two and of one
    for a, b in zip(got, want):  # earlier results are copies: later replays leave them as they were
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
        for c in CLASSES:
            np.testing.assert_allclose(a.small_maps[c], b.small_maps[c], atol=1e-6)
