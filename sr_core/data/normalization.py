"""Input normalisation statistics: the data's property, which models and transforms import.

A grey X-ray is replicated to 3 channels and normalised per channel as (x - mean) / std. The
models' registry names the statistics each configuration was trained with (timm's direction:
models import from data, never data from models); a weights file carries them in its config.
"""

from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Default normalisation: ImageNet statistics, as the SR paper's training (sr_core/README.md#method)."""

TF_LITE_MEAN = (0.5, 0.5, 0.5)
TF_LITE_STD = (0.5, 0.5, 0.5)
"""EfficientNet-Lite's ImageNet normalisation: (x - 127) / 128 (TensorFlow's lite builder)."""
