"""Box-only baselines, scored by sr_core.evaluation.scoring into the same report as a model.

class-prior: for each finding, the mean ground-truth box of that finding, predicted for every
(image, finding) row of that finding (the GT-known setting) and scaled to the image. Each GT
box is normalised by its own image's size (x0/W, y0/H, x1/W, y1/H) before averaging; the mean
of (x/W, y/H, w/W, h/H) is the same box. By default the mean is taken over the evaluated rows
themselves (an optimistic reference: fitted and scored on one set); ``prior_from`` takes it
from another box file instead.

whole-image: one box around the whole image for every row: what a map that lights up
everything scores (GT-known at IoU>T then only rewards large GT boxes).

Rows are scored in the frame of the box file (the original W x H of each image): IoU and IoBB
do not change when an axis is scaled, so the numbers are those at any stored size, and no
image is read. There is no classifier and no map, so classification, top-1 localisation,
MaxBoxAccV2 and the threshold curves are None in the report. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sr_core.boxes import FloatBox
from sr_core.data.layout import GtEntry, LayoutError, LocalizationRows, read_localization_rows, read_test_gt
from sr_core.evaluation.scoring import Evaluation, ScoredRow, describe, score

CLASS_PRIOR = "class-prior"
WHOLE_IMAGE = "whole-image"
BASELINES = (CLASS_PRIOR, WHOLE_IMAGE)


@dataclass(frozen=True)
class PriorBox:
    """The mean box of one finding as fractions of the image: (x0, y0, x1, y1) / (W, H, W, H).

    Attributes:
        n_boxes: how many ground-truth boxes the mean is over.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    n_boxes: int

    def at(self, width: float, height: float) -> FloatBox:
        """The box in the pixels of a width x height image."""
        return (self.x0 * width, self.y0 * height, self.x1 * width, self.y1 * height)

    def as_json(self) -> dict:
        """``{"x", "y", "w", "h"}`` as fractions of the image, and ``n_boxes``."""
        return {"x": self.x0, "y": self.y0, "w": self.x1 - self.x0, "h": self.y1 - self.y0, "n_boxes": self.n_boxes}


def mean_boxes(entries: Iterable[tuple[str, GtEntry]]) -> dict[str, PriorBox]:
    """The mean normalised box of each finding over every box of its entries.

    Args:
        entries: (finding, GtEntry) pairs; an entry with several boxes gives each one a vote.

    Returns:
        {finding: PriorBox}, findings sorted.
    """
    normalised: dict[str, list[tuple[float, ...]]] = {}
    for finding, entry in entries:
        scale = (entry.width, entry.height) * 2
        normalised.setdefault(finding, []).extend(tuple(v / s for v, s in zip(box, scale)) for box in entry.boxes)
    return {finding: PriorBox(*np.mean(boxes, axis=0).tolist(), n_boxes=len(boxes))
            for finding, boxes in sorted(normalised.items()) if boxes}


def prior_from_rows(found: LocalizationRows) -> dict[str, PriorBox]:
    """Mean boxes over the GT boxes of the rows themselves (each row's label)."""
    return mean_boxes((row.label, found.gt[(row.finding, row.file)]) for row in found.rows)


def prior_from_gt_file(path: str | Path) -> tuple[dict[str, PriorBox], list[str]]:
    """Mean boxes of a test_gt.txt-style file, the finding being each line's folder.

    Returns:
        ({finding: PriorBox}, the parser's problems).

    Raises:
        LayoutError: the file is missing or holds no usable box.
    """
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path} not found: the class prior needs a test_gt.txt-style box file")
    entries, problems = read_test_gt(path)
    prior = mean_boxes((finding, entry) for (finding, _), entry in entries.items())
    if not prior:
        raise LayoutError(f"{path}: no usable box line ('<Finding>/<file> <W> <H>;<x0> <y0> <x1> <y1>')")
    return prior, problems


def class_prior_rows(found: LocalizationRows, prior: dict[str, PriorBox]) -> list[ScoredRow]:
    """Every row predicted by its finding's prior box, at the row's image size.

    Raises:
        ValueError: the prior has no box for a finding of the rows.
    """
    missing = sorted({row.label for row in found.rows} - set(prior))
    if missing:
        raise ValueError(f"the class prior has no box of {', '.join(missing)}")
    rows = []
    for row in found.rows:
        entry = found.gt[(row.finding, row.file)]
        rows.append(ScoredRow(image=row.file, finding=row.label, gt_boxes=list(entry.boxes),
                              pred_boxes=[prior[row.label].at(entry.width, entry.height)],
                              threshold=None, probabilities=None))
    return rows


def class_prior_evaluation(root: str | Path, split: str = "test", prior_from: str | Path | None = None) -> Evaluation:
    """Score the class-prior baseline on a split with boxes.

    Args:
        root: NIH-layout dataset root.
        split: the split scored (``<split>_list.txt``, ``<split>_gt.txt``).
        prior_from: a test_gt.txt-style file to take the mean boxes from; default the scored
            rows' own boxes.

    Returns:
        The Evaluation, its report described (``describe``) with ``baseline`` "class-prior"
        and ``prior``: ``{"from": file or None, "boxes": {finding: PriorBox.as_json()}}``.

    Raises:
        LayoutError: the dataset or the prior file is unusable.
        ValueError: the prior lacks a finding of the split.
    """
    found = read_localization_rows(root, split)
    problems = list(found.problems)
    if prior_from is None:
        prior = prior_from_rows(found)
        source = f"class-prior baseline (mean GT boxes of {split})"
    else:
        prior, prior_problems = prior_from_gt_file(prior_from)
        problems += prior_problems
        source = f"class-prior baseline (mean GT boxes of {Path(prior_from).name})"
    try:
        rows = class_prior_rows(found, prior)
    except ValueError as exc:
        raise ValueError(f"{prior_from or found.root}: {exc}") from None
    evaluation = score(rows, found.class_names, mode=None)
    describe(evaluation.report, source, root, split, problems, baseline=CLASS_PRIOR)
    evaluation.report["prior"] = {
        "from": None if prior_from is None else str(prior_from),
        "boxes": {finding: box.as_json() for finding, box in prior.items()},
    }
    return evaluation


def class_prior_report(root: str | Path, split: str = "test", prior_from: str | Path | None = None) -> dict:
    """The class-prior baseline's report (JSON-ready); see class_prior_evaluation."""
    return class_prior_evaluation(root, split, prior_from).report


def whole_image_evaluation(root: str | Path, split: str = "test") -> Evaluation:
    """Score one box around the whole image for every row of a split with boxes.

    Raises:
        LayoutError: the dataset is unusable.
    """
    found = read_localization_rows(root, split)
    whole = {finding: PriorBox(0.0, 0.0, 1.0, 1.0, 0) for finding in {row.label for row in found.rows}}
    evaluation = score(class_prior_rows(found, whole), found.class_names, mode=None)
    describe(evaluation.report, "whole-image baseline (one box around each image)", root, split,
             list(found.problems), baseline=WHOLE_IMAGE)
    return evaluation


def baseline_evaluation(name: str, root: str | Path, split: str = "test",
                        prior_from: str | Path | None = None) -> Evaluation:
    """The named baseline's Evaluation (see BASELINES); prior_from only for the class prior."""
    if name == CLASS_PRIOR:
        return class_prior_evaluation(root, split, prior_from)
    if name == WHOLE_IMAGE:
        if prior_from is not None:
            raise ValueError("--prior-from goes with --baseline class-prior")
        return whole_image_evaluation(root, split)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
