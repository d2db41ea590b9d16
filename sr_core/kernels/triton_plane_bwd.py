"""Plane-tiled Triton SS2D backward (d_state 1): the adjoint as a reverse scan, h recomputed.

One program per (batch, channel block), whole planes, the same orders as the forward
(triton_plane_fwd.py). Per direction, with g_t = dL/dh_t and c_t = C_t dy_t:

    h    = scan of (a, delta B u)                        (recomputed, never stored)
    g_t  = c_t + a_{t+1} g_{t+1}                         (a scan against the direction)
    du  += g delta B  (+ sum_k D_k dy once)
    d(delta) = g (a h_prev A + B u),  a h_prev = h - delta B u   (no shifted copy of h)
    dz   = d(delta) sigmoid(z),       sigmoid(z) = exp(z - softplus(z))

The adjoint's a_{t+1} is one position later in scan order; `adjoint_combine` carries it in
the scan's elements, so nothing is shifted in registers.

Reductions, all in registers first:
* per channel (dt weight and bias, A_logs, D): summed over the plane, then added into a few
  fp32 partial rows (n_part, shared round-robin by batch), summed by the caller;
* per position (dB, dC: one value per direction and position, shared by all channels):
  summed over the channel block, then atomically added into a fp32 d(x_dbl): B * n_dblk *
  4 * 2 * H * W relaxed atomics, most for narrow blocks (stage 1 holds one 64 x 64 plane).
  Walking several blocks a program and summing dB and dC over them in registers first
  would make fewer, but the eight (HP * WP,) accumulators held across that loop spilled
  5.5 KB a thread at stage 1 when compiled for sm_90 (ptxas), against 140 B without it;
* d(dt_lowrank), R values a direction and position, the same way on wide blocks (with a
  tl.dot), or (DT_GEMM, the default: blocks too narrow for tl.dot) dz is stored and
  `_dt_grads_kernel` (or two host GEMMs) forms d(dt_lowrank) and d(dt_w) from it after the
  launch: R atomics per channel and position would outnumber everything else the kernel does;
* du for the four directions is summed in row-major order and written once.
Where a sum would cross the program's warps (through shared memory, behind a barrier that
holds the whole multiprocessor at one program each), PLANE_CHUNK and POS_GROUP split it into
partial sums inside warps, each added atomically (`add_over_plane`, `add_over_channels`).
"""

from __future__ import annotations

import triton
import triton.language as tl

from sr_core.kernels.triton_plane_fwd import (
    direction_coeffs,
    dt_operands,
    from_map,
    map_order,
    map_ptrs,
    mixed_dot,
    plane_order,
    plane_setup,
    skip_weight,
    to_map,
    to_scan_order,
    xdbl_row,
)
from sr_core.kernels.triton_ss2d_bwd import adjoint_combine
from sr_core.kernels.triton_ss2d_fwd import exp_fast, lin_combine, widen


@triton.jit
def add_pair(a1, b1, a2, b2):
    """Two sums at once, for `tl.reduce` over a pair of tiles."""
    return a1 + a2, b1 + b2


@triton.jit
def add_over_plane(ptrs, t, dmask, BLOCK_D: tl.constexpr, LP: tl.constexpr, CHUNK: tl.constexpr):
    """ptrs (BLOCK_D,) += t (BLOCK_D, LP) summed over its positions, atomically.

    CHUNK 0 (or the plane): one sum over the plane, which crosses the program's warps (through
    shared memory, behind a barrier); otherwise a sum a run of CHUNK positions (inside a warp
    where a warp holds whole runs: shuffles only) and LP / CHUNK atomics a channel.
    """
    if CHUNK == 0 or CHUNK >= LP:
        tl.atomic_add(ptrs, tl.sum(t, axis=1), mask=dmask, sem="relaxed")
    else:
        n: tl.constexpr = LP // CHUNK
        part = tl.sum(tl.reshape(t, (BLOCK_D, n, CHUNK)), axis=2)
        # Addresses and mask as full blocks, never broadcast: Triton 3.7's interpreter applies
        # only one of the atomics that a broadcast one-element pointer or mask block stands for
        # (the GPU all of them; the SASS is the same either way).
        full = tl.zeros((BLOCK_D, n), dtype=tl.int32)
        tl.atomic_add(ptrs[:, None] + full, part, mask=dmask[:, None] & (full == 0), sem="relaxed")


