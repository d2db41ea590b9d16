"""Synthetic chest phantoms: fast, deterministic stand-ins for X-rays in tests and smoke runs.

A phantom has a body outline, two dark lung fields, a spine, a normal heart, ribs and noise,
plus one lesion whose look and place depend on the finding index (cycling through 8 kinds,
modelled on the 8 NIH box findings) so that a tiny model can learn to classify and localise:

    0 atelectasis   a thin dense band, tilted, in a lower lung zone
    1 cardiomegaly  an enlarged heart silhouette (box = the heart)
    2 effusion      fluid filling the base of one lung up to a level with a meniscus
    3 infiltration  a patch of small faint blobs
    4 mass          a large bright round blob
    5 nodule        a small bright dot
    6 pneumonia     a broad hazy opacity in a mid/lower zone
    7 pneumothorax  a very dark lateral-apical region without lung markings, edged by a line

Everything is numpy; no torch import. Randomness comes from the numpy Generator passed in,
and ``write_phantom_dataset`` derives one per image from (seed, split, class, index), so the
same seed gives byte-identical files whatever the order of generation.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from sr_core.boxes import FloatBox
from sr_core.data.layout import (
    NIH_BOX_FINDINGS,
    TEST_GT,
    TEST_LIST,
    GtEntry,
    TestListRow,
    write_test_gt,
    write_test_list,
)

LESION_KINDS = (
    "atelectasis",
    "cardiomegaly",
    "effusion",
    "infiltration",
    "mass",
    "nodule",
    "pneumonia",
    "pneumothorax",
)
_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def _ellipse(u, v, cx, cy, ax, ay, edge=0.01, angle=0.0):
    """Soft ellipse mask in [0, 1] on normalised coordinates (u right, v down)."""
    du, dv = u - cx, v - cy
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        du, dv = c * du + s * dv, -s * du + c * dv
    r = np.sqrt((du / ax) ** 2 + (dv / ay) ** 2)
    return 1.0 / (1.0 + np.exp(np.clip((r - 1.0) * min(ax, ay) / edge, -50, 50)))


def _box(cx, cy, hx, hy, size) -> FloatBox:
    """Box (pixels) from a centre and half extents in normalised units, clipped to the image."""
    x0, x1 = np.clip([cx - hx, cx + hx], 0.0, 1.0) * size
    y0, y1 = np.clip([cy - hy, cy + hy], 0.0, 1.0) * size
    return (float(x0), float(y0), float(x1), float(y1))


def make_phantom(
    finding_index: int, size: int = 256, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, list[FloatBox]]:
    """Draw one phantom chest with the lesion of ``finding_index`` (kind = index mod 8).

    Args:
        finding_index: class index; selects the lesion kind (LESION_KINDS[index % 8]).
        size: side in pixels (square image).
        rng: numpy Generator, or a seed for one.

    Returns:
        (image float32 size x size in [0, 1], [lesion box (x0, y0, x1, y1) in pixels]).
    """
    if size < 16:
        raise ValueError(f"phantom size must be at least 16 px, got {size}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    coords = (np.arange(size, dtype=np.float64) + 0.5) / size
    u, v = np.meshgrid(coords, coords)
    jitter = lambda scale: float(rng.uniform(-scale, scale))  # noqa: E731

    body = _ellipse(u, v, 0.5 + jitter(0.02), 0.56, 0.47 + jitter(0.02), 0.56, edge=0.02)
    image = 0.04 + 0.42 * body
    lungs = []
    for side in (-1, 1):
        lung = dict(cx=0.5 + side * (0.19 + jitter(0.015)), cy=0.46 + jitter(0.02),
                    ax=0.13 + jitter(0.01), ay=0.27 + jitter(0.015))
        lungs.append(lung)
        image = image - 0.26 * _ellipse(u, v, lung["cx"], lung["cy"], lung["ax"], lung["ay"], edge=0.015)
    lung_mask = np.clip(sum(_ellipse(u, v, **lung) for lung in lungs), 0, 1)
    phase = jitter(0.02)
    for k in range(8):  # ribs: gently curved bright bands, visible over the lungs
        centre = 0.22 + 0.07 * k + phase + 0.25 * (u - 0.5) ** 2
        image = image + 0.07 * lung_mask * np.exp(-(((v - centre) / 0.008) ** 2))
    image = image + 0.22 * np.exp(-(((u - 0.5) / 0.035) ** 2)) * body  # spine and mediastinum

    kind = LESION_KINDS[finding_index % len(LESION_KINDS)]
    heart = dict(cx=0.53 + jitter(0.015), cy=0.68 + jitter(0.015), ax=0.14, ay=0.09)
    if kind == "cardiomegaly":
        heart.update(ax=0.23 + jitter(0.015), ay=0.14 + jitter(0.01))
    image = np.maximum(image, 0.5 * _ellipse(u, v, **heart, edge=0.02))

    lung = lungs[int(rng.integers(2))]
    boxes: list[FloatBox]
    if kind == "atelectasis":
        cx, cy = lung["cx"] + jitter(0.03), lung["cy"] + 0.12 + jitter(0.03)
        angle = jitter(0.3)
        image = image + 0.35 * _ellipse(u, v, cx, cy, 0.1, 0.022, edge=0.006, angle=angle)
        hx = abs(0.1 * np.cos(angle)) + abs(0.022 * np.sin(angle))
        hy = abs(0.1 * np.sin(angle)) + abs(0.022 * np.cos(angle))
        boxes = [_box(cx, cy, hx, hy, size)]
    elif kind == "cardiomegaly":
        boxes = [_box(heart["cx"], heart["cy"], heart["ax"], heart["ay"], size)]
    elif kind == "effusion":
        bottom = lung["cy"] + lung["ay"]
        level = bottom - 0.12 + jitter(0.02)
        outward = np.sign(lung["cx"] - 0.5)
        meniscus = level - 0.04 * np.clip(outward * (u - lung["cx"]) / lung["ax"], 0, 1)
        inside = _ellipse(u, v, lung["cx"], lung["cy"], lung["ax"] * 1.05, lung["ay"] * 1.05)
        fluid = inside / (1 + np.exp(np.clip(-(v - meniscus) / 0.006, -50, 50)))
        image = image + 0.4 * fluid
        boxes = [_box(lung["cx"], (level - 0.04 + bottom) / 2, lung["ax"], (bottom - level + 0.04) / 2, size)]
    elif kind == "infiltration":
        cx, cy, half = lung["cx"] + jitter(0.03), lung["cy"] + jitter(0.08), 0.08
        for _ in range(14):
            bx, by = cx + jitter(half * 0.8), cy + jitter(half * 0.8)
            image = image + 0.16 * np.exp(-(((u - bx) ** 2 + (v - by) ** 2) / (2 * 0.015**2)))
        boxes = [_box(cx, cy, half, half, size)]
    elif kind in ("mass", "nodule"):
        radius = 0.065 + jitter(0.01) if kind == "mass" else max(0.02, 1.5 / size) + jitter(0.003)
        cx = lung["cx"] + jitter(lung["ax"] * 0.5)
        cy = lung["cy"] + jitter(lung["ay"] * 0.5)
        image = image + 0.5 * _ellipse(u, v, cx, cy, radius, radius, edge=radius * 0.12)
        boxes = [_box(cx, cy, radius, radius, size)]
    elif kind == "pneumonia":
        cx, cy, sigma = lung["cx"] + jitter(0.02), lung["cy"] + 0.05 + jitter(0.05), 0.065
        image = image + 0.3 * np.exp(-(((u - cx) ** 2 + (v - cy) ** 2) / (2 * sigma**2)))
        boxes = [_box(cx, cy, 1.5 * sigma, 1.5 * sigma, size)]
    else:  # pneumothorax: the lateral apex of one lung collapsed away from the chest wall
        outward = np.sign(lung["cx"] - 0.5)
        cx, cy = lung["cx"] + outward * lung["ax"] * 0.55, lung["cy"] - lung["ay"] * 0.45
        hx, hy = lung["ax"] * 0.45, lung["ay"] * 0.45
        region = _ellipse(u, v, cx, cy, hx, hy, edge=0.01)
        outer = _ellipse(u, v, cx, cy, hx * 1.08, hy * 1.08, edge=0.004)
        rim = outer - _ellipse(u, v, cx, cy, hx, hy, edge=0.004)
        image = image * (1 - 0.85 * region) + 0.25 * np.clip(rim, 0, 1)
        boxes = [_box(cx, cy, hx, hy, size)]

    image = image + rng.normal(0.0, 0.02, image.shape)
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), max(0.5, size / 256))
    contrast = 1.0 + jitter(0.08)
    image = (image - 0.4) * contrast + 0.4 + jitter(0.03)
    return np.clip(image, 0.0, 1.0).astype(np.float32), boxes


def phantom_rng(seed: int, split: str, class_index: int, index: int) -> np.random.Generator:
    """The Generator of one phantom, independent of the order images are made in."""
    return np.random.default_rng([seed, _SPLIT_IDS[split], class_index, index])


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", np.round(image * 255).astype(np.uint8))
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(encoded.tobytes())


def write_phantom_dataset(
    root: str | Path,
    n_per_class: int = 8,
    size: int = 64,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    n_test_per_class: int | None = None,
    n_val_per_class: int = 0,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write a complete NIH-layout phantom dataset as 8-bit PNG.

    Writes ROOT/train/<name>/, ROOT/val/<name>/ (when n_val_per_class > 0), ROOT/test/<name>/,
    ROOT/test_list.txt and ROOT/test_gt.txt (W H = size; boxes in those pixels).

    Args:
        root: output folder (created).
        n_per_class: training images per class.
        size: image side in pixels (>= 16).
        seed: makes the dataset reproducible, byte for byte.
        class_names: folder names; default the 8 NIH box findings. Class i gets lesion kind i mod 8.
        n_test_per_class: test images per class; default max(2, n_per_class // 4).
        n_val_per_class: validation images per class.
        overwrite: replace an earlier dataset in root (otherwise a non-empty root is refused).

    Returns:
        Number of images written per split.

    Raises:
        FileExistsError: root is not empty and overwrite is False.
    """
    root = Path(root)
    names = list(class_names or NIH_BOX_FINDINGS)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty; pass overwrite=True to replace its phantoms")
        for split in _SPLIT_IDS:
            shutil.rmtree(root / split, ignore_errors=True)
    counts = {"train": n_per_class, "val": n_val_per_class,
              "test": max(2, n_per_class // 4) if n_test_per_class is None else n_test_per_class}
    written = {}
    rows: list[TestListRow] = []
    gt: dict[tuple[str, str], GtEntry] = {}
    for split, count in counts.items():
        written[split] = 0
        for class_index, name in enumerate(names):
            if count <= 0:
                continue
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image, boxes = make_phantom(class_index, size, phantom_rng(seed, split, class_index, i))
                file = f"phantom_{split}_{class_index:02d}_{i:04d}.png"
                _write_png(folder / file, image)
                written[split] += 1
                if split == "test":
                    rows.append(TestListRow(name, file, name))
                    gt[(name, file)] = GtEntry(size, size, boxes)
    write_test_list(root / TEST_LIST, rows)
    write_test_gt(root / TEST_GT, gt)
    return written
