"""Fused SS2D on the GPU in Triton: cross-scan, selective scan and cross-merge, no scanned copies.

`ss2d_scan_triton` has the signature and semantics of `sr_core.kernels.reference.ss2d_scan`
and registers itself as the "triton" backend on import. The per-position projection x_proj
(dt_lowrank, B, C in spatial order, (B, 4, R + 2N, L)) is one batched GEMM in PyTorch, so
autograd carries its gradient to x and x_proj_weight; everything after it is the
`_SS2DScan` autograd function whose forward and backward are the Triton kernels of
triton_ss2d_fwd.py and triton_ss2d_bwd.py (see their docstrings for the tiling): x is read
in place, delta and the four directional outputs live only in registers, and y is written
once. Forward: chunk states, a carry scan over chunks, output (3 launches); backward: the
same three for the adjoint plus one transposing copy of dy.

This module imports on machines without Triton or a GPU: then nothing is registered (no
Triton), or the backend is registered but only used for CUDA tensors (`backend="auto"`) or
on request (tests run it on the CPU under TRITON_INTERPRET=1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from sr_core.kernels import TRITON_INTERPRET, register_backend
from sr_core.kernels.reference import project_positions

try:
    import triton

    from sr_core.kernels.triton_ss2d_bwd import _bwd_kernel, _bwd_state_kernel
    from sr_core.kernels.triton_ss2d_fwd import _fwd_out_kernel, _fwd_state_kernel, carry_kernel
except ImportError:  # no Triton: the backend is simply not registered
    triton = None

__all__ = ["ss2d_scan_triton"]

# Fill every buffer a kernel must write with NaN first, so that an element it misses shows
# up in the result. For tests; costs one fill per buffer.
DEBUG_POISON = os.environ.get("SR_TRITON_POISON", "") == "1"

_BLOCK_S = 64  # segments per step of the carry pass
_BLOCK_DC = 32  # channels per program of the carry pass (128-byte rows)
_ELEMS = 2048  # tile elements (channels x positions) per program
KERNELS = ("state", "out", "bwd_state", "bwd")
# Register caps (ptxas .maxnreg). Uncapped, the forward kernels took 160-255 registers a thread,
# which left room for 2-3 programs (8-12 warps) per multiprocessor: latency-bound at an IPC of
# 1.4-1.8 (ncu, H100). At 128 they fit 4 programs and spill little; measured on an H100 at
# batch 64 (benchmarks/RESULTS.md): forward 21, 18, 15, 10% faster at stages 1-4. The backward kernel
# stays uncapped: every cap tried (128, 168, with 4 or 8 warps) spilled and ran slower.
_MAXNREG = {"state": 128, "out": 128, "bwd_state": 128}


@dataclass(frozen=True)
class _Config:
    th: int  # tile height: the segment length of the column directions
    tw: int  # tile width: the segment length of the row directions
    block_d: int  # channels per program (forward)
    r_pad: int  # dt rank padded for tl.dot
    num_warps: int
    bwd_block_d: int  # the backward's (its kernels hold more live tensors)
    bwd_num_warps: int
    maxnreg: tuple[tuple[str, int], ...] = ()  # per-kernel register caps (see _MAXNREG)


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _config(h: int, w: int, d: int, r: int, tile_h: int | None = None, tile_w: int | None = None,
            block_d: int | None = None, num_warps: int | None = None, bwd_block_d: int | None = None,
            bwd_num_warps: int | None = None, fp32: bool = False,
            maxnreg: dict[str, int] | None = None) -> _Config:
    """Tile sizes: up to 8 x 16 spatial tiles and about 2048 elements per program.

    Longer segments mean fewer carries to store and scan, but a whole tile of every operand
    lives in registers (larger tiles spill); tl.dot needs at least 16 positions, channels
    and ranks.
    """
    th = tile_h or min(8, _pow2(h))
    tw = tile_w or min(16, _pow2(w))
    while th * tw < 16:
        if th <= tw:
            th *= 2
        else:
            tw *= 2
    bd = block_d or max(16, min(64, _ELEMS // (th * tw), _pow2(d)))
    bwd_bd = bwd_block_d or bd
    r_pad = max(16, _pow2(r))
    # Measured on an H200 (stage shapes, batch 64): 4 warps per ~2048-element tile beat 8
    # for every forward kernel and for the backward (fewer, fuller threads amortise the
    # per-thread scan and reduction work), except the backward with a wide dt rank
    # (R_PAD 64, stage 4), whose dot operands need 8 warps' registers (the forward too in
    # fp32, where the 3-pass TF32 dot holds more).
    nw = num_warps or (4 if bd * th * tw <= 2048 and not (fp32 and r_pad > 32) else 8)
    bwd_nw = bwd_num_warps or (4 if bwd_bd * th * tw <= 2048 and r_pad <= 32 else 8)
    caps = dict(_MAXNREG, **(maxnreg or {}))
    unknown = set(caps) - set(KERNELS)
    if unknown:
        raise ValueError(f"maxnreg: unknown kernel(s) {sorted(unknown)}; known: {', '.join(KERNELS)}")
    return _Config(th, tw, bd, r_pad, nw, bwd_bd, bwd_nw, tuple(sorted((k, int(v)) for k, v in caps.items() if v)))


def _empty(shape, dtype, device) -> torch.Tensor:
    if DEBUG_POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


class _Geometry:
    """Sizes shared by the forward and backward launches."""

    def __init__(self, x: torch.Tensor, x_dbl: torch.Tensor, dtw: torch.Tensor, A_logs: torch.Tensor, cfg: _Config,
                 backward: bool = False):
        self.b, self.d, self.h, self.w = x.shape
        self.r = dtw.shape[2]
        self.n = A_logs.shape[1]
        self.c = x_dbl.shape[2]
        self.cfg = cfg
        self.n_th = triton.cdiv(self.h, cfg.th)
        self.n_tw = triton.cdiv(self.w, cfg.tw)
        self.n_tiles = self.n_th * self.n_tw
        self.block_d = cfg.bwd_block_d if backward else cfg.block_d
        self.num_warps = cfg.bwd_num_warps if backward else cfg.num_warps
        self.n_dblk = triton.cdiv(self.d, self.block_d)
        self.s_rows = self.h * self.n_tw  # segments of a row direction
        self.s_cols = self.w * self.n_th
        self.s_max = max(self.s_rows, self.s_cols)
        self.grid = (self.b * self.n_tiles * self.n_dblk,)
        # Half-precision dt projections go to the tensor cores. The interpreter's dot
        # cannot multiply bf16 (numpy has no bf16), so there it widens bf16 to fp32.
        self.dot_lowp = x_dbl.dtype == torch.float16 or (x_dbl.dtype == torch.bfloat16 and not TRITON_INTERPRET)

    def common(self):
        return (self.h, self.w, self.d, self.n_th, self.n_tw, self.n_tiles, self.n_dblk, self.s_max)

    def meta(self, kernel: str):
        c = self.cfg
        extra = {"maxnreg": v for k, v in c.maxnreg if k == kernel}
        return dict(R=self.r, N=self.n, R_PAD=c.r_pad, BLOCK_D=self.block_d, TH=c.th, TW=c.tw,
                    DOT_LOWP=self.dot_lowp, num_warps=self.num_warps, **extra)

    def carry(self, sums: torch.Tensor, dsum: torch.Tensor, A_logs: torch.Tensor, backward: int) -> None:
        block_s = min(_BLOCK_S, _pow2(self.s_max))
        block_dc = min(_BLOCK_DC, _pow2(self.d))
        grid = (self.b * 4 * self.n, triton.cdiv(self.d, block_dc))
        carry_kernel[grid](sums, dsum, A_logs, self.d, self.s_rows, self.s_cols, self.s_max,
                           N=self.n, BACKWARD=backward, BLOCK_S=block_s, BLOCK_DC=block_dc, num_warps=4)


class _SS2DScan(torch.autograd.Function):
    """(x, x_dbl, dt weight, dt bias, A_logs, Ds) -> merged y (B, H, W, D), Triton both ways."""

    @staticmethod
    def forward(ctx, x, x_dbl, dtw, dtb, A_logs, Ds, cfg: _Config):
        dtw, dtb, A_logs, Ds = (t.contiguous() for t in (dtw, dtb, A_logs, Ds))
        x_dbl = x_dbl.contiguous()
        g = _Geometry(x, x_dbl, dtw, A_logs, cfg)
        dev = x.device
        # Segment summaries, channels last so that every access is a contiguous row of D.
        sums = _empty((g.b, 4, g.n, g.s_max, g.d), torch.float32, dev)
        dsum = _empty((g.b, 4, 1, g.s_max, g.d), torch.float32, dev)
        _fwd_state_kernel[g.grid](x, x_dbl, dtw, dtb, A_logs, sums, dsum, *g.common(), *x.stride(), **g.meta("state"))
        g.carry(sums, dsum, A_logs, backward=0)
        y = _empty((g.b, g.h, g.w, g.d), x.dtype, dev)
        _fwd_out_kernel[g.grid](x, x_dbl, dtw, dtb, A_logs, Ds, sums, y, *g.common(), *x.stride(), *y.stride(),
                                **g.meta("out"))
        # Only the segment carries are kept for the backward (fp32, 2 floats per segment).
        ctx.save_for_backward(x, x_dbl, dtw, dtb, A_logs, Ds, sums, dsum)
        ctx.cfg = cfg
        return y

    @staticmethod
    def backward(ctx, gy):
        x, x_dbl, dtw, dtb, A_logs, Ds, sums, dsum = ctx.saved_tensors
        g = _Geometry(x, x_dbl, dtw, A_logs, ctx.cfg, backward=True)
        dev = x.device
        # dy arrives channels last (B, H, W, D); the kernels work in x's (B, D, H, W) order,
        # where a tile row is contiguous. One transposing copy here is far cheaper than
        # the layout conversions the mismatch otherwise costs inside every kernel.
        gy = gy.permute(0, 3, 1, 2).contiguous()
        sumq = _empty((g.b, 4, g.n, g.s_max, g.d), torch.float32, dev)
        _bwd_state_kernel[g.grid](x_dbl, dtw, dtb, A_logs, gy, sumq, *g.common(), *gy.stride(), **g.meta("bwd_state"))
        g.carry(sumq, dsum, A_logs, backward=1)
        dx = _empty((g.b, g.d, g.h, g.w), x.dtype, dev)
        # Atomic targets start at zero. Parameter partials: a few rows, shared round-robin.
        dxdbl = torch.zeros((g.b, 4, g.c, g.h * g.w), dtype=torch.float32, device=dev)
        n_part = min(g.b * g.n_tiles, 64)
        pdw = torch.zeros((n_part, 4, g.d, g.r), dtype=torch.float32, device=dev)
        pdb = torch.zeros((n_part, 4, g.d), dtype=torch.float32, device=dev)
        pda = torch.zeros((n_part, 4, g.d, g.n), dtype=torch.float32, device=dev)
        pdd = torch.zeros((n_part, 4, g.d), dtype=torch.float32, device=dev)
        _bwd_kernel[g.grid](x, x_dbl, dtw, dtb, A_logs, Ds, sums, sumq, gy, dx, dxdbl, pdw, pdb, pda, pdd,
                            *g.common(), n_part, *x.stride(), *gy.stride(), *dx.stride(), **g.meta("bwd"))
        return (dx, dxdbl.to(x_dbl.dtype), pdw.sum(0).to(dtw.dtype), pdb.sum(0).to(dtb.dtype),
                pda.sum(0).reshape(4 * g.d, g.n).to(A_logs.dtype), pdd.sum(0).reshape(4 * g.d).to(Ds.dtype), None)


def ss2d_scan_triton(
    x: torch.Tensor,
    x_proj_weight: torch.Tensor,
    dt_projs_weight: torch.Tensor,
    dt_projs_bias: torch.Tensor,
    A_logs: torch.Tensor,
    Ds: torch.Tensor,
    *,
    tile_h: int | None = None,
    tile_w: int | None = None,
    block_d: int | None = None,
    num_warps: int | None = None,
    bwd_block_d: int | None = None,
    bwd_num_warps: int | None = None,
    maxnreg: dict[str, int] | None = None,
) -> torch.Tensor:
    """SS2D core on Triton kernels; same arguments and result as `reference.ss2d_scan`.

    Args:
        x: (B, D, H, W), any strides.
        x_proj_weight: (4, R + 2N, D).
        dt_projs_weight: (4, D, R).
        dt_projs_bias: (4, D).
        A_logs: (4*D, N), A = -exp(A_logs).
        Ds: (4*D,).
        tile_h, tile_w, block_d, num_warps, bwd_block_d, bwd_num_warps: override the tiling
            (powers of two; for tests and tuning).
        maxnreg: per-kernel register caps, {"state"|"out"|"bwd_state"|"bwd": registers}, in
            place of the defaults (_MAXNREG); 0 removes a cap.

    Returns:
        (B, H, W, D) in x's dtype, computed in fp32.
    """
    if triton is None:
        raise RuntimeError("Triton is not installed")
    b, d, h, w = x.shape
    cfg = _config(h, w, d, dt_projs_weight.shape[2], tile_h, tile_w, block_d, num_warps, bwd_block_d, bwd_num_warps,
                  fp32=x.dtype == torch.float32 and not torch.is_autocast_enabled(x.device.type), maxnreg=maxnreg)
    x_dbl = project_positions(x_proj_weight, x, x.dtype)
    return _SS2DScan.apply(x, x_dbl, dt_projs_weight, dt_projs_bias, A_logs, Ds, cfg)


if triton is not None:
    register_backend("triton", ss2d_scan_triton)