@triton.jit
def add_over_channels(ptrs, t, valid, BLOCK_D: tl.constexpr, LP: tl.constexpr, GROUP: tl.constexpr):
    """ptrs (LP,) += t (BLOCK_D, LP) summed over its channels, atomically.

    GROUP 0 (or the block): one sum over the channels (across warps where the block spans
    several); otherwise a sum a group of GROUP channels and BLOCK_D / GROUP atomics a position.
    """
    if GROUP == 0 or GROUP >= BLOCK_D:
        tl.atomic_add(ptrs, tl.sum(t, axis=0), mask=valid, sem="relaxed")
    else:
        n: tl.constexpr = BLOCK_D // GROUP
        part = tl.sum(tl.reshape(t, (n, GROUP, LP)), axis=1)
        full = tl.zeros((n, LP), dtype=tl.int32)  # full blocks, as in `add_over_plane`
        tl.atomic_add(ptrs[None, :] + full, part, mask=valid[None, :] & (full == 0), sem="relaxed")


@triton.jit
def dt_grads(xdbl_ptr, dtw_ptr, dxdbl_ptr, pdw_ptr, dz_ptr, dz, b, k: tl.constexpr, prow, offs_d, dmask, H, W, D,
             R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr,
             USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr, DT_GEMM: tl.constexpr, DENSE: tl.constexpr):
    """From dz (BLOCK_D, positions in row-major order): the gradients of dt_w[k] and of dt_lowrank.

    DT_GEMM: store dz (B, 4, D, H * W) in spatial order, coalesced, and leave both to two GEMMs
    on the host. Otherwise: dt_w's
    into the partial row prow and dt_lowrank's by atomics, a tl.dot each on a wide block.
    """
    C: tl.constexpr = R + 2
    L = H * W
    kd = k * D + offs_d
    if DT_GEMM:
        _i, _j, spr, vr = plane_order(H, W, HP, WP, DENSE)
        rows = (b.to(tl.int64) * 4 + k) * D + offs_d
        tl.store(dz_ptr + rows[:, None] * L + spr[None, :], dz.to(dz_ptr.dtype.element_ty),
                 mask=dmask[:, None] & vr[None, :])
    else:
        _i, _j, sp, valid = plane_order(H, W, HP, WP, DENSE)
        xrow = (b.to(tl.int64) * 4 + k) * C
        if USE_DOT:
            dtl, wt, r, rmask = dt_operands(xdbl_ptr, dtw_ptr, b, k, offs_d, dmask, sp, valid, L, D, R, C, R_PAD)
            dw = mixed_dot(dz, tl.trans(dtl), dtl, DOT_LOWP)
            ddtl = mixed_dot(tl.trans(wt), dz, dtl, DOT_LOWP)
            tl.atomic_add(pdw_ptr + (prow * 4 * D + kd[:, None]) * R + r[None, :], dw,
                          mask=dmask[:, None] & rmask[None, :], sem="relaxed")
            tl.atomic_add(dxdbl_ptr + (xrow + r[:, None]) * L + sp[None, :], ddtl,
                          mask=rmask[:, None] & valid[None, :], sem="relaxed")
        else:
            for rr in tl.static_range(R):
                row = xdbl_row(xdbl_ptr, b, k, rr, sp, valid, L, C)
                tl.atomic_add(pdw_ptr + (prow * 4 * D + kd) * R + rr, tl.sum(dz * row, axis=1), mask=dmask,
                              sem="relaxed")
                w_r = tl.load(dtw_ptr + kd * R + rr, mask=dmask, other=0.0).to(tl.float32)
                tl.atomic_add(dxdbl_ptr + (xrow + rr) * L + sp, tl.sum(w_r[:, None] * dz, axis=0), mask=valid,
                              sem="relaxed")


