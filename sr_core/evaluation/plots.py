"""PNG plots of evaluation and training (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path, title: str = "") -> Path:
    """Title, lay out, write and close a figure."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_threshold_curves(curves: Mapping[str, dict], path: Path, title: str = "") -> Path:
    """GT-known accuracy against the map threshold: class mean at each IoU level, and per
    finding at the first level."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for iou, curve in curves.items():
        axes[0].plot(curve["thresholds"], curve["class_mean"], label=f"IoU > {iou}")
    axes[0].set(xlabel="map threshold", ylabel="GT-known accuracy (class mean)", ylim=(0, 1), title="all findings")
    axes[0].legend()
    first_iou, first = next(iter(curves.items()))
    for finding, values in first["per_class"].items():
        axes[1].plot(first["thresholds"], values, label=finding)
    axes[1].set(xlabel="map threshold", ylabel=f"GT-known accuracy (IoU > {first_iou})", ylim=(0, 1),
                title="per finding")
    axes[1].legend(fontsize=7)
    return _save(plt, fig, path, title)


def plot_iou_histograms(best_ious: Mapping[str, Sequence[float]], path: Path, title: str = "") -> Path:
    """Histogram of the best IoU of each (image, finding) row, one panel per finding."""
    plt = _pyplot()
    names = sorted(best_ious)
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    bins = np.linspace(0, 1, 21)
    for ax, name in zip(axes.flat, names):
        ax.hist(best_ious[name], bins=bins, color="#3b75af")
        ax.set_title(f"{name} (n={len(best_ious[name])})", fontsize=9)
        ax.set_xlim(0, 1)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.supxlabel("best IoU of the predicted boxes")
    return _save(plt, fig, path, title)


def plot_training(history: Sequence[Mapping], path: Path) -> Path:
    """Loss terms per epoch and validation accuracy from metrics.jsonl records."""
    plt = _pyplot()
    train = [h for h in history if h.get("kind") == "epoch"]
    val = [h for h in history if h.get("kind") == "val"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for term in ("total", "ce", "ce_fpm", "control", "area"):
        xs = [h["epoch"] for h in train if term in h.get("losses", {})]
        if xs:
            axes[0].plot(xs, [h["losses"][term] for h in train if term in h.get("losses", {})], label=term)
    axes[0].set(xlabel="epoch", ylabel="training loss (epoch mean)", title="loss terms")
    axes[0].legend()
    for key, label in (("gt_known_iou_0.1", "GT-known IoU>0.1"), ("gt_known_iou_0.3", "GT-known IoU>0.3"),
                       ("auc_mean", "AUC (mean)"), ("accuracy", "classification accuracy")):
        xs = [h["epoch"] for h in val if h.get(key) is not None]
        if xs:
            axes[1].plot(xs, [h[key] for h in val if h.get(key) is not None], marker="o", label=label)
    axes[1].set(xlabel="epoch", ylim=(0, 1), title="validation")
    axes[1].legend()
    return _save(plt, fig, path)
