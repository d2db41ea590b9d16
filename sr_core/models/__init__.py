"""SR models: a registry of named configurations over VMamba and ResNet backbones."""

from sr_core.models.localizer import SRHeadConfig, SRModel
from sr_core.models.registry import create_model, list_models, model_from_config, model_spec

__all__ = ["SRHeadConfig", "SRModel", "create_model", "list_models", "model_from_config", "model_spec"]
