"""Training data: a sampler whose order is a pure function of (seed, epoch), augmentation
seeded per (seed, epoch, sample), and the loaders built from the config.

Why not DistributedSampler and the workers' own RNG: a run must resume in the middle of an
epoch and see exactly the batches and augmentations it would have seen, with any number of
workers. So the sampler yields (epoch, index) keys; each worker seeds the augmentation of a
sample from that key, and resuming means skipping the batches already done.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sr_core.data.datasets import FolderDataset
from sr_core.data.layout import LayoutError
from sr_core.data.nih_import import patient_from_name
from sr_core.data.transforms import HorizontalFlip, IntensityJitter, Normalize, RandomCrop, Resize, ToTensor, train_transforms
from sr_core.train.config import ConfigError, TrainConfig


class EpochSampler(Sampler):
    """Shuffled (or class-balanced) order per epoch, sharded across ranks, resumable.

    Yields (epoch, index) keys. Every rank gets ceil(n / world) samples (the order wraps
    around to pad), so all ranks run the same number of steps.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, weights: np.ndarray | None = None,
                 draws: int | None = None):
        """n samples; with weights, `draws` of them (default n) are drawn per epoch with replacement;
        without, an epoch is `draws` samples of shuffled passes over all n."""
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.draws = n if draws is None else draws
        self.epoch = 0
        self.skip = 0
        self.per_rank = math.ceil(self.draws / world)

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        """Start `epoch`, leaving out the first `skip_samples` of this rank (resume)."""
        self.epoch, self.skip = epoch, skip_samples

    def order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if self.weights is not None:
            full = torch.multinomial(self.weights, self.draws, replacement=True, generator=g).tolist()
        else:
            full = []
            while len(full) < self.draws:
                full += torch.randperm(self.n, generator=g).tolist()
            full = full[: self.draws]
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
        pixels, label, _ = self.base[key[1]]  # base transform is the identity (numpy pixels)
        self.seed_for(key)
        return self.transform(pixels), label

    def seed_for(self, key: tuple[int, int]) -> None:
        """Seed the augmentation of sample key = (epoch, index): the same draws, wherever it runs."""
        epoch, index = key
        self.generator.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)


