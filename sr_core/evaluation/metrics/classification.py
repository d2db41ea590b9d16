"""Classification metrics: top-1 accuracy and one-vs-rest ROC AUC (rank formula, no sklearn)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney U) formula, ties at average rank.

    Returns:
        AUC in [0, 1]; NaN when labels hold only one class (AUC undefined).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(labels).ravel().astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(new_value)
    ends = np.r_[starts[1:], ordered.size]
    average_rank = (starts + ends + 1) / 2.0  # 1-based mean of ranks starts+1 .. ends
    ranks = np.empty_like(scores)
    ranks[order] = average_rank[np.cumsum(new_value) - 1]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def youden_cutoff(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """The score cut-off that maximises Youden's J = sensitivity + specificity - 1.

    A case is called positive when its score is >= the cut-off; the cut-off is the midpoint
    between the two distinct scores it separates (so it generalises to unseen scores).

    Returns:
        the cut-off, or None when labels hold only one class.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(labels).ravel().astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    values = np.unique(scores)  # ascending; candidate cut-offs at each distinct score
    order = np.argsort(scores, kind="mergesort")
    ordered, pos_ordered = scores[order], positive[order]
    # Cases at or above values[k]: everything from the first index of values[k] on.
    first = np.searchsorted(ordered, values, side="left")
    pos_above = n_pos - np.r_[0, np.cumsum(pos_ordered)][first]
    neg_above = (scores.size - first) - pos_above
    j = pos_above / n_pos - neg_above / n_neg
    k = int(np.argmax(j))
    return float(values[k] if k == 0 else (values[k - 1] + values[k]) / 2.0)


def classification_report(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None = None
) -> dict:
    """Top-1 accuracy and one-vs-rest AUC per class.

    Args:
        probabilities: (N, C) scores.
        labels: (N,) class indices (single-label) or (N, C) multi-hot 0/1.
        class_names: C names for the keys; default "0", "1", ...

    Returns:
        ``{"n": N, "accuracy": x, "auc_per_class": {name: auc | None}, "auc_mean": x | None,
        "operating_points": {name: cut-off}}``; operating_points holds each class's Youden
        cut-off on these scores (classes with one label value are left out).
        accuracy (top-1) counts an image right when its highest-scoring class is a true one
        (the usual accuracy for single labels). A class whose labels are all equal has AUC
        None (undefined) and is left out of auc_mean.

    Raises:
        ValueError: shapes disagree, labels out of range, non-finite probabilities.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise ValueError(f"probabilities must be (N, C) with N > 0, got {probabilities.shape}")
    if not np.isfinite(probabilities).all():
        raise ValueError("probabilities contain NaN or infinite values")
    n, classes = probabilities.shape
    if labels.shape == (n,):
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= classes:
            raise ValueError(f"single labels must be integers in [0, {classes}), got {labels!r}")
        onehot = np.zeros((n, classes), bool)
        onehot[np.arange(n), labels] = True
    elif labels.shape == (n, classes):
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("multi-hot labels must hold only 0 and 1")
        onehot = labels.astype(bool)
    else:
        raise ValueError(f"labels must be ({n},) or ({n}, {classes}), got {labels.shape}")
    names = [str(c) for c in range(classes)] if class_names is None else list(class_names)
    if len(names) != classes:
        raise ValueError(f"{len(names)} class names for {classes} classes")
    top1 = onehot[np.arange(n), probabilities.argmax(axis=1)]
    aucs = [roc_auc(probabilities[:, c], onehot[:, c]) for c in range(classes)]
    defined = [a for a in aucs if not math.isnan(a)]
    return {
        "n": n,
        "accuracy": float(top1.mean()),
        "auc_per_class": {name: (None if math.isnan(a) else a) for name, a in zip(names, aucs)},
        "auc_mean": float(np.mean(defined)) if defined else None,
        "operating_points": {name: cut for c, name in enumerate(names)
                             if (cut := youden_cutoff(probabilities[:, c], onehot[:, c])) is not None},
    }
