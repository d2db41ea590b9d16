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
* per position (dB, dC, d(dt_lowrank): one value per direction and position, shared by all
  channels): summed over the channel block, then atomically added into a fp32 d(x_dbl).
  That is B * n_dblk * 4 * (R + 2) * H * W atomics: narrow channel blocks (stage 1 holds one
  or two 64 x 64 planes) pay the most, which the benchmark's timing shows;
* du for the four directions (the column ones in column order, transposed back once) is
  written once.
"""

from __future__ import annotations

import triton
import triton.language as tl

from sr_core.kernels.triton_plane_fwd import (
    direction_coeffs,
    dt_operands,
    load_plane,
    mixed_dot,
    plane_frame,
    plane_in_order,
    plane_ptrs,
    skip_weight,
    to_rows,
    xdbl_row,
)
from sr_core.kernels.triton_ss2d_bwd import adjoint_combine
from sr_core.kernels.triton_ss2d_fwd import lin_combine


@triton.jit
def dt_grads(xdbl_ptr, dtw_ptr, dxdbl_ptr, pdw_ptr, dz, b, k: tl.constexpr, prow, offs_d, dmask, sp, valid, L, D,
             R: tl.constexpr, R_PAD: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr):
    """From dz (BLOCK_D, LP): dt_w[k]'s gradient (into partial row prow) and d(dt_lowrank) (atomics)."""
    C: tl.constexpr = R + 2
    xrow = (b.to(tl.int64) * 4 + k) * C
    kd = k * D + offs_d
    if USE_DOT:
        dtl, wt, r, rmask = dt_operands(xdbl_ptr, dtw_ptr, b, k, offs_d, dmask, sp, valid, L, D, R, C, R_PAD)
        dw = mixed_dot(dz, tl.trans(dtl), dtl, DOT_LOWP)
        ddtl = mixed_dot(tl.trans(wt), dz, dtl, DOT_LOWP)
        tl.atomic_add(pdw_ptr + (prow * 4 * D + kd[:, None]) * R + r[None, :], dw,
                      mask=dmask[:, None] & rmask[None, :])
        tl.atomic_add(dxdbl_ptr + (xrow + r[:, None]) * L + sp[None, :], ddtl, mask=rmask[:, None] & valid[None, :])
    else:
        for rr in tl.static_range(R):
            row = xdbl_row(xdbl_ptr, b, k, rr, sp, valid, L, C)
            tl.atomic_add(pdw_ptr + (prow * 4 * D + kd) * R + rr, tl.sum(dz * row, axis=1), mask=dmask)
            w_r = tl.load(dtw_ptr + kd * R + rr, mask=dmask, other=0.0).to(tl.float32)
            tl.atomic_add(dxdbl_ptr + (xrow + rr) * L + sp, tl.sum(w_r[:, None] * dz, axis=0), mask=valid)


@triton.jit
def _plane_bwd_kernel(x_ptr, xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, ds_ptr, gy_ptr,
                      dx_ptr, dxdbl_ptr, pdw_ptr, pdb_ptr, pda_ptr, pdd_ptr,
                      H, W, D, n_dblk, n_part,
                      sxb, sxd, sxh, sxw, sgb, sgd, sgh, sgw, sdb, sdd, sdh, sdw,
                      R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
                      HP: tl.constexpr, WP: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr,
                      COL_LOAD: tl.constexpr):
    """Every gradient of one (batch, channel block): dx stored, the rest reduced (see the module)."""
    LP: tl.constexpr = HP * WP
    C: tl.constexpr = R + 2
    L = H * W
    b, offs_d, dmask, ir, jr, spr, vr, ic, jc, spc, vc, mr = plane_frame(n_dblk, H, W, D, BLOCK_D, HP, WP)
    u = load_plane(x_ptr, b, offs_d, ir, jr, sxb, sxd, sxh, sxw, mr)
    gy = load_plane(gy_ptr, b, offs_d, ir, jr, sgb, sgd, sgh, sgw, mr)
    u_c = plane_in_order(x_ptr, u, b, offs_d, dmask, ic, jc, vc, sxb, sxd, sxh, sxw, BLOCK_D, HP, WP, COL_LOAD)
    gy_c = plane_in_order(gy_ptr, gy, b, offs_d, dmask, ic, jc, vc, sgb, sgd, sgh, sgw, BLOCK_D, HP, WP, COL_LOAD)
    prow = b % n_part
    du = skip_weight(ds_ptr, offs_d, dmask, D)[:, None] * gy
    du_c = tl.zeros((BLOCK_D, LP), dtype=tl.float32)
    # y = ... + (sum_k D_k) u: every D_k has the same gradient, stored once per channel.
    tl.atomic_add(pdd_ptr + prow * D + offs_d, tl.sum(gy * u, axis=1), mask=dmask)
    for k in tl.static_range(4):
        if k % 2 == 1:
            sp, valid, uk, gyk = spc, vc, u_c, gy_c
        else:
            sp, valid, uk, gyk = spr, vr, u, gy
        z, delta, A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp,
                                                  valid, L, D, R, R_PAD, BLOCK_D, LP, USE_DOT, DOT_LOWP)
        bb = delta * Bk * uk
        _, h = tl.associative_scan((a, bb), 1, lin_combine, reverse=k >= 2)
        _, _, g = tl.associative_scan((a, tl.full(a.shape, 1.0, tl.float32), Ck * gyk), 1, adjoint_combine,
                                      reverse=k < 2)
        ah = h - bb  # a_t h_{t-1}
        gd = g * delta
        if k % 2 == 1:
            du_c += gd * Bk
        else:
            du += gd * Bk
        kd = k * D + offs_d
        # d/dA_logs = A d/dA, d/dA = sum_t g_t a_t h_{t-1} delta_t.
        tl.atomic_add(pda_ptr + prow * 4 * D + kd, tl.sum(g * ah * delta, axis=1) * A, mask=dmask)
        dz = tl.where(dmask[:, None] & valid[None, :], g * (ah * A[:, None] + Bk * uk) * tl.exp(z - delta), 0.0)
        tl.atomic_add(pdb_ptr + prow * 4 * D + kd, tl.sum(dz, axis=1), mask=dmask)
        xrow = (b.to(tl.int64) * 4 + k) * C
        tl.atomic_add(dxdbl_ptr + (xrow + R) * L + sp, tl.sum(gd * uk, axis=0), mask=valid)
        tl.atomic_add(dxdbl_ptr + (xrow + R + 1) * L + sp, tl.sum(gyk * h, axis=0), mask=valid)
        dt_grads(xdbl_ptr, dtw_ptr, dxdbl_ptr, pdw_ptr, dz, b, k, prow, offs_d, dmask, sp, valid, L, D,
                 R, R_PAD, USE_DOT, DOT_LOWP)
    du += to_rows(du_c, BLOCK_D, HP, WP)
    tl.store(plane_ptrs(dx_ptr, b, offs_d, ir, jr, sdb, sdd, sdh, sdw), du.to(dx_ptr.dtype.element_ty), mask=mr)
