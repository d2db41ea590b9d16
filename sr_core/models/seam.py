"""The backbone seam: what the SR head needs of a backbone, as a Protocol.

The SR head (sr_core.models.localizer) splits a backbone where the method takes x_loc, the
features its foreground map is built from (sr_core/README.md#method). A backbone implements
`Backbone` structurally, without inheriting from it: VMamba, ResNet, EfficientNet-Lite and the
hybrid do, and a new one is checked by the type checker and by tests/sr_core/models/test_seam.py.

    images -> forward_loc -> feat --norm--> x_loc            (FPM branch, loc_channels)
                              feat -> stage4 -> norm -> CAMs  (CAM head, out_channels)

The head also runs `stage4` and `norm` with frozen weights on masked features (the foreground
control loss), so they must be modules of their own, not code inside a forward method.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Backbone(Protocol):
    """A backbone split at the SR seam; every map is channels-first (N, C, h, w).

    Attributes:
        stage4: the last stage, feat -> (N, out_channels, h', w').
        norm: applied to both feat and stage4's output (so a LayerNorm needs
            loc_channels == out_channels; an Identity takes any widths).
        loc_channels: channels of forward_loc's output, the FPM generator's input.
        out_channels: channels of stage4's output, the CAM head's input.
    """

    stage4: nn.Module
    norm: nn.Module
    loc_channels: int
    out_channels: int

    def forward_loc(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, loc_channels, h, w) features at the seam."""
        ...


@runtime_checkable
class PretrainedBackbone(Backbone, Protocol):
    """A backbone that can start from published weights (sr_core.models.pretrained)."""

    def pretrained_names(self) -> dict[str, str]:
        """{name in the published state dict: name here} for every tensor both have."""
        ...
