"""Small callable transforms for grey chest X-rays (MONAI style), numpy/cv2 then torch.

Every transform takes and returns a float32 HxW array in [0, 1] until ``ToTensor`` makes a
3xHxW tensor (the grey image replicated to 3 channels) and ``Normalize`` applies the
ImageNet mean/std (the SR paper's training, sr_core/README.md#method).

Randomness and reproducibility: the random transforms draw from torch's RNG, from the
``generator`` given to them or, by default, from the global one. DataLoader seeds torch's
RNG in each worker from the main process's RNG (base seed + worker id), so calling
``torch.manual_seed(seed)`` before building the loader's iterator makes every epoch's
augmentations reproducible for a given ``num_workers`` without a ``worker_init_fn``
(numpy's global RNG, which DataLoader does not reseed, is never used). Pass a seeded
``torch.Generator`` for reproducibility outside a DataLoader, e.g. in tests; leave it None
under DataLoader workers (each worker would get a copy of it and repeat the same draws).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD

TRAIN_RESIZE_MARGIN = 1.125
"""Training resizes to size x 1.125 (288 for 256) and crops back to size at random."""


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) from an int (square) or a (height, width) pair."""
    if isinstance(size, int):
        height = width = size
    else:
        height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size}")
    return height, width


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


class LimitDetail:
    """Reduce an image to at most ``size`` pixels along each axis (area interpolation); an image
    that is not larger passes unchanged.

    For weights run at a test-time input size above the size of the images they were trained
    and scored on (the default: 288 px inputs, NIH's 256 px copies): a 1024 px film is first
    reduced to 256, as those copies were made, then enlarged to 288 as they are, so the model
    sees the film as it saw the copies its figures were measured on (benchmarks/resolution.py).
    """

    def __init__(self, size: int):
        if int(size) < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = int(size)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        height, width = image.shape[:2]
        return _resize(image, min(height, self.size), min(width, self.size))

    def __repr__(self) -> str:
        return f"LimitDetail({self.size})"


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, data):
        for transform in self.transforms:
            data = transform(data)
        return data

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class Resize:
    """Resize to ``size`` (an int gives a square; area interpolation when shrinking)."""

    def __init__(self, size: int | Sequence[int]):
        self.size = _pair(size)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return _resize(np.asarray(image, dtype=np.float32), *self.size)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class RandomCrop:
    """Crop a ``size`` window at a random position (the image must be at least that large)."""

    def __init__(self, size: int | Sequence[int], generator: torch.Generator | None = None):
        self.size = _pair(size)
        self.generator = generator

    def draw(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """(top, left) of the window in an image of ``shape``: the random part, apart from the pixels."""
        height, width = self.size
        if shape[0] < height or shape[1] < width:
            raise ValueError(f"RandomCrop{self.size} needs an image at least that large, got {tuple(shape)}")
        top = int(torch.randint(shape[0] - height + 1, (), generator=self.generator))
        left = int(torch.randint(shape[1] - width + 1, (), generator=self.generator))
        return top, left

    def __call__(self, image: np.ndarray) -> np.ndarray:
        top, left = self.draw(image.shape)
        height, width = self.size
        return np.ascontiguousarray(image[top : top + height, left : left + width])

    def __repr__(self) -> str:
        return f"RandomCrop({self.size})"


class RandomResizedCropLite:
    """Crop a random area fraction and aspect ratio, then resize to ``size``.

    Milder than torchvision's defaults: a chest X-ray crop must keep most of the thorax.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.7, 1.0),
        ratio: tuple[float, float] = (0.9, 1.1),
        generator: torch.Generator | None = None,
    ):
        self.size = _pair(size)
        self.scale = scale
        self.ratio = ratio
        self.generator = generator

    def __call__(self, image: np.ndarray) -> np.ndarray:
        full_h, full_w = image.shape[:2]
        area = _uniform(*self.scale, self.generator) * full_h * full_w
        log_ratio = _uniform(np.log(self.ratio[0]), np.log(self.ratio[1]), self.generator)
        aspect = float(np.exp(log_ratio))
        crop_w = int(round(min(full_w, np.sqrt(area * aspect))))
        crop_h = int(round(min(full_h, np.sqrt(area / aspect))))
        crop_w, crop_h = max(1, crop_w), max(1, crop_h)
        top = int(torch.randint(full_h - crop_h + 1, (), generator=self.generator))
        left = int(torch.randint(full_w - crop_w + 1, (), generator=self.generator))
        crop = np.asarray(image[top : top + crop_h, left : left + crop_w], dtype=np.float32)
        return _resize(crop, *self.size)

    def __repr__(self) -> str:
        return f"RandomResizedCropLite({self.size}, scale={self.scale}, ratio={self.ratio})"


class HorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        self.p = p
        self.generator = generator

    def draw(self) -> bool:
        """Whether to mirror: the random part, apart from the pixels."""
        return float(torch.rand((), generator=self.generator)) < self.p

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[:, ::-1]) if self.draw() else image

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


class IntensityJitter:
    """Mild brightness, contrast and gamma changes, clipped to [0, 1].

    Args:
        brightness: the added offset is drawn from [-brightness, brightness].
        contrast: the contrast factor (about the image mean) from [1 - contrast, 1 + contrast].
        gamma: the exponent range.
    """

    def __init__(
        self,
        brightness: float = 0.08,
        contrast: float = 0.1,
        gamma: tuple[float, float] = (0.85, 1.15),
        generator: torch.Generator | None = None,
    ):
        self.brightness = brightness
        self.contrast = contrast
        self.gamma = gamma
        self.generator = generator

    def draw(self) -> tuple[float, float, float]:
        """(gamma, contrast factor, offset): the random part, apart from the pixels."""
        gamma = _uniform(*self.gamma, self.generator)
        factor = _uniform(1 - self.contrast, 1 + self.contrast, self.generator)
        offset = _uniform(-self.brightness, self.brightness, self.generator)
        return gamma, factor, offset

    def __call__(self, image: np.ndarray) -> np.ndarray:
        gamma, factor, offset = self.draw()
        out = np.power(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0), np.float32(gamma))
        mean = float(out.mean())
        out = (out - mean) * np.float32(factor) + np.float32(mean + offset)
        return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"IntensityJitter(brightness={self.brightness}, contrast={self.contrast}, gamma={self.gamma})"


class ToTensor:
    """HxW float array in [0, 1] -> ``channels``xHxW float32 tensor (grey replicated)."""

    def __init__(self, channels: int = 3):
        self.channels = channels

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2:
            raise ValueError(f"ToTensor expects a grey HxW image, got shape {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        return tensor.unsqueeze(0).expand(self.channels, -1, -1).contiguous()

    def __repr__(self) -> str:
        return f"ToTensor(channels={self.channels})"


class Normalize:
    """(tensor - mean) / std per channel (ImageNet statistics by default)."""

    def __init__(
        self, mean: Sequence[float] | None = IMAGENET_MEAN, std: Sequence[float] | None = IMAGENET_STD
    ):
        # None means the default, so callers can pass optional metadata straight through.
        self.mean = tuple(float(m) for m in (IMAGENET_MEAN if mean is None else mean))
        self.std = tuple(float(s) for s in (IMAGENET_STD if std is None else std))

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return (tensor - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


def train_transforms(
    size: int = 256,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    generator: torch.Generator | None = None,
    crop: bool = True,
    flip: bool = True,
    intensity: bool = True,
) -> Compose:
    """Training pipeline: resize to size x 1.125 and random crop back to size (or resize to
    size when crop is off), horizontal flip, mild intensity jitter; each step switchable."""
    steps: list[Callable] = (
        [Resize(int(round(size * TRAIN_RESIZE_MARGIN))), RandomCrop(size, generator=generator)] if crop else [Resize(size)]
    )
    if flip:
        steps.append(HorizontalFlip(0.5, generator=generator))
    if intensity:
        steps.append(IntensityJitter(generator=generator))
    return Compose(steps + [ToTensor(), Normalize(mean, std)])


def eval_transforms(
    size: int | None = 256,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    detail_size: int | None = None,
) -> Compose:
    """Evaluation pipeline: resize to size x size (None keeps the image size), normalise.

    ``mean``/``std`` None give the ImageNet statistics (as for every pipeline here).
    ``detail_size``: first reduce larger images to at most that many pixels an axis
    (`LimitDetail`; a weights file's metadata "detail_size").
    """
    steps: list[Callable] = [] if detail_size is None else [LimitDetail(detail_size)]
    steps += [] if size is None else [Resize(size)]
    return Compose(steps + [ToTensor(), Normalize(mean, std)])
