"""Plane-tiled Triton SS2D forward (d_state 1): one program per (batch, channel block), whole planes.

The chunked kernels (triton_ss2d_fwd.py) cut the map into small spatial tiles and stitch the
four directional scans together with segment carries: three launches, fp32 carries through
memory, and (benchmarks/RESULTS.md) a (channels, rows, columns) tile layout that puts the
channels inside each thread and makes every short scan cross lanes and warps. Here a program
owns (batch, channel block) and holds every position of its channels' planes, so no carries
are needed and each direction is one scan of the whole flattened plane:

* x is (B, D, H, W) with W contiguous: a program loads its BLOCK_D planes as a (BLOCK_D,
  HP * WP) tile in row-major order, coalesced along W (HP, WP: H and W padded to powers of
  two; padding is the recurrence's identity, a = 1 and b = 0, because delta = 0 there).
* With d_state 1 the scan is the first-order recurrence h_t = a_t h_{t-1} + b_t, one
  `tl.associative_scan` with `lin_combine` along the flattened plane: row-major as it is,
  row-major reversed with reverse=True, and the two column-major directions on the scan's
  operands transposed to (BLOCK_D, WP * HP) (`to_cols`: a register transpose, which Triton
  lowers through shared memory), h transposed back. On power-of-two planes (every stage at
  256 px) a reversed direction is instead loaded backwards and scanned forwards in the same
  scan as its forward twin (`fwd_pair_mirrored`): no reverse scan and half the passes across
  lanes and warps, its result added to y in memory after y is stored. Every coefficient
  (dt_lowrank, B, C) is read in row-major order, coalesced. (The first design read the column directions' in
  column order, a gather with lanes W elements apart, one memory sector a lane: 17x above
  the floor at stage 1 on the first GPU run, 1.3x slower than this; removed.)
* delta = softplus(dt_w @ dt_lowrank + bias), exp(delta A) and the D skip stay in registers;
  the dt projection is a `tl.dot` when the block has 16 or more channels (stages 3 and 4,
  where R is 24-48) and R broadcast multiply-adds otherwise.
* The four directions are summed in registers, in row-major order, and y is written once,
  in x's (B, D, H, W) layout, coalesced.

x_dbl (dt_lowrank, B, C per direction and position, (B, 4, R + 2, H * W), spatial order) is
shared by every channel of a batch: programs of one batch run together (the channel block
varies fastest), so its rows come from L2. Every program reads all 4 (R + 2) of them for its
block, which at one channel a program (stage 1: 32 values a position for one of x) makes the
L2 traffic, not DRAM, the likely bound there; `tile_elems` trades that against registers.
"""

from __future__ import annotations

import triton
import triton.language as tl

from sr_core.kernels.triton_ss2d_fwd import LOG2E, exp2_fast, lin_combine, softplus, softplus_lg2, widen


@triton.jit
def plane_setup(n_dblk, D, BLOCK_D: tl.constexpr, EVEN_D: tl.constexpr = False):
    """This program's batch, its channels (BLOCK_D,) and their mask; the channel block varies fastest.
    EVEN_D (BLOCK_D divides D): the mask is a constant, so the compiler drops it."""
    pid = tl.program_id(0)
    dblk = pid % n_dblk
    b = pid // n_dblk
    offs_d = dblk * BLOCK_D + tl.arange(0, BLOCK_D)
    if EVEN_D:
        return b, offs_d, tl.full((BLOCK_D,), 1, tl.int1)
    else:
        return b, offs_d, offs_d < D


@triton.jit
def plane_order(H, W, HP: tl.constexpr, WP: tl.constexpr, DENSE: tl.constexpr = False):
    """The padded plane flattened in row-major order.

    Returns (HP * WP,) rows i, columns j, the index i * W + j into an H * W spatial row, and
    whether the position lies inside the map. DENSE (H and W are powers of two, so nothing is
    padded): the row-major index is the position itself and every position is inside, which
    lets the compiler see that a thread's positions are contiguous: it then gives each thread
    a run of neighbouring positions (vector loads, and a scan that runs inside the thread
    before it crosses lanes) instead of positions 512 apart.
    """
    p = tl.arange(0, HP * WP)
    if DENSE:
        return p // WP, p % WP, p, tl.full((HP * WP,), 1, tl.int1)
    else:
        i = p // WP
        j = p % WP
        return i, j, i * W + j, (i < H) & (j < W)


