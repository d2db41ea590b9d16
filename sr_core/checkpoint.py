"""Weights files: safetensors tensors plus JSON metadata. Weights are data, never code.

A weights file carries everything needed to rebuild and use the model: the registry name and
full configuration, class names, input size and normalisation, the default threshold and
per-finding operating points, provenance and measured metrics. Loading never unpickles: a
PyTorch pickle (``.pt``/``.pth``, or one renamed ``.safetensors``) is refused before any of it
is read as anything but bytes, and a file that does not fit the architecture is an error that
names the keys.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from sr_core.io.image import one_line
from sr_core.models import SRModel, model_from_config

FORMAT = "sr-weights"
FORMAT_VERSION = 1
ENSEMBLE_FORMAT = "sr-ensemble"  # several weights files in one, their maps mixed (sr_core.ensemble)
_METADATA_KEY = "sr_weights"
_MAX_HEADER = 100 * 1024 * 1024
_SHOW_KEYS = 5


class WeightsError(ValueError):
    """A weights file that cannot be used; the message is one line naming the file."""


def save_weights(
    model: SRModel,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write the model's weights and metadata atomically (temporary file, fsync, rename).

    Args:
        model: a model from the registry (its `config` names the architecture).
        path: destination ``.safetensors`` file.
        metadata: extra metadata (class_names, default_threshold, operating_points,
            provenance, metrics, ...), stored as JSON.
        dtype: store floating-point tensors in this dtype (e.g. torch.float16 for releases).

    Returns:
        The path written.
    """
    if not model.config:
        raise ValueError("model has no registry config: build it with create_model()")
    path = Path(path)
    meta = dict(metadata or {})
    meta.setdefault("class_names", [f"class_{i}" for i in range(model.num_classes)])
    if len(meta["class_names"]) != model.num_classes:
        raise ValueError(f"{len(meta['class_names'])} class names for a model of {model.num_classes} classes")
    meta.setdefault("input_size", model.config["input_size"])
    meta.setdefault("mean", model.config["mean"])
    meta.setdefault("std", model.config["std"])
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, model=model.config)
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    meta["dtype"] = str(dtype or torch.float32).replace("torch.", "")
    write_safetensors_atomic(tensors, {_METADATA_KEY: json.dumps(meta)}, path)
    return path


def write_safetensors_atomic(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """save_file to a temporary file beside `path`, fsync, rename over it, fsync the folder:
    a kill at any moment leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a release file from other users
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        if hasattr(os, "O_DIRECTORY"):
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a weights file, without loading its tensors (e.g. for a model card)."""
    path = Path(path)
    _check_is_safetensors(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_METADATA_KEY)
    except Exception as exc:  # safetensors raises its own error types
        raise WeightsError(f"{path.name}: unreadable safetensors file ({one_line(exc)[:200]})") from None
    if raw is None:
        raise WeightsError(f"{path.name}: safetensors file without SR metadata (not an sr-core-train weights file)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise WeightsError(f"{path.name}: metadata is not valid JSON") from None
    if meta.get("format") not in (FORMAT, ENSEMBLE_FORMAT) or not isinstance(meta.get("model"), dict):
        raise WeightsError(f"{path.name}: metadata does not describe SR weights")
    if meta["format"] == ENSEMBLE_FORMAT:
        members = meta.get("members")
        if (not isinstance(members, list) or len(members) < 2
                or not all(isinstance(m, dict) and isinstance(m.get("model"), dict) for m in members)):
            raise WeightsError(f"{path.name}: ensemble metadata without two or more members")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise WeightsError(f"{path.name}: weights format {meta['format_version']} is newer than this program supports")
    return meta


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[SRModel, dict[str, Any]]:
    """Rebuild the model a weights file describes and load its tensors (float32, eval mode).

    Raises:
        WeightsError: not a safetensors file (pickles are refused unread), missing or foreign
            metadata, missing/unexpected keys or shape mismatches (named).
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta["format"] == ENSEMBLE_FORMAT:
        raise WeightsError(f"{path.name}: an ensemble of {len(meta['members'])} weights files; this step takes "
                           "one model (the viewer, sr-core-infer and sr-core-eval run ensembles)")
    return load_model(path, meta["model"], device), meta


def load_model(path: str | os.PathLike, config: dict[str, Any], device: str | torch.device = "cpu",
               prefix: str = "") -> SRModel:
    """Build the model `config` describes and load its tensors from `path`, the keys under
    `prefix` (an ensemble member's, "m0." ...) and no others of that prefix (float32, eval mode).

    Raises:
        WeightsError: as load_weights.
    """
    path = Path(path)
    try:
        model = model_from_config(config)
    except ValueError as exc:
        raise WeightsError(f"{path.name}: {exc}") from None
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = {k[len(prefix):] for k in fh.keys() if k.startswith(prefix)}
            _check_keys(path, set(expected), keys)
            for name, target in expected.items():
                tensor = fh.get_tensor(prefix + name)
                if tensor.shape != target.shape:
                    raise WeightsError(
                        f"{path.name}: shape mismatch for {prefix}{name}: file {tuple(tensor.shape)}, "
                        f"model {tuple(target.shape)}"
                    )
                target.copy_(tensor)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path.name}: unreadable tensors ({one_line(exc)[:200]})") from None
    model.eval()
    return model.to(device)


def _check_keys(path: Path, expected: set[str], found: set[str]) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys ({_list(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_list(unexpected)})")
    raise WeightsError(f"{path.name}: weights do not fit the architecture: " + "; ".join(parts))


def _list(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW_KEYS])
    return shown + (", ..." if len(keys) > _SHOW_KEYS else "")


def _check_is_safetensors(path: Path) -> None:
    """Refuse anything that is not a safetensors file by looking at its first bytes only."""
    if not path.is_file():
        raise WeightsError(f"{path.name}: no such weights file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(9)
    if size == 0:
        raise WeightsError(f"{path.name}: empty file")
    if len(head) == 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and header_len <= min(_MAX_HEADER, size - 8):
            return  # a safetensors header; its length's low byte may well be 0x80
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        raise WeightsError(
            f"{path.name}: a PyTorch pickle checkpoint, refused (pickles can run code); "
            "export weights with 'sr-core-train export' to get a .safetensors file"
        )
    if len(head) < 9:
        raise WeightsError(f"{path.name}: truncated (not a safetensors file)")
    raise WeightsError(f"{path.name}: not a safetensors file")


