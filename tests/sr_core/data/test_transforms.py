"""sr_core.data.transforms: seeded random transforms, flip and jitter, the eval defaults."""

import numpy as np
import torch

from sr_core.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    HorizontalFlip,
    IntensityJitter,
    LimitDetail,
    RandomResizedCropLite,
    eval_transforms,
    train_transforms,
)


def test_random_transforms_are_reproducible_with_a_seed():
    image = np.random.default_rng(0).random((60, 50), dtype=np.float32)
    pipeline = train_transforms(32)
    outputs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        outputs.append(torch.stack([pipeline(image) for _ in range(4)]))
    assert outputs[0].shape == (4, 3, 32, 32)
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    crop = RandomResizedCropLite(24, generator=torch.Generator().manual_seed(3))
    again = RandomResizedCropLite(24, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(crop(image), again(image)) and crop(image).shape == (24, 24)


def test_flip_and_jitter_do_what_they_say():
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(HorizontalFlip(p=1.0)(image), image[:, ::-1])
    assert HorizontalFlip(p=0.0)(image) is image
    jittered = IntensityJitter(generator=torch.Generator().manual_seed(0))(image)
    assert jittered.dtype == np.float32 and jittered.min() >= 0 and jittered.max() <= 1
    assert 0 < np.abs(jittered - image).max() < 0.35


def test_eval_transforms_default_to_imagenet_statistics_when_given_none():
    image = np.full((20, 30), 0.5, dtype=np.float32)
    tensor = eval_transforms(16, None, None)(image)
    assert tensor.shape == (3, 16, 16)
    expected = [(0.5 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(tensor[:, 0, 0], torch.tensor(expected), atol=1e-5)


def test_limit_detail_reduces_only_what_is_larger_and_runs_before_the_resize():
    rng = np.random.default_rng(1)
    film = rng.random((64, 48), dtype=np.float32)
    reduced = LimitDetail(16)(film)
    # Area interpolation by an integer factor: each output pixel is the mean of its 4x3 block.
    np.testing.assert_allclose(reduced, film.reshape(16, 4, 16, 3).mean(axis=(1, 3)), atol=1e-6)
    wide = rng.random((12, 20), dtype=np.float32)
    assert LimitDetail(16)(wide).shape == (12, 16)  # only the axis above the size is reduced
    assert np.array_equal(LimitDetail(32)(wide), wide)
    # The film through the detail size gives what its reduced copy gives; without it, something else.
    via = eval_transforms(24, None, None, detail_size=16)
    assert torch.allclose(via(film), eval_transforms(24, None, None)(reduced))
    assert not torch.allclose(eval_transforms(24, None, None)(film), via(film))
    # An image not larger than the detail size runs exactly as without it.
    assert torch.equal(eval_transforms(24, None, None, detail_size=16)(film[:16, :16]),
                       eval_transforms(24, None, None)(film[:16, :16]))