@triton.jit
def plane_ptrs(base_ptr, b, offs_d, i, j, sb, sd, sh, sw):
    """Pointers (BLOCK_D, positions) into a tensor indexed (batch, channel, row, column)."""
    return base_ptr + b.to(tl.int64) * sb + offs_d[:, None] * sd + i[None, :] * sh + j[None, :] * sw


@triton.jit
def map_order(H, W, HP: tl.constexpr, WP: tl.constexpr, DENSE: tl.constexpr, XT: tl.constexpr):
    """`plane_order` of the positions as this launch's planes are addressed: the (H, W) map's
    row-major order, or where XT (the tensors are the transposed views of (W, H) maps: the
    caller's x, dy, y and dx in the "transpose" mode's second launch) the tensors' own
    row-major order, so that their loads and stores stay coalesced; `from_map` / `to_map`
    re-order such a tile."""
    if XT:
        return plane_order(W, H, WP, HP, DENSE)
    else:
        return plane_order(H, W, HP, WP, DENSE)


@triton.jit
def map_ptrs(base_ptr, b, offs_d, i, j, sb, sd, sh, sw, HP: tl.constexpr, WP: tl.constexpr,
             DENSE: tl.constexpr, XT: tl.constexpr):
    """Pointers to `map_order`'s positions (i, j) of a tensor indexed (batch, channel, row,
    column) with strides sb, sd, sh, sw (of the view, as the launch sees it: under XT its own
    rows step by sw). DENSE: contiguous planes, addressed as runs."""
    if XT:
        if DENSE:
            return plane_ptrs(base_ptr, b, offs_d, i, j, sb, sd, HP, 1)
        else:
            return plane_ptrs(base_ptr, b, offs_d, i, j, sb, sd, sw, sh)
    else:
        if DENSE:
            return plane_ptrs(base_ptr, b, offs_d, i, j, sb, sd, WP, 1)
        else:
            return plane_ptrs(base_ptr, b, offs_d, i, j, sb, sd, sh, sw)


@triton.jit
def from_map(t, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr, XT: tl.constexpr):
    """A tile loaded at `map_order`'s positions, in the launch map's row-major order (XT: a
    register transpose of the (WP, HP) own order, through shared memory)."""
    if XT:
        return to_cols(t, BLOCK_D, WP, HP)
    else:
        return t


@triton.jit
def to_map(t, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr, XT: tl.constexpr):
    """The inverse of `from_map`: a row-major tile re-ordered for a store at `map_order`'s positions."""
    if XT:
        return to_rows(t, BLOCK_D, WP, HP)
    else:
        return t


@triton.jit
def to_cols(t, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr):
    """A (BLOCK_D, HP * WP) row-major plane tile re-ordered to column-major, (BLOCK_D, WP * HP)."""
    return tl.reshape(tl.permute(tl.reshape(t, (BLOCK_D, HP, WP)), (0, 2, 1)), (BLOCK_D, WP * HP))


@triton.jit
def to_rows(t, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr):
    """The inverse of `to_cols`."""
    return tl.reshape(tl.permute(tl.reshape(t, (BLOCK_D, WP, HP)), (0, 2, 1)), (BLOCK_D, HP * WP))


@triton.jit
def xdbl_row(xdbl_ptr, b, k: tl.constexpr, c, sp, valid, L, C: tl.constexpr):
    """Row c of x_dbl[b, k] at the positions sp (a direction's order), (1, positions) fp32, 0 outside.

    Loaded as a (1, positions) tile, not a row broadcast afterwards: the load then gets the
    planes' vectorised layout and the arithmetic stays in it (a 1-D load broadcast into the
    tile left every tile in a one-element-a-thread layout, with a layout conversion a row).
    """
    v = tl.load(xdbl_ptr + ((b.to(tl.int64) * 4 + k) * C + c) * L + sp[None, :], mask=valid[None, :], other=0.0)
    return widen(v)


