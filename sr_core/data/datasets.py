"""torch Datasets over the NIH folder layout: image-level classification and localization.

``FolderDataset`` serves ROOT/<split>/<Finding>/<image> as (tensor, label, index) for
training; ``LocalizationSet`` serves the test split joined with test_list.txt and
test_gt.txt for evaluation. Images are read with ``sr_core.io.read_image``.

Unreadable images (``skip_unreadable=True``, the default): a file that fails to read is
logged as a warning, recorded in ``failed`` as (path, message), remembered as bad and
replaced by the next readable sample, so one bad file never stops an epoch. With DataLoader
workers, ``failed`` is filled in the worker processes and the main process does not see it:
call ``verify()`` first for an authoritative count (it reads every image once, in this
process, and drops the unreadable ones from ``samples``); the trainer then decides whether
``failure_fraction`` is fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from sr_core.data.layout import LayoutError, find_class_names, read_localization_rows, scan_split
from sr_core.data.transforms import eval_transforms
from sr_core.io import ImageReadError, read_image

log = logging.getLogger(__name__)

Transform = Callable[[np.ndarray], torch.Tensor]


NEGATIVE = -1
"""The label of a training image that shows none of the classes (``FolderDataset.add_negatives``)."""


class FolderDataset(Dataset):
    """Images of ``ROOT/<split>/<Finding>/`` with the folder's class index as label.

    Args:
        root: dataset root.
        split: "train", "val" or "test".
        transform: HxW float32 [0, 1] -> 3xHxW tensor; default ``eval_transforms(None)``
            (no resize, ImageNet normalisation).
        class_names: class order; default the sorted folders of ROOT/train.
        skip_unreadable: replace an unreadable image by the next readable one (and record
            it) instead of raising ``ImageReadError``.

    Attributes:
        class_names: list of finding names; label i is class_names[i].
        samples: [(path, label)] in a stable order (finding, then file name).
        targets: the labels of ``samples``.
        failed: [(path, message)] of the images found unreadable so far in this process.

    Raises:
        LayoutError: the split folder is missing, has no images, or a folder unknown to
            class_names.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        class_names: list[str] | None = None,
        skip_unreadable: bool = True,
    ):
        self.root = Path(root)
        self.split = split
        self.class_names, self.samples = scan_split(self.root, split, class_names)
        if not self.samples:
            raise LayoutError(f"{self.root / split} has no images")
        self.targets = [label for _, label in self.samples]
        self.transform = transform if transform is not None else eval_transforms(None)
        self.skip_unreadable = skip_unreadable
        self.failed: list[tuple[Path, str]] = []
        self._bad: set[int] = set()
        self._total = len(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def extend(self, other: FolderDataset) -> None:
        """Append another split's samples (e.g. train + the import's label-only val split).

        Raises:
            LayoutError: the two datasets order their classes differently.
        """
        if other.class_names != self.class_names:
            raise LayoutError(f"{other.root / other.split}: classes {other.class_names} differ from {self.class_names}")
        self.samples += other.samples
        self.targets += other.targets
        self._total += len(other.samples)
        self.split = f"{self.split}+{other.split}"

    def keep_only(self, keep: Callable[[Path], bool]) -> int:
        """Drop the samples whose image path ``keep`` rejects (before any image is read).
        Returns how many are left.

        Raises:
            LayoutError: none is left.
        """
        self.samples = [s for s in self.samples if keep(Path(s[0]))]
        self.targets = [label for _, label in self.samples]
        self._total = len(self.samples)
        if not self.samples:
            raise LayoutError(f"{self.root / self.split}: no image is left in the subset")
        return len(self.samples)

    def add_negatives(self, split: str, keep: Callable[[Path], bool] | None = None) -> int:
        """Append the images of ``ROOT/<split>/<any folder>/`` as negatives (label NEGATIVE):
        images that show none of the classes, e.g. NIH's No Finding; with ``keep``, only the
        paths it accepts. Returns how many.

        Raises:
            LayoutError: the split folder is missing or has no images (left).
        """
        _, found = scan_split(self.root, split, find_class_names(self.root, split))
        if keep is not None:
            found = [s for s in found if keep(Path(s[0]))]
        if not found:
            raise LayoutError(f"{self.root / split} has no images" + (" in the subset" if keep is not None else ""))
        self.samples += [(path, NEGATIVE) for path, _ in found]
        self.targets += [NEGATIVE] * len(found)
        self._total += len(found)
        self.split = f"{self.split}+{split}(negatives)"
        return len(found)

    @property
    def negative_count(self) -> int:
        """Number of negative samples (label NEGATIVE)."""
        return sum(1 for t in self.targets if t == NEGATIVE)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """(image tensor, label, index of the sample actually returned)."""
        if not self.skip_unreadable:
            path, label = self.samples[index]
            return self.transform(read_image(path).pixels), label, index
        for step in range(len(self.samples)):
            i = (index + step) % len(self.samples)
            if i in self._bad:
                continue
            path, label = self.samples[i]
            try:
                pixels = read_image(path).pixels
            except ImageReadError as error:
                self._record_failure(i, error)
                continue
            return self.transform(pixels), label, i
        raise LayoutError(f"no readable image left in {self.root / self.split}")

    def _record_failure(self, index: int, error: ImageReadError) -> None:
        path = self.samples[index][0]
        self._bad.add(index)
        self.failed.append((path, str(error)))
        log.warning("skipping unreadable training image: %s", error)

    def verify(self, progress: bool = False) -> list[tuple[Path, str]]:
        """Read every image once and drop the unreadable ones from ``samples``.

        Returns:
            ``failed``: every (path, message) found unreadable so far.
        """
        items = tqdm(range(len(self.samples)), desc=f"check {self.split}", disable=not progress)
        for i in items:
            if i in self._bad:
                continue
            try:
                read_image(self.samples[i][0])
            except ImageReadError as error:
                self._record_failure(i, error)
        self.samples = [s for i, s in enumerate(self.samples) if i not in self._bad]
        self.targets = [label for _, label in self.samples]
        self._bad = set()
        if not self.samples:
            raise LayoutError(f"no readable image in {self.root / self.split}")
        return self.failed

    @property
    def failure_fraction(self) -> float:
        """Unreadable images found so far / images listed at construction."""
        return len(self.failed) / self._total

    def class_counts(self) -> list[int]:
        """Number of samples per class, in class order (negatives not counted)."""
        targets = np.asarray(self.targets, dtype=np.int64)
        counts = np.bincount(targets[targets >= 0], minlength=len(self.class_names))
        return [int(c) for c in counts]


@dataclass
class LocalizationSample:
    """One test image with the finding it is listed under and its ground-truth boxes.

    Attributes:
        path: the image file.
        finding: the class label from test_list.txt.
        label: index of ``finding`` in the dataset's class_names.
        image: float32 HxW in [0, 1], as stored on disk.
        boxes: float32 (n, 4) xyxy in the pixels of ``image`` (scaled from test_gt's frame).
        original_size: (W, H) of the frame test_gt.txt gives the boxes in.
        tensor: ``transform(image)`` when the set has a transform, else None.
    """

    path: Path
    finding: str
    label: int
    image: np.ndarray
    boxes: np.ndarray
    original_size: tuple[int, int]
    tensor: torch.Tensor | None = None


class LocalizationSet(Dataset):
    """A split with boxes (by default the test split: ROOT/test images listed in test_list.txt
    with test_gt.txt boxes).

    Rows whose image is missing, whose label is not a class, or that have no GT box are
    skipped and described in ``problems`` (with the parsers' problems); see
    ``layout.read_localization_rows``. Unreadable images raise ``ImageReadError`` from
    ``__getitem__``: the evaluator reports them. Items are ``LocalizationSample``; with a
    DataLoader pass ``collate_fn=list``.

    Args:
        root: dataset root.
        transform: optional HxW -> tensor transform (fills ``LocalizationSample.tensor``).
        class_names: class order; default the folders of ROOT/train, else the labels of the list.
        split: the split (``<split>_list.txt``, ``<split>_gt.txt``, ``ROOT/<split>/``).

    Raises:
        LayoutError: the list or box file is missing, or no row is usable.
    """

    def __init__(
        self, root: str | Path, transform: Transform | None = None, class_names: list[str] | None = None,
        split: str = "test",
    ):
        self.found = read_localization_rows(root, split, class_names)
        self.root, self.split, self.transform = self.found.root, split, transform
        self.class_names, self.rows, self.gt = self.found.class_names, self.found.rows, self.found.gt
        self.problems = self.found.problems

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> LocalizationSample:
        row = self.rows[index]
        path = self.found.image_path(row)
        image = read_image(path)
        entry = self.gt[(row.finding, row.file)]
        boxes = np.asarray(entry.boxes_at(image.width, image.height), dtype=np.float32).reshape(-1, 4)
        tensor = self.transform(image.pixels) if self.transform is not None else None
        return LocalizationSample(
            path=path,
            finding=row.label,
            label=self.class_names.index(row.label),
            image=image.pixels,
            boxes=boxes,
            original_size=(entry.width, entry.height),
            tensor=tensor,
        )
