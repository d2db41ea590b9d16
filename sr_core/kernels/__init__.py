"""SS2D kernels behind one dispatch point.

`ss2d_scan` is what the model calls. The pure-PyTorch path (reference.py) serves the CPU
and is the ground truth; a GPU backend registers itself with `register_backend` and
`backend="auto"` takes it for CUDA tensors: the plane kernels ("triton_plane", faster than
the chunked ones at every stage shape of benchmarks/RESULTS.md), which hand the shapes they
do not cover (d_state > 1, planes over 128 x 128) to the chunked "triton" backend.
"""

from __future__ import annotations

import os
from typing import Callable

import torch

from sr_core.kernels.reference import cross_merge, cross_scan, linear_scan, selective_scan
from sr_core.kernels.reference import ss2d_scan as _ss2d_scan_torch

__all__ = [
    "available_backends",
    "cross_merge",
    "cross_scan",
    "linear_scan",
    "register_backend",
    "selective_scan",
    "ss2d_scan",
]

# Triton's interpreter (TRITON_INTERPRET=1, as the tests run) executes kernels in numpy on CPU
# tensors: no inline PTX, no bf16 dot. Read once, when the kernels are first imported.
TRITON_INTERPRET = os.environ.get("TRITON_INTERPRET", "") == "1"

_BACKENDS: dict[str, Callable[..., torch.Tensor]] = {"torch": _ss2d_scan_torch}
_GPU_BACKEND = "triton"
_PLANE_BACKEND = "triton_plane"
_AUTO_ORDER = (_PLANE_BACKEND, _GPU_BACKEND)  # what "auto" takes on CUDA, first registered wins


def register_backend(name: str, fn: Callable[..., torch.Tensor]) -> None:
    """Make an SS2D implementation selectable by name (same signature as `ss2d_scan`)."""
    _BACKENDS[name] = fn


def available_backends() -> list[str]:
    """Names of the SS2D implementations that can run in this process."""
    _load_gpu_backend()
    return sorted(_BACKENDS)


def _load_gpu_backend() -> None:
    if _GPU_BACKEND in _BACKENDS and _PLANE_BACKEND in _BACKENDS:
        return
    try:
        # Each registers itself: "triton" (chunked) and "triton_plane" (whole planes a
        # program, what "auto" takes).
        from sr_core.kernels import triton_plane, triton_ss2d  # noqa: F401
    except ImportError:
        pass


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend that `backend` means for tensors on `device`."""
    if backend == "auto":
        if device.type == "cuda":
            _load_gpu_backend()
            for name in _AUTO_ORDER:
                if name in _BACKENDS:
                    return name
        return "torch"
    if backend not in _BACKENDS:
        _load_gpu_backend()
    if backend not in _BACKENDS:
        raise ValueError(f"unknown SS2D backend {backend!r}; available: {', '.join(available_backends())}")
    return backend


def ss2d_scan(
    x: torch.Tensor,
    x_proj_weight: torch.Tensor,
    dt_projs_weight: torch.Tensor,
    dt_projs_bias: torch.Tensor,
    A_logs: torch.Tensor,
    Ds: torch.Tensor,
    backend: str = "auto",
) -> torch.Tensor:
    """SS2D core (cross-scan, projections, selective scan, cross-merge) on the chosen backend.

    Args:
        x: (B, D, H, W) features after the depthwise conv and SiLU.
        x_proj_weight: (4, R + 2N, D).
        dt_projs_weight: (4, D, R).
        dt_projs_bias: (4, D).
        A_logs: (4*D, N).
        Ds: (4*D,).
        backend: "auto" (the plane kernels for CUDA tensors, PyTorch otherwise), "torch",
            or a registered backend name such as "triton" (chunked) or "triton_plane".

    Returns:
        (B, H, W, D) merged output, channels last.
    """
    fn = _BACKENDS[resolve_backend(backend, x.device)]
    return fn(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds)
