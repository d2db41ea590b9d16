"""Predictor: the one facade the viewer and the command-line tools use to run a model.

    predictor = Predictor.from_weights("model.safetensors")        # device "auto"
    prediction = predictor.predict(read_image("chest.png"))
    prediction.probabilities            # {finding: probability}
    prediction.fpm("Effusion")          # float32 HxW in [0, 1] at image size
    prediction.boxes(0.6, "Effusion")   # [(x0, y0, x1, y1)] in image pixels
    prediction.warning                  # one line when the image does not look like a
                                        # frontal chest film (sr_core.ood), else None

The model runs once per image; every threshold afterwards is derived from the cached map.
With cuda_graphs=True (the viewer's choice) a CUDA model runs as one recorded CUDA graph per
batch shape, replayed for every later batch of that shape: an eager forward at one image is
bound by the host's kernel launches, not the GPU (benchmarks/RESULTS.md, the viewer's case).
The result types (Prediction) live in the torch-free sr_core.prediction and are re-exported
here, so `from sr_core.predict import Prediction` keeps working.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sr_core import ood
from sr_core.checkpoint import ENSEMBLE_FORMAT, WeightsError, load_weights, read_metadata
from sr_core.data.transforms import eval_transforms
from sr_core.io import XrayImage
from sr_core.models import SRModel
from sr_core.prediction import DEFAULT_THRESHOLD, Prediction
from sr_core.refine import MapRefinement

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" means the first CUDA device when one is usable, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no usable GPU was found; use device 'cpu' or 'auto'")
    return device


class Predictor:
    """Runs an SR model on X-ray images: preprocessing, device, batching, autocast."""

    def __init__(self, model: SRModel, metadata: dict[str, Any], device: str | torch.device = "auto",
                 batch_size: int = 8, name: str = "model", cuda_graphs: bool = False):
        """cuda_graphs: on a CUDA device, record the model's forward as a CUDA graph per batch
        shape the first time it is seen (`_GraphedForward`) and replay it afterwards: the same
        kernels on the same values, without the host's launch cost. For a model whose weights
        stay where they are (the viewer's); a model being trained keeps its eager forward."""
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.metadata = metadata
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.class_names: list[str] = list(metadata["class_names"])
        self.input_size = int(metadata.get("input_size", 256))
        self.default_threshold = float(metadata.get("default_threshold", DEFAULT_THRESHOLD))
        self.thresholds = {str(k): float(v) for k, v in (metadata.get("fpm_thresholds") or {}).items()}
        self.topk = min(int(model.head_cfg.topk), len(self.class_names))
        detail = metadata.get("detail_size")  # larger images are reduced to this first (LimitDetail)
        if detail is not None and (isinstance(detail, bool) or not isinstance(detail, int) or detail < 1):
            raise ValueError(f"metadata detail_size must be a positive whole number of pixels, got {detail!r}")
        self.detail_size: int | None = detail
        self._transform = eval_transforms(self.input_size, metadata.get("mean"), metadata.get("std"), detail)
        self.ood_reference, self.ood_note = _ood_reference(model, metadata)
        self.refinement = MapRefinement.from_metadata(metadata)  # test-time flip, location prior
        self._lock = threading.Lock()  # one forward at a time per model (viewer workers)
        self._graphs = _GraphedForward(self._outputs) if cuda_graphs and self.device.type == "cuda" else None

    @classmethod
    def from_weights(cls, path: str | os.PathLike, device: str | torch.device = "auto", batch_size: int = 8,
                     cuda_graphs: bool = False) -> Predictor:
        """Load a weights file (raises checkpoint.WeightsError with a one-line message). An
        ensemble file gives an sr_core.ensemble.EnsemblePredictor, which predicts alike."""
        if read_metadata(path)["format"] == ENSEMBLE_FORMAT:
            from sr_core.ensemble import EnsemblePredictor  # noqa: PLC0415 (it imports this module)

            return EnsemblePredictor.from_file(path, device=device, batch_size=batch_size,  # type: ignore[return-value]
                                               cuda_graphs=cuda_graphs)
        model, metadata = load_weights(path)
        name = os.path.basename(str(path))
        try:
            return cls(model, metadata, device=device, batch_size=batch_size, name=name, cuda_graphs=cuda_graphs)
        except (ood.CalibrationError, ValueError) as exc:
            raise WeightsError(f"{name}: {exc}") from None

    def predict(self, image: XrayImage) -> Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(
        self, images: Sequence[XrayImage], progress: Callable[[int, int], None] | None = None
    ) -> list[Prediction]:
        """Predict many images in batches; `progress(done, total)` is called after each batch."""
        out: list[Prediction] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            out.extend(self._predict_chunk(chunk))
            if progress is not None:
                progress(len(out), len(images))
        return out

    def ood_descriptors(self, images: Sequence[XrayImage]) -> np.ndarray:
        """(N, D) float32 descriptors, as the out-of-distribution check measures them (sr_core.ood)."""
        return self._forward(images)[2]

    def _forward(self, images: Sequence[XrayImage]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (N, C), maps (N, C, h, w) and OOD descriptors (N, D), numpy float32."""
        batch = torch.stack([self._transform(img.pixels) for img in images]).to(self.device)
        with self._lock, torch.inference_mode():
            if self._graphs is not None:
                probs, maps, features = self._graphs(batch)
            else:
                with torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
                    probs, maps, features = self._outputs(batch)
        probs = probs.cpu().numpy()
        thumbnails = F.adaptive_avg_pool2d(batch[:, :1].float(), ood.THUMBNAIL_SIDE).cpu().numpy()
        maps = self.refinement.apply_prior(maps.float().cpu().numpy(), self.class_names)
        return probs, maps, ood.descriptors(features.float().cpu().numpy(), thumbnails)

    def _outputs(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The model's probabilities, float32 maps and features on the device (autocast is the caller's)."""
        logits, maps, features = self.model.finding_maps(batch, return_features=True)
        probs = torch.softmax(logits.float(), dim=1)
        if self.refinement.flip:  # the mirrored image too; its maps mirrored back (OOD: unflipped only)
            flipped_logits, flipped_maps = self.model.finding_maps(batch.flip(-1))
            probs = (probs + torch.softmax(flipped_logits.float(), dim=1)) / 2
            maps = (maps.float() + flipped_maps.float().flip(-1)) / 2
        return probs, maps.float(), features

    def _predict_chunk(self, images: Sequence[XrayImage]) -> list[Prediction]:
        probs, maps, features = self._forward(images)
        ratios = self.ood_reference.ratios(features) if self.ood_reference is not None else [None] * len(images)
        results = []
        for img, p, m, ratio in zip(images, probs, maps, ratios):
            order = np.argsort(-p)[: self.topk]
            ratio = None if ratio is None else float(ratio)
            results.append(
                Prediction(
                    probabilities={c: float(v) for c, v in zip(self.class_names, p)},
                    small_maps={c: m[i] for i, c in enumerate(self.class_names)},
                    top_findings=[self.class_names[i] for i in order],
                    width=img.width,
                    height=img.height,
                    default_threshold=self.default_threshold,
                    thresholds=dict(self.thresholds),
                    warning=ood.warning_line(img.metadata, ratio),
                    ood_ratio=ratio,
                )
            )
        return results


class _GraphedForward:
    """`forward(batch)` under bf16 autocast as one CUDA graph per batch shape, recorded the first
    time that shape comes (after two eager runs on a side stream, which also compile any Triton
    kernel) and replayed after: the batch is copied into the graph's input and the outputs are
    copied out of its memory, so a later replay never changes what an earlier call returned.

    Autocast's cache of cast weights is off while recording (a cast made before the recording
    would be freed under the graph). At most MAX_SHAPES graphs are kept (each holds its own
    memory pool); the oldest goes. A shape whose recording fails is logged in one line and runs
    eagerly from then on: the same kernels, so the same results.
    """

    MAX_SHAPES = 4

    def __init__(self, forward: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]):
        self.forward = forward
        self.graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, tuple[torch.Tensor, ...]]] = {}
        self.eager: set[tuple[int, ...]] = set()

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.autocast("cuda", torch.bfloat16, cache_enabled=False):
            return self.forward(batch)

    def _record(self, batch: torch.Tensor):
        static = batch.clone()
        side = torch.cuda.Stream(batch.device)
        side.wait_stream(torch.cuda.current_stream(batch.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self._run(static)
        torch.cuda.current_stream(batch.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's CUDA work (a second model in the viewer) neither fails
        # nor breaks the recording; this thread's own forward is all that is recorded.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            outputs = self._run(static)
        return graph, static, outputs

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        key = tuple(batch.shape)
        if key in self.eager:
            return self._run(batch)
        entry = self.graphs.get(key)
        if entry is None:
            try:
                entry = self._record(batch)
            except RuntimeError as exc:
                log.warning("CUDA graph for a batch of shape %s not recorded (%s); that shape runs eagerly",
                            key, " ".join(str(exc).split())[:200])
                self.eager.add(key)
                return self._run(batch)
            if len(self.graphs) >= self.MAX_SHAPES:
                self.graphs.pop(next(iter(self.graphs)))
            self.graphs[key] = entry
        graph, static, outputs = entry
        static.copy_(batch)
        graph.replay()
        return tuple(t.clone() for t in outputs)


def _ood_reference(model: SRModel, metadata: dict[str, Any]) -> tuple[ood.FeatureReference | None, str]:
    """The weights' feature calibration, if it fits this model, and a line saying which checks run.

    Raises:
        ood.CalibrationError: the "ood" entry is malformed or fits other features.
    """
    entry = metadata.get("ood")
    if entry is None:
        return None, "DICOM header check only (these weights carry no feature calibration)"
    reference = ood.FeatureReference.from_metadata(entry)
    dim = int(model.backbone.out_channels) + ood.THUMBNAIL_SIDE**2
    if reference.dim != dim:
        raise ood.CalibrationError(f"OOD calibration has {reference.dim} values, this model's descriptor {dim}")
    fingerprint = ood.weights_fingerprint(model.cam.cls.weight.detach().cpu().numpy())
    if reference.fingerprint not in (None, fingerprint):
        note = "DICOM header check only: the feature calibration in these weights was made for other weights"
        log.warning("%s", note)
        return None, note
    return reference, (f"DICOM header and feature-distance checks (limit at the {reference.percentile:g}th "
                       f"percentile of {reference.calibration.get('n', '?')} calibration chest films)")
