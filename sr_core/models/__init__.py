"""SR models: a registry of named configurations over VMamba, ResNet, EfficientNet-Lite and
hybrid backbones, each implementing the seam the SR head needs (`seam.Backbone`)."""

from sr_core.models.localizer import SRHeadConfig, SRModel
from sr_core.models.registry import create_model, list_models, model_from_config, model_spec
from sr_core.models.seam import Backbone, PretrainedBackbone

__all__ = [
    "Backbone",
    "PretrainedBackbone",
    "SRHeadConfig",
    "SRModel",
    "create_model",
    "list_models",
    "model_from_config",
    "model_spec",
]