@triton.jit
def bwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, dxdbl_ptr, pdw_ptr, pdb_ptr, pda_ptr, dz_ptr, uk, gyk,
                  b, k: tl.constexpr, prow, offs_d, dmask, H, W, D,
                  R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr,
                  USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr, DT_GEMM: tl.constexpr,
                  TRANS: tl.constexpr, DENSE: tl.constexpr, PLANE_CHUNK: tl.constexpr, POS_GROUP: tl.constexpr,
                  SP_LG2: tl.constexpr = False):
    """Direction k's gradients; returns its part of du, row-major like uk and gyk. TRANS as
    in the forward's `fwd_direction`: only the scans run in column order (their operands
    transposed in, h and g back), so every read, store and atomic stays in row-major order,
    coalesced. DENSE as in `plane_order`; PLANE_CHUNK and POS_GROUP: how the sums over the plane
    and over the channels are split (`add_over_plane`, `add_over_channels`); SP_LG2 as in
    `direction_coeffs` (the forward's softplus, recomputed the same way)."""
    C: tl.constexpr = R + 2
    L = H * W
    _i, _j, sp, valid = plane_order(H, W, HP, WP, DENSE)
    z, delta, A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp, valid,
                                              L, D, R, R_PAD, BLOCK_D, HP * WP, USE_DOT, DOT_LOWP, SP_LG2)
    bb = delta * Bk * uk
    a_s = to_scan_order(a, TRANS, BLOCK_D, HP, WP)
    _, h = tl.associative_scan((a_s, to_scan_order(bb, TRANS, BLOCK_D, HP, WP)), 1, lin_combine, reverse=k >= 2)
    _, _, g = tl.associative_scan((a_s, tl.full(a.shape, 1.0, tl.float32),
                                   to_scan_order(Ck * gyk, TRANS, BLOCK_D, HP, WP)), 1, adjoint_combine,
                                  reverse=k < 2)
    h = to_scan_order(h, TRANS, BLOCK_D, HP, WP, True)
    g = to_scan_order(g, TRANS, BLOCK_D, HP, WP, True)
    ah = h - (Bk * uk) * delta  # a_t h_{t-1}: bb again (another association, so not bb kept live across the scans)
    gd = g * delta
    kd = k * D + offs_d
    dz = tl.where(dmask[:, None] & valid[None, :], g * (ah * A[:, None] + Bk * uk) * exp_fast(z - delta), 0.0)
    # d/dA_logs = A d/dA, d/dA = sum_t g_t a_t h_{t-1} delta_t; d(dt bias) = sum_t dz_t.
    LP: tl.constexpr = HP * WP
    if PLANE_CHUNK == 0:
        # One reduction of both over the plane: one pass through shared memory, not two.
        sum_gah, sum_dz = tl.reduce((gd * ah, dz), 1, add_pair)
        tl.atomic_add(pda_ptr + prow * 4 * D + kd, sum_gah * A, mask=dmask, sem="relaxed")
        tl.atomic_add(pdb_ptr + prow * 4 * D + kd, sum_dz, mask=dmask, sem="relaxed")
    else:
        add_over_plane(pda_ptr + prow * 4 * D + kd, gd * ah * A[:, None], dmask, BLOCK_D, LP, PLANE_CHUNK)
        add_over_plane(pdb_ptr + prow * 4 * D + kd, dz, dmask, BLOCK_D, LP, PLANE_CHUNK)
    xrow = (b.to(tl.int64) * 4 + k) * C
    add_over_channels(dxdbl_ptr + (xrow + R) * L + sp, gd * uk, valid, BLOCK_D, LP, POS_GROUP)
    add_over_channels(dxdbl_ptr + (xrow + R + 1) * L + sp, gyk * h, valid, BLOCK_D, LP, POS_GROUP)
    dt_grads(xdbl_ptr, dtw_ptr, dxdbl_ptr, pdw_ptr, dz_ptr, dz, b, k, prow, offs_d, dmask, H, W, D,
             R, R_PAD, BLOCK_D, HP, WP, USE_DOT, DOT_LOWP, DT_GEMM, DENSE)
    return gd * Bk