@triton.jit
def dt_operands(xdbl_ptr, dtw_ptr, b, k: tl.constexpr, offs_d, dmask, sp, valid, L, D,
                R: tl.constexpr, C: tl.constexpr, R_PAD: tl.constexpr):
    """The dt projection's operands for tl.dot: dt_lowrank (R_PAD, positions) at sp in x_dbl's
    dtype, dt_w[k] (BLOCK_D, R_PAD), the rank index and its mask; 0 on padding."""
    r = tl.arange(0, R_PAD)
    rmask = r < R
    row = (b.to(tl.int64) * 4 + k) * C + r
    dtl = tl.load(xdbl_ptr + row[:, None] * L + sp[None, :], mask=rmask[:, None] & valid[None, :], other=0.0)
    wt = tl.load(dtw_ptr + (k * D + offs_d[:, None]) * R + r[None, :], mask=dmask[:, None] & rmask[None, :],
                 other=0.0)
    return dtl, wt, r, rmask


@triton.jit
def mixed_dot(p, q, like, DOT_LOWP: tl.constexpr):
    """p @ q on the tensor cores, fp32 out: in like's half precision (DOT_LOWP), or as three
    TF32 products (tf32x3, about fp32-accurate): Triton's IEEE fp32 dot runs on the FMA units."""
    if DOT_LOWP:
        return tl.dot(p.to(like.dtype), q.to(like.dtype))
    else:
        return tl.dot(p.to(tl.float32), q.to(tl.float32), input_precision="tf32x3")


@triton.jit
def dt_plane(xdbl_ptr, dtw_ptr, dtb_ptr, b, k: tl.constexpr, offs_d, dmask, sp, valid, L, D,
             R: tl.constexpr, C: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
             LP: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr):
    """z = dt_w[k] @ dt_lowrank[b, k] + bias at the positions sp: (BLOCK_D, LP) fp32.

    A tensor-core dot when the block is wide enough for one (16 or more channels); narrow
    blocks (the large planes of stages 1-2, where R is 6-12) take R multiply-adds instead.
    """
    bias = tl.load(dtb_ptr + k * D + offs_d, mask=dmask, other=0.0).to(tl.float32)
    if USE_DOT:
        dtl, wt, _r, _rmask = dt_operands(xdbl_ptr, dtw_ptr, b, k, offs_d, dmask, sp, valid, L, D, R, C, R_PAD)
        z = mixed_dot(wt, dtl, dtl, DOT_LOWP)
    else:
        z = tl.zeros((BLOCK_D, LP), dtype=tl.float32)
        for rr in tl.static_range(R):
            w_r = tl.load(dtw_ptr + (k * D + offs_d) * R + rr, mask=dmask, other=0.0).to(tl.float32)
            z += w_r[:, None] * xdbl_row(xdbl_ptr, b, k, rr, sp, valid, L, C)
    return z + bias[:, None]


@triton.jit
def direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k: tl.constexpr, offs_d, dmask, sp, valid, L, D,
                     R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, LP: tl.constexpr,
                     USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr, SP_LG2: tl.constexpr = False):
    """Direction k's recurrence coefficients in its order: z, delta, A (BLOCK_D,), a = exp(delta A),
    and the position rows B and C (1, LP). delta is 0 off the map and for absent channels.
    SP_LG2: the softplus as `softplus_lg2` (half-precision operands), else `softplus`."""
    C: tl.constexpr = R + 2
    z = dt_plane(xdbl_ptr, dtw_ptr, dtb_ptr, b, k, offs_d, dmask, sp, valid, L, D, R, C, R_PAD, BLOCK_D, LP,
                 USE_DOT, DOT_LOWP)
    delta = tl.where(dmask[:, None] & valid[None, :], softplus_lg2(z) if SP_LG2 else softplus(z), 0.0)
    A = -tl.exp(tl.load(alog_ptr + k * D + offs_d, mask=dmask, other=0.0).to(tl.float32))
    a = exp2_fast((A * LOG2E)[:, None] * delta)
    Bk = xdbl_row(xdbl_ptr, b, k, R, sp, valid, L, C)
    Ck = xdbl_row(xdbl_ptr, b, k, R + 1, sp, valid, L, C)
    return z, delta, A, a, Bk, Ck


@triton.jit
def skip_weight(ds_ptr, offs_d, dmask, D):
    """sum_k D_k per channel: the four directions' skip terms act on the same u."""
    s = tl.zeros(offs_d.shape, dtype=tl.float32)
    for k in tl.static_range(4):
        s += tl.load(ds_ptr + k * D + offs_d, mask=dmask, other=0.0).to(tl.float32)
    return s


