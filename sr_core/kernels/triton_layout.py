"""Channels-last <-> planes copies for the plane kernels, as a tiled Triton transpose.

The plane kernels (triton_plane.py) read and write (B, D, H, W) with each plane contiguous; the
model around them is channels last: x comes from a depthwise conv on a channels-last map, y
goes to a LayerNorm over channels, and their gradients come back the same ways. PyTorch makes
those layout changes with its generic strided copy, which on an H200 moved a stage-1 tensor
(64 x 4096 x 192 bf16, 100 MB each way) in 0.28 ms (session 13's profile: 0.7 TB/s of the
4.2 TB/s a plain copy reaches): one side of every such copy is read or written a sector per
element. Here a program moves a (TILE, TILE) block: loaded coalesced along the source's
contiguous dimension, transposed in registers (through shared memory), stored coalesced
along the destination's.

`transpose_copy(t)` takes a (B, M, N) tensor whose last dimension is not contiguous but whose
middle one is, or any strides, and returns a contiguous (B, M, N) copy, like `t.contiguous()`.
`to_planes` and `from_planes` are the differentiable (B, D, H, W) layout changes built on it, each
the other's backward.
"""

from __future__ import annotations

import torch

import triton
import triton.language as tl

from sr_core.kernels import TRITON_INTERPRET

__all__ = ["from_planes", "is_channels_last", "to_planes", "transpose_copy"]

_TILE = 64


@triton.jit
def _transpose_kernel(src_ptr, dst_ptr, M, N, s_b, s_n, TILE: tl.constexpr):
    """dst[b, m, n] = src[b, m, n] over one (TILE, TILE) block; src's m stride 1, dst contiguous (B, M, N).

    The block is loaded as (n, m), so that its loads run along src's contiguous m, and
    transposed to (m, n) for stores that run along dst's contiguous n. m's stride is the
    constant 1, not an argument, so the compiler knows those loads to be contiguous whatever
    specialisation the launch gives its arguments."""
    b = tl.program_id(0).to(tl.int64)
    m = tl.program_id(1) * TILE + tl.arange(0, TILE)
    n = tl.program_id(2) * TILE + tl.arange(0, TILE)
    mask_nm = (n[:, None] < N) & (m[None, :] < M)
    block = tl.load(src_ptr + b * s_b + n[:, None] * s_n + m[None, :], mask=mask_nm)
    tl.store(dst_ptr + b * M * N + m[:, None] * N + n[None, :], tl.trans(block),
             mask=(m[:, None] < M) & (n[None, :] < N))


def transpose_copy(t: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of the 3-D tensor t (the same values and shape, like `t.contiguous()`),
    by blocks transposed in registers: for a t whose middle dimension is the contiguous one
    (a channels-last map seen as (batch, channels, positions), or the reverse). Any other t
    is returned as `t.contiguous()`."""
    if t.dim() != 3 or t.stride(1) != 1 or t.is_contiguous() or not (t.is_cuda or TRITON_INTERPRET):
        return t.contiguous()
    b, m, n = t.shape
    out = torch.empty((b, m, n), dtype=t.dtype, device=t.device)
    grid = (b, triton.cdiv(m, _TILE), triton.cdiv(n, _TILE))
    _transpose_kernel[grid](t, out, m, n, t.stride(0), t.stride(2), TILE=_TILE, num_warps=4)
    return out


def is_channels_last(t: torch.Tensor) -> bool:
    """Whether the 4-D t (B, D, H, W) lies in channels-last memory (and not also contiguous)."""
    return not t.is_contiguous() and t.permute(0, 2, 3, 1).is_contiguous()


def _planes(t: torch.Tensor) -> torch.Tensor:
    if not is_channels_last(t):
        return t.contiguous()
    b, d, h, w = t.shape
    return transpose_copy(t.view(b, d, h * w)).view(b, d, h, w)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    if is_channels_last(t):
        return t
    b, d, h, w = t.shape
    return transpose_copy(t.contiguous().view(b, d, h * w).transpose(1, 2)).view(b, h, w, d).permute(0, 3, 1, 2)


class _Relayout(torch.autograd.Function):
    """To contiguous planes (planes=True) or to channels-last memory; the gradient the other way."""

    @staticmethod
    def forward(ctx, t, planes: bool):
        ctx.planes = planes
        return _planes(t) if planes else _channels_last(t)

    @staticmethod
    def backward(ctx, g):
        return (_channels_last(g) if ctx.planes else _planes(g)), None


def to_planes(t: torch.Tensor) -> torch.Tensor:
    """t (B, D, H, W) with contiguous planes (a copy by tiled transpose from channels-last memory,
    `.contiguous()` from any other layout); its gradient goes back in channels-last memory."""
    return _Relayout.apply(t, True)


def from_planes(t: torch.Tensor) -> torch.Tensor:
    """t (B, D, H, W) in channels-last memory (a copy by tiled transpose), seen as (B, D, H, W);
    its gradient is made into contiguous planes the same way."""
    return _Relayout.apply(t, False)