@triton.jit
def _plane_bwd_kernel(x_ptr, xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, ds_ptr, gy_ptr,
                      dx_ptr, dxdbl_ptr, pdw_ptr, pdb_ptr, pda_ptr, pdd_ptr, dz_ptr,
                      H, W, D, n_dblk, n_part,
                      sxb, sxd, sxh, sxw, sgb, sgd, sgh, sgw, sdb, sdd, sdh, sdw,
                      R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
                      HP: tl.constexpr, WP: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr,
                      DT_GEMM: tl.constexpr, DENSE: tl.constexpr, PART: tl.constexpr = 0,
                      XT: tl.constexpr = False, ACCUM: tl.constexpr = False,
                      PLANE_CHUNK: tl.constexpr = 0, POS_GROUP: tl.constexpr = 0, SP_LG2: tl.constexpr = False,
                      EVEN_D: tl.constexpr = False):
    """Every gradient of one (batch, channel block): dx stored, the rest reduced (see the module).

    PART as in the forward: 0 all four directions (the column scans on transposed operands),
    1 the row directions with the D terms, 2 directions 1 and 3 as the row directions of the
    transposed x, dy and x_dbl the caller passes (no D terms). DENSE (`plane_order`; x, dy
    and dx contiguous): the planes are addressed as runs of WP. XT and ACCUM as in the
    forward: x, dy and dx transposed views, and dx added to. PLANE_CHUNK, POS_GROUP, SP_LG2: as in
    `bwd_direction`.
    """
    b, offs_d, dmask = plane_setup(n_dblk, D, BLOCK_D, EVEN_D)
    ir, jr, _sp, vr = map_order(H, W, HP, WP, DENSE, XT)
    mr = dmask[:, None] & vr[None, :]
    u = tl.load(map_ptrs(x_ptr, b, offs_d, ir, jr, sxb, sxd, sxh, sxw, HP, WP, DENSE, XT), mask=mr, other=0.0)
    u = from_map(widen(u), BLOCK_D, HP, WP, XT)
    gy = tl.load(map_ptrs(gy_ptr, b, offs_d, ir, jr, sgb, sgd, sgh, sgw, HP, WP, DENSE, XT), mask=mr, other=0.0)
    gy = from_map(widen(gy), BLOCK_D, HP, WP, XT)
    prow = b % n_part
    if PART == 2:
        du = tl.zeros((BLOCK_D, HP * WP), dtype=tl.float32)
    else:
        du = skip_weight(ds_ptr, offs_d, dmask, D)[:, None] * gy
    if PART == 0:
        for k in tl.static_range(4):
            du += bwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, dxdbl_ptr, pdw_ptr, pdb_ptr, pda_ptr, dz_ptr,
                                u, gy, b, k, prow, offs_d, dmask, H, W, D, R, R_PAD, BLOCK_D, HP, WP, USE_DOT,
                                DOT_LOWP, DT_GEMM, k % 2, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2)
    else:
        for k in tl.static_range(PART - 1, 4, 2):
            du += bwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, dxdbl_ptr, pdw_ptr, pdb_ptr, pda_ptr, dz_ptr,
                                u, gy, b, k, prow, offs_d, dmask, H, W, D, R, R_PAD, BLOCK_D, HP, WP, USE_DOT,
                                DOT_LOWP, DT_GEMM, 0, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2)
    if PART != 2:
        # y = ... + (sum_k D_k) u: every D_k has the same gradient, stored once per channel. After
        # the directions, so that the first direction's loads are not held up by its reduction.
        add_over_plane(pdd_ptr + prow * D + offs_d, gy * u, dmask, BLOCK_D, HP * WP, PLANE_CHUNK)
    du = to_map(du, BLOCK_D, HP, WP, XT)
    dx_ptrs = map_ptrs(dx_ptr, b, offs_d, ir, jr, sdb, sdd, sdh, sdw, HP, WP, DENSE, XT)
    if ACCUM:
        du += widen(tl.load(dx_ptrs, mask=mr, other=0.0))
    tl.store(dx_ptrs, du.to(dx_ptr.dtype.element_ty), mask=mr)


