"""Training data: a sampler whose order is a pure function of (seed, epoch), augmentation
seeded per (seed, epoch, sample), and the loaders built from the config.

Why not DistributedSampler and the workers' own RNG: a run must resume in the middle of an
epoch and see exactly the batches and augmentations it would have seen, with any number of
workers. So the sampler yields (epoch, index) keys; each worker seeds the augmentation of a
sample from that key, and resuming means skipping the batches already done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sr_core.data.datasets import FolderDataset
from sr_core.data.transforms import train_transforms
from sr_core.train.config import ConfigError, TrainConfig


class EpochSampler(Sampler):
    """Shuffled (or class-balanced) order per epoch, sharded across ranks, resumable.

    Yields (epoch, index) keys. Every rank gets ceil(n / world) samples (the order wraps
    around to pad), so all ranks run the same number of steps.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, weights: np.ndarray | None = None):
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.epoch = 0
        self.skip = 0
        self.per_rank = math.ceil(n / world)

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        """Start `epoch`, leaving out the first `skip_samples` of this rank (resume)."""
        self.epoch, self.skip = epoch, skip_samples

    def order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.weights is not None:
            full = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        else:
            full = torch.randperm(self.n, generator=g)
        full = full.tolist()
        total = self.per_rank * self.world
        full = (full * math.ceil(total / len(full)))[:total]
        return full[self.rank :: self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.order(self.epoch)[self.skip :]:
            yield self.epoch, index

    def __len__(self) -> int:
        return self.per_rank - self.skip


class AugmentedDataset(Dataset):
    """Reads a FolderDataset image and augments it with a generator seeded by (seed, epoch, index)."""

    def __init__(self, base: FolderDataset, cfg: TrainConfig, mean, std):
        self.base = base
        self.seed = cfg.train.seed
        self.generator = torch.Generator()
        aug = cfg.augment
        self.transform = train_transforms(cfg.data.input_size, mean, std, generator=self.generator,
                                          crop=aug.crop, flip=aug.flip, intensity=aug.intensity)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, index = key
        pixels, label, _ = self.base[index]  # base transform is the identity (numpy pixels)
        self.generator.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
        return self.transform(pixels), label


def class_balance_weights(targets: list[int], num_classes: int) -> np.ndarray:
    """Per-sample weights that make every class equally likely (empty classes get none)."""
    counts = np.bincount(np.asarray(targets), minlength=num_classes).astype(np.float64)
    per_class = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return per_class[np.asarray(targets)]


def _identity(pixels: np.ndarray) -> np.ndarray:
    return pixels


def build_train_loader(
    cfg: TrainConfig, root, mean, std, rank: int, world: int, pin_memory: bool
) -> tuple[DataLoader, EpochSampler, FolderDataset]:
    splits = cfg.data.train_splits
    if not splits:
        raise ConfigError("data.train_splits is empty: name at least one split to train on")
    base = FolderDataset(root, splits[0], transform=_identity)
    for split in splits[1:]:
        # Extra image-level splits (e.g. the import tool's patient-wise "val" when the boxes
        # split does model selection) join the first; class order is the first split's.
        base.extend(FolderDataset(root, split, transform=_identity, class_names=base.class_names))
    weights = class_balance_weights(base.targets, len(base.class_names)) if cfg.data.balance_classes else None
    sampler = EpochSampler(len(base), cfg.train.seed, rank, world, weights)
    workers = cfg.data.workers
    loader = DataLoader(
        AugmentedDataset(base, cfg, mean, std),
        batch_size=cfg.train.batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        drop_last=True,
        prefetch_factor=4 if workers > 0 else None,
        # Workers' base seeds come from here, not from the global RNG, so creating an
        # iterator never shifts the model's random stream (resume stays bit-identical).
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )
    return loader, sampler, base
