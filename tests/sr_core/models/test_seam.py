"""Every registered backbone implements the seam the SR head needs (sr_core.models.seam)."""

import sys

import pytest
import torch

from sr_core.models import Backbone, PretrainedBackbone, create_model, list_models, model_spec

# Small settings, so each model builds and runs in a moment; the seam does not depend on depth.
FAST = {"vmamba": {"depths": [1, 1, 1, 1]}, "resnet": {"layers": [1, 1, 1, 1]}}
STRIDE = {"vmamba": 32, "resnet": 16, "efficientnet": 16, "hybrid": 16}


def implements(obj, protocol) -> bool:
    """isinstance against a runtime-checkable Protocol. From Python 3.12 isinstance looks members
    up statically and so misses an nn.Module's submodules (kept in its _modules): check by hasattr."""
    if sys.version_info < (3, 12):
        return isinstance(obj, protocol)
    return all(hasattr(obj, name) for name in protocol.__protocol_attrs__)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_backbone_implements_the_seam_with_its_shapes(name):
    kind = model_spec(name).backbone
    backbone = create_model(name, **FAST.get(kind, {})).backbone.eval()
    assert implements(backbone, Backbone)
    assert implements(backbone, PretrainedBackbone)
    size = 64
    with torch.no_grad():
        feat = backbone.forward_loc(torch.randn(2, 3, size, size))
        top = backbone.stage4(feat)
        h = size // STRIDE[kind]
        assert feat.shape == (2, backbone.loc_channels, h, h)
        assert top.shape == (2, backbone.out_channels, h, h)
        assert backbone.norm(feat).shape == feat.shape
        assert backbone.norm(top).shape == top.shape


def test_an_object_without_the_seam_is_not_a_backbone():
    assert not implements(torch.nn.Linear(2, 2), Backbone)