@triton.jit
def _dt_grads_kernel(dz_ptr, xdbl_ptr, dtw_ptr, dxdbl_ptr, pdw_ptr, L, D, n_pblk, n_dsplit, d_per, n_part,
                     R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_P: tl.constexpr,
                     DOT_LOWP: tl.constexpr, SPLIT: tl.constexpr):
    """The dt projection's gradients from the stored dz (B, 4, D, L), reading dz once (dt_grad
    "fused"): d(dt_lowrank)[b, k] = dt_w[k]^T dz[b, k] and d(dt_w)[k] = sum_b dz[b, k] dt_lowrank[b, k]^T.

    One program per (image and direction, d_per channels, BLOCK_P positions), walking its
    channels BLOCK_D at a time: a tl.dot each way a step. d(dt_lowrank) sums over the channels
    in registers and is stored into d(x_dbl)'s first R rows, which the scan kernel left at zero
    (SPLIT: the channels are split over n_dsplit programs, which add theirs atomically); d(dt_w)
    sums over positions in the tl.dot and is added into n_part fp32 partial rows (round-robin
    by program), summed by the caller.
    """
    C: tl.constexpr = R + 2
    pid = tl.program_id(0)
    pblk = pid % n_pblk
    rest = pid // n_pblk
    split = rest % n_dsplit
    bk = rest // n_dsplit  # b * 4 + k
    k = bk % 4
    offs_p = pblk * BLOCK_P + tl.arange(0, BLOCK_P)
    pmask = offs_p < L
    r = tl.arange(0, R_PAD)
    rmask = r < R
    rows = bk.to(tl.int64) * C + r
    xmask = rmask[:, None] & pmask[None, :]
    dtl = tl.load(xdbl_ptr + rows[:, None] * L + offs_p[None, :], mask=xmask, other=0.0)
    acc = tl.zeros((R_PAD, BLOCK_P), dtype=tl.float32)
    prow = pid % n_part
    d_start = split * d_per
    for d0 in range(d_start, tl.minimum(D, d_start + d_per), BLOCK_D):
        offs_d = d0 + tl.arange(0, BLOCK_D)
        dmask = offs_d < D
        dzt = tl.load(dz_ptr + (bk.to(tl.int64) * D + offs_d[:, None]) * L + offs_p[None, :],
                      mask=dmask[:, None] & pmask[None, :], other=0.0)
        wmask = dmask[:, None] & rmask[None, :]
        wt = tl.load(dtw_ptr + (k * D + offs_d[:, None]) * R + r[None, :], mask=wmask, other=0.0)
        acc += mixed_dot(tl.trans(wt), dzt, dzt, DOT_LOWP)
        dw = mixed_dot(dzt, tl.trans(dtl), dzt, DOT_LOWP)
        tl.atomic_add(pdw_ptr + (prow * 4 * D + k * D + offs_d[:, None]) * R + r[None, :], dw, mask=wmask,
                      sem="relaxed")
    out = dxdbl_ptr + rows[:, None] * L + offs_p[None, :]
    if SPLIT:
        tl.atomic_add(out, acc, mask=xmask, sem="relaxed")
    else:
        tl.store(out, acc, mask=xmask)