@triton.jit
def to_scan_order(t, TRANS: tl.constexpr, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr,
                  BACK: tl.constexpr = False):
    """A row-major plane tile in column-major order where TRANS (back to row-major: BACK), or as it is."""
    if not TRANS:
        return t
    elif BACK:
        return to_rows(t, BLOCK_D, HP, WP)
    else:
        return to_cols(t, BLOCK_D, HP, WP)


@triton.jit
def fwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, uk, b, k: tl.constexpr, offs_d, dmask, H, W, D,
                  R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr,
                  USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr, TRANS: tl.constexpr, DENSE: tl.constexpr,
                  SP_LG2: tl.constexpr = False):
    """Direction k's C h over the plane, row-major like uk and the coefficients.

    TRANS (a column direction): only the scan's two operands are transposed to column order,
    and h back, so every global read stays coalesced. DENSE as in `plane_order`.

    Issuing a launch's two directions' loads before either scan (so that the second's are in
    flight during the first's scan) was tried in session 13 and dropped: on an H200 the fp32
    gradients of the whole model moved 7x further from the PyTorch scan's (2.1% against 0.3%,
    worst parameter) and varied from run to run, while every kernel-level test passed
    (benchmarks/RESULTS.md, session 13).
    """
    _i, _j, sp, valid = plane_order(H, W, HP, WP, DENSE)
    _z, delta, _A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp, valid,
                                                H * W, D, R, R_PAD, BLOCK_D, HP * WP, USE_DOT, DOT_LOWP, SP_LG2)
    a_s = to_scan_order(a, TRANS, BLOCK_D, HP, WP)
    b_s = to_scan_order(delta * Bk * uk, TRANS, BLOCK_D, HP, WP)
    _, h = tl.associative_scan((a_s, b_s), 1, lin_combine, reverse=k >= 2)
    return Ck * to_scan_order(h, TRANS, BLOCK_D, HP, WP, True)


@triton.jit
def lin_combine_pair(a1, b1, c1, d1, a2, b2, c2, d2):
    """`lin_combine` on two independent recurrences at once: one scan, one pass across lanes and warps."""
    return a1 * a2, b1 * a2 + b2, c1 * c2, d1 * c2 + d2


@triton.jit
def exclusive_combine_pair(ea1, eb1, ec1, ed1, ta1, tb1, tc1, td1, ea2, eb2, ec2, ed2, ta2, tb2, tc2, td2):
    """Two first-order recurrences scanned exclusively: an element holds E, its segment's composition
    without its last step, and T, with it (`lin_combine_pair` terms each). (E1, T1) then (E2, T2) is
    (T1 E2, T1 T2): associative, and an inclusive scan of (identity, x_j) leaves x_0 ... x_{j-1} in E."""
    ea, eb, ec, ed = lin_combine_pair(ta1, tb1, tc1, td1, ea2, eb2, ec2, ed2)
    ta, tb, tc, td = lin_combine_pair(ta1, tb1, tc1, td1, ta2, tb2, tc2, td2)
    return ea, eb, ec, ed, ta, tb, tc, td


@triton.jit
def col_scan_pair(a, b, c, d, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr):
    """h of the recurrences (a, b) and (c, d), row-major (BLOCK_D, HP * WP) tiles, scanned in
    column-major order (down column 0, then column 1, ...) without re-ordering the tiles.

    Each column is scanned down its rows (the tile seen as (BLOCK_D, HP, WP), axis 1: lanes and
    warps apart, no shared-memory transpose), its last row (every step of the column composed) is
    taken out by a masked sum over the rows, and the columns' compositions are scanned exclusively
    along the row (`exclusive_combine_pair`): what enters column j, applied to each position by
    h = h_col + (a's product down the column so far) h_in. Against `to_cols`' transposes of the two
    operands and of h (sm_90 SASS, Triton 3.7, session 24): stage 3's forward held 3,440
    instructions a thread against 4,128, its shared-memory loads 104 against 552.
    """
    LP: tl.constexpr = HP * WP
    pa, hb, pc, hd = tl.associative_scan(
        (tl.reshape(a, (BLOCK_D, HP, WP)), tl.reshape(b, (BLOCK_D, HP, WP)), tl.reshape(c, (BLOCK_D, HP, WP)),
         tl.reshape(d, (BLOCK_D, HP, WP))), 1, lin_combine_pair)
    last = (tl.arange(0, HP) == HP - 1)[None, :, None]
    ta = tl.sum(tl.where(last, pa, 0.0), axis=1)
    tb = tl.sum(tl.where(last, hb, 0.0), axis=1)
    tc = tl.sum(tl.where(last, pc, 0.0), axis=1)
    td = tl.sum(tl.where(last, hd, 0.0), axis=1)
    one = tl.full(ta.shape, 1.0, tl.float32)
    zero = tl.zeros(ta.shape, tl.float32)
    _ea, eb, _ec, ed, _ta, _tb, _tc, _td = tl.associative_scan((one, zero, one, zero, ta, tb, tc, td), 1,
                                                               exclusive_combine_pair)
    h = hb + pa * eb[:, None, :]
    h2 = hd + pc * ed[:, None, :]
    return tl.reshape(h, (BLOCK_D, LP)), tl.reshape(h2, (BLOCK_D, LP))