class DeviceAugmentedBatches:
    """AugmentedDataset's batches, made on the training device (``data.device_augment``).

    Why: a small model trained on a GPU spends its time decoding and augmenting images on the
    CPU (a lite0 run is CPU-bound, and parallel runs of a sweep share the cores). Here every
    image is read and resized once (the pipeline's deterministic Resize) into one device tensor;
    each batch's crops, flips and intensity changes are then tensor operations on the device,
    with parameters drawn by the same transform objects from the same per-sample seeds as the
    CPU path. So a batch equals the DataLoader's (up to float rounding), resuming mid-epoch
    works the same, and loader workers are not used. Memory: samples x (1.125 x size)^2 x 4
    bytes (about 0.8 GB for 2,400 images at 256 px); meant for datasets that fit.
    """

    def __init__(self, dataset: AugmentedDataset, sampler: EpochSampler, batch_size: int, device: torch.device):
        self.dataset, self.sampler, self.batch_size, self.device = dataset, sampler, batch_size, torch.device(device)
        steps = list(dataset.transform.transforms)
        kinds = [type(step) for step in steps]
        expected = [k for k in (Resize, RandomCrop, HorizontalFlip, IntensityJitter, ToTensor, Normalize) if k in kinds]
        if kinds != expected or kinds[-2:] != [ToTensor, Normalize] or kinds.count(Resize) != 1:
            raise ConfigError(f"data.device_augment cannot run this pipeline: {dataset.transform!r}")
        found = {type(step): step for step in steps}
        self.resize, self.crop = found[Resize], found.get(RandomCrop)
        self.flip, self.jitter = found.get(HorizontalFlip), found.get(IntensityJitter)
        self.channels = found[ToTensor].channels
        normalize: Normalize = found[Normalize]
        self.mean = torch.tensor(normalize.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(normalize.std, device=self.device).view(1, -1, 1, 1)
        self.bank: torch.Tensor | None = None  # filled on first use, after the trainer's verify()
        self.labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def load(self) -> None:
        """Read and resize every sample once (an unreadable one is replaced as in FolderDataset)."""
        base = self.dataset.base
        pixels, labels = [], []
        for index in range(len(base)):
            image, label, _ = base[index]
            pixels.append(torch.from_numpy(np.ascontiguousarray(self.resize(image))))
            labels.append(label)
        self.bank = torch.stack(pixels).to(self.device)
        self.labels = torch.as_tensor(labels, dtype=torch.long, device=self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.bank is None:
            self.load()
        keys = list(self.sampler)
        for start in range(0, len(keys) - self.batch_size + 1, self.batch_size):  # drop_last, as the loader
            yield self.batch(keys[start : start + self.batch_size])

    def batch(self, keys: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented (B, channels, size, size) batch and labels of these (epoch, index) keys."""
        assert self.bank is not None
        shape = tuple(self.bank.shape[1:])
        height, width = self.crop.size if self.crop is not None else shape
        draws = []
        for key in keys:  # the CPU path's draw order: crop, flip, intensity
            self.dataset.seed_for(key)
            top, left = self.crop.draw(shape) if self.crop is not None else (0, 0)
            flip = self.flip.draw() if self.flip is not None else False
            jitter = self.jitter.draw() if self.jitter is not None else (1.0, 1.0, 0.0)
            draws.append((key[1], top, left, flip, *jitter))
        index, top, left, flip = (torch.tensor([d[i] for d in draws], device=self.device) for i in range(4))
        gamma, factor, offset = (torch.tensor([d[i] for d in draws], dtype=torch.float32, device=self.device).view(-1, 1, 1)
                                 for i in range(4, 7))
        rows = top[:, None] + torch.arange(height, device=self.device)
        step = torch.arange(width, device=self.device)
        cols = left[:, None] + torch.where(flip.bool()[:, None], width - 1 - step, step)
        images = self.bank[index[:, None, None], rows[:, :, None], cols[:, None, :]]
        if self.jitter is not None:
            images = images.clamp(0.0, 1.0).pow(gamma)
            mean = images.mean(dim=(1, 2), keepdim=True)
            images = ((images - mean) * factor + mean + offset).clamp(0.0, 1.0)
        images = images.unsqueeze(1).expand(-1, self.channels, -1, -1)
        return (images - self.mean) / self.std, self.labels[index]


def class_balance_weights(targets: list[int], num_classes: int) -> np.ndarray:
    """Per-sample weights that make every class equally likely (empty classes get none)."""
    counts = np.bincount(np.asarray(targets), minlength=num_classes).astype(np.float64)
    per_class = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return per_class[np.asarray(targets)]


def patient_subset(fraction: float, seed: int) -> Callable[[Path], bool]:
    """Whether an image's patient is in the seeded `fraction` of patients (data.train_fraction).

    Each patient is kept when a hash of the seed and its id (NIH's name prefix,
    `patient_from_name`) falls below `fraction`: independent of which splits or files are
    scanned, so the labelled and the negative images of a patient go together, and with one
    seed a smaller fraction's patients are among a larger one's."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"data.train_fraction must be above 0 and at most 1, got {fraction}")

    def keep(path: Path) -> bool:
        digest = hashlib.sha256(f"{seed}:{patient_from_name(Path(path).stem)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < fraction * 2.0**64

    return keep


def with_negatives(
    base: FolderDataset, splits: list[str], fraction: float, weights: np.ndarray | None,
    keep: Callable[[Path], bool] | None = None,
) -> tuple[np.ndarray, int]:
    """Add the negative splits to `base` (with `keep`, the images it accepts); the sampling
    weights and draws per epoch that give negatives `fraction` of the draws while the
    positives keep their number and their relative weights (`weights`, e.g. class-balanced,
    or uniform)."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"data.negative_fraction must be between 0 and 1, got {fraction}")
    positives = len(base)
    for split in splits:
        try:
            base.add_negatives(split, keep)
        except LayoutError as exc:
            raise ConfigError(f"data.negative_splits: {exc} (--set data.negative_splits=[] trains without negatives)") from None
    pos = np.ones(positives) if weights is None else np.asarray(weights, dtype=np.float64)
    neg = np.full(len(base) - positives, fraction / (len(base) - positives))
    return np.concatenate([pos / pos.sum() * (1.0 - fraction), neg]), round(positives / (1.0 - fraction))


def _identity(pixels: np.ndarray) -> np.ndarray:
    return pixels


def build_train_loader(
    cfg: TrainConfig, root, mean, std, rank: int, world: int, pin_memory: bool, device: torch.device | None = None
) -> tuple[DataLoader | DeviceAugmentedBatches, EpochSampler, FolderDataset]:
    """The training batches: a DataLoader over worker processes, or with ``data.device_augment``
    the same batches made on ``device`` (DeviceAugmentedBatches)."""
    splits = cfg.data.train_splits
    if not splits:
        raise ConfigError("data.train_splits is empty: name at least one split to train on")
    base = FolderDataset(root, splits[0], transform=_identity)
    for split in splits[1:]:
        # Extra image-level splits (e.g. the import tool's patient-wise "val" when the boxes
        # split does model selection) join the first; class order is the first split's.
        base.extend(FolderDataset(root, split, transform=_identity, class_names=base.class_names))
    keep, full = None, len(base)
    if cfg.data.train_fraction != 1.0:
        keep = patient_subset(cfg.data.train_fraction, cfg.data.subset_seed)
        try:
            base.keep_only(keep)
        except LayoutError as exc:
            raise ConfigError(f"data.train_fraction={cfg.data.train_fraction}: {exc}") from None
    weights, draws = None, None
    if cfg.data.balance_classes:
        weights = class_balance_weights(base.targets, len(base.class_names))
    if cfg.data.negative_splits:
        weights, draws = with_negatives(base, cfg.data.negative_splits, cfg.data.negative_fraction, weights, keep)
    if keep is not None:
        # An epoch of a subset is as long as one of the full data, so every setting counted in
        # epochs (schedule, warm-up, ramps, evaluation) means the same steps at every fraction.
        draws = round(full / (1.0 - cfg.data.negative_fraction)) if cfg.data.negative_splits else full
    sampler = EpochSampler(len(base), cfg.train.seed, rank, world, weights, draws)
    dataset = AugmentedDataset(base, cfg, mean, std)
    if cfg.data.device_augment:
        return DeviceAugmentedBatches(dataset, sampler, cfg.train.batch_size, device or torch.device("cpu")), sampler, base
    workers = cfg.data.workers
    loader = DataLoader(
        dataset,
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
