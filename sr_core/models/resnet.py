"""ResNet backbone (bottleneck blocks), written here so nothing depends on torchvision.

Split at the SR seam as is usual for weakly supervised localization: layer4 keeps stride 1,
so `forward_loc` (stem + layers 1-3) and `stage4` (layer4) both work at stride 16 and the
foreground map is twice as fine as the VMamba one (16x16 at 256 px).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ResNetConfig:
    """Hyper-parameters of a bottleneck ResNet."""

    layers: list[int] = field(default_factory=lambda: [3, 4, 6, 3])
    width: int = 64


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Bottleneck ResNet with the SR seam between layer3 and layer4 (all channels-first).

    Implements `sr_core.models.seam.PretrainedBackbone`.
    """

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        w = cfg.width
        self.stem = nn.Sequential(
            nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        in_ch = w
        layers = []
        for i, (blocks, stride) in enumerate(zip(cfg.layers, (1, 2, 2, 1))):
            planes = w * 2**i
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck(in_ch, planes, stride if j == 0 else 1))
                in_ch = planes * Bottleneck.expansion
            layers.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*layers[:3])
        self.stage4 = layers[3]
        self.norm = nn.Identity()
        self.loc_channels = w * 4 * 4
        self.out_channels = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)  # each residual branch starts as identity

    def forward_loc(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def pretrained_names(self) -> dict[str, str]:
        """{name in a torchvision or timm ResNet state dict: name here} for every tensor here.

        Both libraries name a ResNet-50 alike (torchvision's `resnet50-*.pth`, timm's
        `resnet50.*` files): the stem is `conv1` / `bn1`, the stages `layer1`..`layer4`, and
        inside them the blocks carry the names used here (`0.conv1`, `0.bn1`, ...,
        `0.downsample.0`). Only the stage prefixes move (`stem.0` / `stem.1`, `layers.0-2`,
        `stage4`); layer4's first block keeps stride 1 here, which changes no shape. The
        ImageNet classifier `fc` has no counterpart and stays unexpected.
        """
        names = {"conv1.weight": "stem.0.weight"}
        names.update({f"bn1.{k}": f"stem.1.{k}" for k in self.stem[1].state_dict()})
        for i, stage in enumerate([*self.layers, self.stage4]):
            ours = f"layers.{i}" if i < 3 else "stage4"
            names.update({f"layer{i + 1}.{k}": f"{ours}.{k}" for k in stage.state_dict()})
        return names