@triton.jit
def mirror_runs(LP: tl.constexpr, RUN: tl.constexpr):
    """(LP,) positions of a plane in mirrored runs: run r of RUN positions holds run LP / RUN - 1 - r,
    in ascending order (one vector load a thread); `flip_runs` then puts the plane in mirrored
    order, position LP - 1 - t at t."""
    t = tl.arange(0, LP)
    return (LP // RUN - 1 - t // RUN) * RUN + t % RUN


@triton.jit
def run_ptrs(base_ptr, b, offs_d, pos, sb, sd):
    """Pointers (BLOCK_D, positions) into contiguous planes (DENSE) at the positions pos."""
    return base_ptr + b.to(tl.int64) * sb + offs_d[:, None] * sd + pos[None, :]


@triton.jit
def flip_runs(t, BLOCK_D: tl.constexpr, LP: tl.constexpr, RUN: tl.constexpr):
    """t (BLOCK_D, LP) with each run of RUN positions reversed in place.

    Splits and joins only: where a run lies in one thread (RUN is the width of its vector
    loads), this renames registers and costs no instruction (sm_90 SASS), where `tl.flip`
    reduces over every bit of the position. Position 2m + s of a run goes to RUN - 1 - 2m - s:
    the even and the odd positions are each reversed as runs of RUN / 2, then swapped.
    """
    if RUN == 1:
        return t
    else:
        even, odd = tl.split(tl.reshape(t, (BLOCK_D, LP // 2, 2)))
        even = flip_runs(even, BLOCK_D, LP // 2, RUN // 2)
        odd = flip_runs(odd, BLOCK_D, LP // 2, RUN // 2)
        return tl.reshape(tl.join(odd, even), (BLOCK_D, LP))


@triton.jit
def mirrored_plane(x_ptr, b, offs_d, dmask, sxb, sxd, BLOCK_D: tl.constexpr, HP: tl.constexpr, WP: tl.constexpr,
                   XT: tl.constexpr, RUN: tl.constexpr):
    """x's planes (fp32) in mirrored runs (`mirror_runs`) of the launch's map order. Under XT
    the tensor's own order is the map's transpose: the mirrored plane, transposed, is the
    transposed plane mirrored, so the mirrored own order goes through `from_map` whole."""
    LP: tl.constexpr = HP * WP
    u_m = widen(tl.load(run_ptrs(x_ptr, b, offs_d, mirror_runs(LP, RUN), sxb, sxd), mask=dmask[:, None], other=0.0))
    if XT:
        u_m = flip_runs(from_map(flip_runs(u_m, BLOCK_D, LP, RUN), BLOCK_D, HP, WP, XT), BLOCK_D, LP, RUN)
    return u_m


@triton.jit
def fwd_pair_mirrored(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, u, u_m, b, k: tl.constexpr, offs_d, dmask, H, W, D,
                      R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HP: tl.constexpr,
                      WP: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr, TRANS: tl.constexpr,
                      RUN: tl.constexpr, SP_LG2: tl.constexpr = False, COL_SCAN: tl.constexpr = False):
    """Directions k and k + 2 (its reverse) of a dense plane in one forward scan; u_m is u in
    mirrored runs (`mirrored_plane`). COL_SCAN (with TRANS): the column order by `col_scan_pair`
    on the row-major tiles (the mirrored plane is the plane turned half a turn, so its column
    order is the reverse column direction's), not on transposed operands.

    Returns C h of direction k in row-major order like u, and C h of direction k + 2 in
    mirrored runs (`mirror_runs`' order). Direction k + 2's operands are loaded in mirrored
    runs and flipped within each run, so that its tile holds the plane backwards and a forward
    scan runs it from the end: no reverse scan, so none of the lane reversals Triton wraps one
    in (5 butterfly shuffles for every register of both operands and of h: 120 SHFL.BFLY a
    thread at stage 1), and the two recurrences share one scan (one pass across lanes and
    warps, each step's shuffles for both in flight together). The caller adds the mirrored
    result to the other in memory (`_plane_fwd_kernel`). TRANS (k = 1, a column direction):
    the scan's operands in column order as in `fwd_direction`; the mirrored row-major plane,
    transposed, is the column-major plane mirrored.

    On an H200 (session 20, benchmarks/RESULTS.md) stage 1's forward took 0.812 against
    0.952 ms, and sr_vmamba_tiny's compiled inference 6,415-6,657 against 6,273 img/s, with
    about as many instructions (1,880 / 2,080 against 1,904 / 2,056 a thread at stage 1): the
    gain is the merged scan's latency, not fewer instructions. Both directions' coefficients
    are loaded before the scan, as in the variant session 13 dropped (`fwd_direction`): on the
    GPU every stage-shape test and the full SR model's training test against the PyTorch scan
    (the one that bounds the model's gradients at 1%) passed, and `benchmarks/model_grads.py`
    put the fp32 gradients within 0.65% of it, the same in three calls (session 21; 0.30% with
    mirror=False), not session 13's 2.1% that moved from run to run.
    """
    LP: tl.constexpr = HP * WP
    _i, _j, sp, valid = plane_order(H, W, HP, WP, True)
    _z, delta, _A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp, valid,
                                                H * W, D, R, R_PAD, BLOCK_D, LP, USE_DOT, DOT_LOWP, SP_LG2)
    _zm, delta_m, _Am, a_m, B_m, C_m = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k + 2, offs_d, dmask,
                                                        mirror_runs(LP, RUN), valid, H * W, D, R, R_PAD, BLOCK_D, LP,
                                                        USE_DOT, DOT_LOWP, SP_LG2)
    if TRANS and COL_SCAN:
        h, h_m = col_scan_pair(a, delta * Bk * u, flip_runs(a_m, BLOCK_D, LP, RUN),
                               flip_runs(delta_m * B_m * u_m, BLOCK_D, LP, RUN), BLOCK_D, HP, WP)
    else:
        _, h, _, h_m = tl.associative_scan(
            (to_scan_order(a, TRANS, BLOCK_D, HP, WP), to_scan_order(delta * Bk * u, TRANS, BLOCK_D, HP, WP),
             to_scan_order(flip_runs(a_m, BLOCK_D, LP, RUN), TRANS, BLOCK_D, HP, WP),
             to_scan_order(flip_runs(delta_m * B_m * u_m, BLOCK_D, LP, RUN), TRANS, BLOCK_D, HP, WP)),
            1, lin_combine_pair)
        h = to_scan_order(h, TRANS, BLOCK_D, HP, WP, True)
    h_m = flip_runs(h_m if TRANS and COL_SCAN else to_scan_order(h_m, TRANS, BLOCK_D, HP, WP, True),
                    BLOCK_D, LP, RUN)
    return Ck * h, C_m * h_m


@triton.jit
def _plane_fwd_kernel(x_ptr, xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, ds_ptr, y_ptr,
                      H, W, D, n_dblk,
                      sxb, sxd, sxh, sxw, syb, syd, syh, syw,
                      R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_D: tl.constexpr,
                      HP: tl.constexpr, WP: tl.constexpr, USE_DOT: tl.constexpr, DOT_LOWP: tl.constexpr,
                      DENSE: tl.constexpr, PART: tl.constexpr = 0, XT: tl.constexpr = False,
                      ACCUM: tl.constexpr = False, RUN: tl.constexpr = 1, SP_LG2: tl.constexpr = False,
                      EVEN_D: tl.constexpr = False, COL_SCAN: tl.constexpr = False):
    """y = sum over the four directions of C h + D u for one (batch, channel block), stored once.

    PART 0: all four, the column directions on transposed operands (`fwd_direction`). PART 1
    and 2 (the wrapper's "transpose" mode, two launches): only the row directions 0 and 2 with
    the D skip term (1), or only 1 and 3 (2), scanned as row directions: for part 2 the caller
    passes x's transpose and x_dbl's rows 1 and 3 in its order, so the column directions of
    the map are the row directions of its transpose. DENSE (`plane_order`; x and y
    contiguous): the planes are addressed as runs of WP. XT (`map_order`): x and y are the
    transposed views of the caller's, read and written in their own order and transposed in
    registers; ACCUM: y's values (the first launch's) are added to, not overwritten. RUN > 1
    (DENSE planes; RUN the positions of one vector load): each direction and its reverse in
    one forward scan (`fwd_pair_mirrored`), the reversed ones' results added to y after y is
    stored: a barrier, then a read-add-write of y in mirrored runs by the same program (one
    more rounding of y to its dtype, as ACCUM's). SP_LG2: as in `direction_coeffs`; COL_SCAN
    (PART 0 with RUN > 1): as in `fwd_pair_mirrored`.
    """
    b, offs_d, dmask = plane_setup(n_dblk, D, BLOCK_D, EVEN_D)
    ir, jr, _sp, vr = map_order(H, W, HP, WP, DENSE, XT)
    mr = dmask[:, None] & vr[None, :]
    u = tl.load(map_ptrs(x_ptr, b, offs_d, ir, jr, sxb, sxd, sxh, sxw, HP, WP, DENSE, XT), mask=mr, other=0.0)
    u = from_map(widen(u), BLOCK_D, HP, WP, XT)
    if PART == 2:
        y = tl.zeros((BLOCK_D, HP * WP), dtype=tl.float32)
    else:
        y = skip_weight(ds_ptr, offs_d, dmask, D)[:, None] * u
    if RUN > 1:
        u_m = mirrored_plane(x_ptr, b, offs_d, dmask, sxb, sxd, BLOCK_D, HP, WP, XT, RUN)
        y_m = tl.zeros((BLOCK_D, HP * WP), dtype=tl.float32)
        # PART 0: the row pair (0, 2), then the column pair (1, 3); PART 1 / 2: its pair.
        for k in tl.static_range(0 if PART == 0 else PART - 1, 2 if PART == 0 else PART):
            yk, ymk = fwd_pair_mirrored(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, u, u_m, b, k, offs_d, dmask, H, W, D,
                                        R, R_PAD, BLOCK_D, HP, WP, USE_DOT, DOT_LOWP, PART == 0 and k == 1, RUN,
                                        SP_LG2, COL_SCAN)
            y += yk
            y_m += ymk
    elif PART == 0:
        for k in tl.static_range(4):
            y += fwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, u, b, k, offs_d, dmask, H, W, D,
                               R, R_PAD, BLOCK_D, HP, WP, USE_DOT, DOT_LOWP, k % 2, DENSE, SP_LG2)
    else:
        for k in tl.static_range(PART - 1, 4, 2):
            y += fwd_direction(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, u, b, k, offs_d, dmask, H, W, D,
                               R, R_PAD, BLOCK_D, HP, WP, USE_DOT, DOT_LOWP, 0, DENSE, SP_LG2)
    y = to_map(y, BLOCK_D, HP, WP, XT)
    y_ptrs = map_ptrs(y_ptr, b, offs_d, ir, jr, syb, syd, syh, syw, HP, WP, DENSE, XT)
    if ACCUM:
        y += widen(tl.load(y_ptrs, mask=mr, other=0.0))
    tl.store(y_ptrs, y.to(y_ptr.dtype.element_ty), mask=mr)
    if RUN > 1:
        LP: tl.constexpr = HP * WP
        if XT:  # mirrored runs of the map order -> mirrored runs of the tensors' own order
            y_m = flip_runs(to_map(flip_runs(y_m, BLOCK_D, LP, RUN), BLOCK_D, HP, WP, XT), BLOCK_D, LP, RUN)
        # Other threads of this program stored the positions this one adds to: the barrier
        # orders their stores before these loads (bar.sync orders memory within the block).
        tl.debug_barrier()
        ym_ptrs = run_ptrs(y_ptr, b, offs_d, mirror_runs(LP, RUN), syb, syd)
        y_m += widen(tl.load(ym_ptrs, mask=dmask[:, None], other=0.0))
        tl.store(ym_ptrs, y_m.to(y_ptr.dtype.element_ty), mask=dmask[:, None])
