"""What the worker threads do: read images, walk folders, load weights, run the model.

Qt-free functions, called on pool threads by sr_viewer.qt. torch and sr_core.predict are
imported here, inside load_model, so that importing the viewer (and showing its window)
never waits for torch; the results are typed with the torch-free sr_core.prediction.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sr_core.io import XrayImage, is_image_candidate, read_image
from sr_core.prediction import Prediction, PredictorLike

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 96
WALK_BATCH = 32
CARD_SUFFIXES = (".md", ".card.md")


def thumbnail(image: XrayImage, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """uint8 grey picture at most `side` pixels on its long side (area-averaged)."""
    scale = side / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = cv2.resize(image.pixels, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8))


def load_image(path: Path) -> tuple[XrayImage, np.ndarray]:
    """Decode an image and make its thumbnail (raises sr_core.io.ImageReadError).

    The viewer's one door for pixels: the study list's thumbnail, the canvas and the model
    all use the image decoded here.
    """
    image = read_image(path)
    return image, thumbnail(image)


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Split what the reader opened into image files, folders to walk and problems.

    Files are taken whatever their name (read_image decides by content, and says why it
    cannot); annotation files are left to the caller.
    """
    files, folders, problems = [], [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            folders.append(path)
        elif path.exists():
            files.append(path)
        else:
            problems.append(f"not found: {path}")
    return files, folders, problems


def walk_images(folder: Path, is_cancelled: Callable[[], bool] = lambda: False) -> Iterator[list[Path]]:
    """Image candidates under `folder` in sorted order, in batches of WALK_BATCH.

    Batches come as soon as they fill, so a large folder shows its first studies at once.
    Hidden files and folders are skipped.
    """
    batch: list[Path] = []
    for directory, subdirectories, names in os.walk(folder):
        if is_cancelled():
            return
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        base = Path(directory)
        for name in sorted(names):
            candidate = base / name
            if is_image_candidate(candidate):
                batch.append(candidate)
                if len(batch) >= WALK_BATCH:
                    yield batch
                    batch = []
    if batch:
        yield batch


@dataclass
class LoadedModel:
    """A ready predictor and what the model panel shows about it."""

    predictor: PredictorLike
    metadata: dict[str, Any]
    active_device: str
    cuda_available: bool
    card_text: str | None
    seconds: float


def model_card_text(weights: Path) -> str | None:
    """The Markdown model card next to a weights file (<stem>.md or <stem>.card.md, else a
    MODEL_CARD.md in the same folder, as the bundled weights have)."""
    for card in [weights.with_suffix(suffix) for suffix in CARD_SUFFIXES] + [weights.parent / "MODEL_CARD.md"]:
        if card.is_file():
            try:
                return card.read_text(encoding="utf-8", errors="replace")[:200_000]
            except OSError:
                return None
    return None


def load_model(weights: Path, device: str) -> LoadedModel:
    """Import torch, load the weights on the device and warm the model up.

    A GPU asked for but absent falls back to the CPU (the panel says so) rather than
    leaving the reader with no model.

    Raises:
        sr_core.checkpoint.WeightsError: Not usable weights (one line naming the file).
    """
    start = time.perf_counter()
    import torch  # noqa: PLC0415 (deliberately here: never on the start-up path)

    from sr_core.predict import Predictor  # noqa: PLC0415

    cuda = bool(torch.cuda.is_available())
    if device == "cuda" and not cuda:
        device = "cpu"
    # On a GPU the forward is replayed as a recorded CUDA graph (sr_core.predict): one image's
    # eager forward is bound by the host's kernel launches.
    predictor = Predictor.from_weights(weights, device=device, cuda_graphs=True)
    # One small forward so the first study does not pay for lazy initialisation (and, on a GPU,
    # records the one-image graph).
    with torch.inference_mode():
        size = predictor.input_size
        predictor.predict(XrayImage(np.zeros((size, size), np.float32)))
    return LoadedModel(
        predictor=predictor,
        metadata=dict(predictor.metadata),
        active_device=str(predictor.device),
        cuda_available=cuda,
        card_text=model_card_text(weights),
        seconds=time.perf_counter() - start,
    )


def predict(predictor: PredictorLike, image: XrayImage) -> Prediction:
    """Run the model on a decoded study image (decoding is the study loader's alone, through
    load_image, so a file is read once whether or not a model runs on it)."""
    return predictor.predict(image)
