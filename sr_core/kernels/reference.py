"""Pure-PyTorch SS2D: cross-scan, selective scan and cross-merge.

This is the CPU path and the ground truth for the GPU kernels (float32 or float64). Everything
is vectorised over batch, direction, channel and state; the linear recurrence
``h_t = a_t * h_{t-1} + b_t`` never runs as a Python loop over positions. For a decaying
recurrence (a in [0, 1], as the SSM's exp(delta * A) always is) it runs on cumulative
products and sums inside chunks of ``_CHUNK`` positions with a carry between chunks
(`_decaying_scan`); any other a takes a log-depth Hillis-Steele scan.

Without autograd, `ss2d_scan` takes `_ss2d_planes`: row-major order is x's memory order and
column-major that of its transpose, so the four directions are scanned on x itself and its
reversal (the backward directions are forward scans of the reversed planes), with no scanned
copies of the four sequences and no cross-merge. With autograd it builds the
scanned sequences and runs `selective_scan`, whose `_LinearScan` has a reversed-scan backward.

Shapes follow VMamba: K = 4 scan directions, D channels per direction, N = d_state,
L = H * W positions.

Directions (k): 0 row-major, 1 column-major, 2 row-major reversed, 3 column-major reversed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

K_DIRECTIONS = 4
_CHUNK = 64
_PLANES_TOGETHER = 1 << 18  # elements: up to a 32 x 32 map of 128 channels
_IN_PLACE = 1 << 18  # elements a direction from which _scan_planes scans in place


def cross_scan(x: torch.Tensor) -> torch.Tensor:
    """Unfold a feature map into the four scan sequences.

    Args:
        x: (B, D, H, W).

    Returns:
        (B, 4, D, H*W): row-major, column-major, and both reversed.
    """
    b, d, h, w = x.shape
    rows = x.reshape(b, d, h * w)
    cols = x.transpose(2, 3).reshape(b, d, h * w)
    fwd = torch.stack([rows, cols], dim=1)
    return torch.cat([fwd, fwd.flip(-1)], dim=1)


def cross_merge(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Fold the four scan sequences back to (H, W) order and sum them.

    Args:
        y: (B, 4, D, H*W) in scan order.
        h, w: the map size.

    Returns:
        (B, D, H*W) in row-major order.
    """
    b, _, d, length = y.shape
    y = y[:, 0:2] + y[:, 2:4].flip(-1)
    cols = y[:, 1].reshape(b, d, w, h).transpose(2, 3).reshape(b, d, length)
    return y[:, 0] + cols


def _scan_inclusive(a: torch.Tensor, b: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """Solve h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) along the last dim; `reverse` runs from the end.

    A decaying recurrence (every a in [0, 1], as exp(delta * A) with delta >= 0 and A <= 0 is)
    takes the chunked cumulative-product scan (`_decaying_scan`); any other a takes the
    Hillis-Steele scan, which needs no bound on a.
    """
    low, high = torch.aminmax(a)
    if bool(low >= 0) and bool(high <= 1):
        return _decaying_scan(a, b, reverse)
    if reverse:
        return _hillis_steele_scan(a.flip(-1), b.flip(-1)).flip(-1)
    return _hillis_steele_scan(a, b)


def _decaying_scan(
    a: torch.Tensor, b: torch.Tensor, reverse: bool = False, overwrite: bool = False
) -> torch.Tensor | None:
    """`_scan_inclusive` for a in [0, 1]: cumulative products and sums inside chunks, a carry between.

    Inside a chunk with P_t = a_1 ... a_t (a cumprod, each step rounded once as in the loop),
    h_t = P_t * (sum_{s<=t} b_s / P_s + carry): every ratio P_t / P_s is a product of a's, so
    the result is the loop's to float rounding. The reversed scan uses the suffix products
    Q_t = a_t ... a_T = P_T / P_{t-1} the same way, with suffix sums (a triangular matmul).
    A chunk whose product would fall below `tiny / eps`, or whose sums could overflow, would
    lose that and is scanned by Hillis-Steele instead, so any delta, A and b stay exact.

    `overwrite=True` lets the scan work in the memory of a and b, which pays on large inputs
    (fresh memory costs page faults on every call); the result then shares b's. The exact
    chunks are found after a and b are gone, so if there is one the scan returns None and the
    caller, who can rebuild a and b, scans them again without `overwrite` (the rare case:
    checking first would cost three more passes on every call).
    """
    length = a.shape[-1]
    chunk = min(_CHUNK, length)
    pad = (-length) % chunk
    if pad:  # a = 1, b = 0 past the end: the state stays 0 there (reverse) or is cut off
        a = F.pad(a, (0, pad), value=1.0)
        b = F.pad(b, (0, pad), value=0.0)
        overwrite = False  # the padded copies are the scan's own: nothing to spare
    lead = a.shape[:-1]
    n_chunks = a.shape[-1] // chunk
    a = a.reshape(-1, chunk)  # one chunk a row, a sequence's chunks consecutive
    b = b.reshape(-1, chunk)
    finfo = torch.finfo(a.dtype)
    tiny = finfo.tiny / finfo.eps  # P_t at or above it is a normal number, exact to rounding
    prod = a.cumprod_(-1) if overwrite else a.cumprod(-1)
    prod_end = prod[:, -1].clone()
    terms = b if overwrite else torch.empty_like(b)
    if reverse:
        # terms_t = b_t / Q_t = b_t P_{t-1} / P_T, and prod becomes P_t / P_T = 1 / Q_{t+1}.
        inverse_end = prod_end.reciprocal()
        prod.mul_(inverse_end.unsqueeze(-1))
        torch.mul(b[:, 1:], prod[:, :-1], out=terms[:, 1:])
        torch.mul(b[:, 0], inverse_end, out=terms[:, 0])
    else:
        torch.div(b, prod, out=terms)
    total = terms.sum(-1)
    bad = ~((prod_end >= tiny) & torch.isfinite(total))
    exact = None
    if bool(bad.any()):
        if overwrite:
            return None
        exact = _hillis_steele_chunks(a[bad], b[bad], reverse)
    end = prod_end * total  # each chunk's own final state
    if exact is not None:
        end[bad] = exact[1][:, 0 if reverse else -1]
    carry = _decaying_carry(prod_end.view(-1, n_chunks), end.view(-1, n_chunks), reverse).reshape(-1)
    # The carry enters where the chunk's sum starts: h_t = P_t (carry + sum_{s<=t} terms_s).
    if reverse:
        if n_chunks > 1:  # a single chunk starts from the zero state
            terms[:, -1] += carry
        h = torch.matmul(terms, torch.ones(chunk, chunk, dtype=a.dtype, device=a.device).tril_())
        h[:, 1:].div_(prod[:, :-1])
        h[:, 0].mul_(prod_end)
    else:
        if n_chunks > 1:
            terms[:, 0] += carry
        h = terms.cumsum_(-1).mul_(prod)
    if exact is not None:
        products, states = exact
        h[bad] = torch.addcmul(states, products, carry[bad].unsqueeze(-1))
    h = h.view(*lead, -1)
    return h[..., :length] if pad else h


def _hillis_steele_chunks(a: torch.Tensor, b: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(products, states) of whole chunks (n, T) by Hillis-Steele, in the chunks' own order."""
    if not reverse:
        return _hillis_steele(a, b)
    products, states = _hillis_steele(a.flip(-1), b.flip(-1))
    return products.flip(-1), states.flip(-1)


def _decaying_carry(prod_end: torch.Tensor, end: torch.Tensor, reverse: bool) -> torch.Tensor:
    """`_chunk_carry` for chunk products in [0, 1], by the cumulative products of `_decaying_scan`.

    The chunk level is small (n, chunks), so it runs in float64, whose range holds the
    product of thousands of float32 decays (a 64 x 64 plane's 4,096 positions): one
    cumprod, one cumsum instead of a Hillis-Steele step per doubling, each of them a handful
    of small operations. Rows whose products still leave float64's normal range, or whose
    scaled sums overflow, go to Hillis-Steele, as in `_decaying_scan`.
    """
    rows, n_chunks = prod_end.shape
    if n_chunks == 1:
        return torch.zeros_like(end)
    if reverse:
        prod_end, end = prod_end.flip(-1), end.flip(-1)
    wide = torch.promote_types(end.dtype, torch.float64)
    # carry_j is the state after chunk j - 1: the inclusive scan of the first n - 1 chunks.
    prod = prod_end[:, :-1].to(wide).cumprod(-1)
    sums = end[:, :-1].to(wide).div(prod).cumsum_(-1)
    finfo = torch.finfo(wide)
    bad = ~((prod[:, -1] >= finfo.tiny / finfo.eps) & torch.isfinite(sums[:, -1]))
    states = sums.mul_(prod).to(end.dtype)
    if bool(bad.any()):
        states[bad] = _hillis_steele(prod_end[bad, :-1], end[bad, :-1])[1]
    carry = F.pad(states, (1, 0))
    return carry.flip(-1) if reverse else carry


def _chunk_carry(prod_end: torch.Tensor, end: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The state entering each chunk: the recurrence over chunks (product, own final state)."""
    if reverse:
        prod_end, end = prod_end.flip(-1), end.flip(-1)
    _, states = _hillis_steele(prod_end, end)
    carry = F.pad(states[..., :-1], (1, 0))
    return carry.flip(-1) if reverse else carry


def _hillis_steele_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Forward scan for any a: Hillis-Steele inside chunks of ``_CHUNK``, then over the chunk ends."""
    length = a.shape[-1]
    chunk = min(_CHUNK, length)
    pad = (-length) % chunk
    if pad:
        a = F.pad(a, (0, pad), value=1.0)
        b = F.pad(b, (0, pad), value=0.0)
    lead = a.shape[:-1]
    a = a.reshape(*lead, -1, chunk)
    b = b.reshape(*lead, -1, chunk)
    a, b = _hillis_steele(a, b)
    if a.shape[-2] > 1:
        b = b + a * _chunk_carry(a[..., -1], b[..., -1], reverse=False).unsqueeze(-1)
    h = b.reshape(*lead, -1)
    return h[..., :length] if pad else h


def _hillis_steele(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan of the pairs (a, b) under (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2).

    Each step writes straight into one of two scratch buffer pairs (ping-pong); the inputs
    are never written.
    """
    length = a.shape[-1]
    if length == 1:
        return a, b
    buffers = [(torch.empty_like(a), torch.empty_like(b))]
    if length > 2:
        buffers.append((torch.empty_like(a), torch.empty_like(b)))
    step, turn = 1, 0
    while step < length:
        a_next, b_next = buffers[turn]
        b_next[..., :step] = b[..., :step]
        torch.addcmul(b[..., step:], a[..., step:], b[..., :-step], out=b_next[..., step:])
        a_next[..., :step] = a[..., :step]
        torch.mul(a[..., step:], a[..., :-step], out=a_next[..., step:])
        a, b = a_next, b_next
        step *= 2
        turn = 1 - turn
    return a, b


class _LinearScan(torch.autograd.Function):
    """h = scan(a, b) with a memory-light backward: the adjoint is the reversed scan."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h = _scan_inclusive(a, b)
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor):
        a, h = ctx.saved_tensors
        # g_t = grad_h_t + a_{t+1} g_{t+1}: the reversed scan. The a past the end multiplies the
        # zero initial state, so 1 serves as well as 0 and keeps a decaying scan decaying.
        a_next = F.pad(a[..., 1:], (0, 1), value=1.0)
        g = _scan_inclusive(a_next, grad_h, reverse=True)
        h_prev = F.pad(h[..., :-1], (1, 0))
        return g * h_prev, g


def linear_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t along the last dimension, differentiable in a and b."""
    return _LinearScan.apply(a, b)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = True,
) -> torch.Tensor:
    """The Mamba selective scan, all channels and directions at once.

    Args:
        u: (Bt, G*D, L) inputs, G groups (scan directions) of D channels.
        delta: (Bt, G*D, L) step sizes before bias and softplus.
        A: (G*D, N) state matrix (negative for a decaying scan).
        B, C: (Bt, G, N, L) input and output projections, shared by a group's channels.
        D: (G*D,) skip weights, optional.
        delta_bias: (G*D,) added to delta before softplus, optional.
        delta_softplus: apply softplus to delta.

    Returns:
        (Bt, G*D, L) with y_t = sum_n C_t[n] h_t[n] + D * u_t, computed in float32 or wider.
    """
    dtype_out = u.dtype
    compute = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(compute) for t in (u, delta, A, B, C))
    bt, gd, length = u.shape
    groups, n = B.shape[1], A.shape[1]
    d = gd // groups
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    delta4 = delta.view(bt, groups, d, 1, length)
    a = torch.exp(delta4 * A.view(1, groups, d, n, 1))
    b = (delta4 * u.view(bt, groups, d, 1, length)) * B.unsqueeze(2)
    h = linear_scan(a, b)
    y = (h * C.unsqueeze(2)).sum(3).reshape(bt, gd, length)
    if D is not None:
        y = y + D.to(compute)[:, None] * u
    return y.to(dtype_out)


def ss2d_scan(
    x: torch.Tensor,
    x_proj_weight: torch.Tensor,
    dt_projs_weight: torch.Tensor,
    dt_projs_bias: torch.Tensor,
    A_logs: torch.Tensor,
    Ds: torch.Tensor,
) -> torch.Tensor:
    """The SS2D core: cross-scan, projections, selective scan and cross-merge.

    Args:
        x: (B, D, H, W) features after the depthwise conv and SiLU.
        x_proj_weight: (4, R + 2N, D) per-direction projection to (dt, B, C).
        dt_projs_weight: (4, D, R) low-rank lift of dt.
        dt_projs_bias: (4, D).
        A_logs: (4*D, N), A = -exp(A_logs).
        Ds: (4*D,).

    Returns:
        (B, H, W, D): the merged scan output, channels last (ready for the LayerNorm).
    """
    params = (x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds)
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in (x, *params)):
        return _ss2d_planes(x, *params)
    b, d, h, w = x.shape
    k, r, n = _ssm_sizes(x_proj_weight, dt_projs_weight)
    length = h * w
    compute = torch.promote_types(x.dtype, torch.float32)
    # The projections act per position, so apply them in spatial order and only re-order
    # the (small, R + 2N channel) results before dt is lifted to D channels.
    x_dbl = torch.einsum("bdl,kcd->bkcl", x.reshape(b, d, length), x_proj_weight)
    dts, Bs, Cs = torch.split(_to_scan_order(x_dbl, h, w), [r, n, n], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, dt_projs_weight)
    xs = cross_scan(x)
    ys = selective_scan(
        xs.reshape(b, k * d, length),
        dts.reshape(b, k * d, length),
        -torch.exp(A_logs.to(compute)),
        Bs,
        Cs,
        Ds.to(compute),
        delta_bias=dt_projs_bias.reshape(-1).to(compute),
        delta_softplus=True,
    )
    y = cross_merge(ys.view(b, k, d, length), h, w)
    return y.transpose(1, 2).reshape(b, h, w, d)


def _ssm_sizes(x_proj_weight: torch.Tensor, dt_projs_weight: torch.Tensor) -> tuple[int, int, int]:
    """(K, R, N): directions, dt rank and d_state, read off the weights' shapes."""
    k, c_dbl, _ = x_proj_weight.shape
    r = dt_projs_weight.shape[2]
    return k, r, (c_dbl - r) // 2


def project_positions(x_proj_weight: torch.Tensor, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x_dbl (B, K, C, H * W): x (B, D, H, W) projected at every position by x_proj_weight (K, C, D),
    in dtype, as one batched GEMM in spatial order. Every SS2D path takes its x_dbl from here.

    `torch.bmm` on the weight expanded over the batch, not `torch.matmul`: with autograd on,
    matmul of a 2-D by a 3-D tensor folds the batch into the GEMM's rows, which copies x
    transposed in the forward and hands x a transposed gradient (on an H200, stage 1 at batch
    64, session 13: a 0.28 ms copy and a 0.35 ms strided add in a 4.35 ms forward+backward).
    """
    b, d, h, w = x.shape
    k, c, _ = x_proj_weight.shape
    weight = x_proj_weight.to(dtype).reshape(k * c, d).expand(b, -1, -1)
    return torch.bmm(weight, x.to(dtype).reshape(b, d, h * w)).view(b, k, c, h * w)


def _to_scan_order(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Re-order per-direction tensors (B, 4, C, H*W) from spatial to each direction's scan order."""
    b, k, c, length = t.shape
    rows = t[:, 0]
    cols = t[:, 1].reshape(b, c, h, w).transpose(2, 3).reshape(b, c, length)
    rows_rev = t[:, 2].flip(-1)
    cols_rev = t[:, 3].reshape(b, c, h, w).transpose(2, 3).reshape(b, c, length).flip(-1)
    return torch.stack([rows, cols, rows_rev, cols_rev], dim=1)


def _ss2d_planes(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
    """`ss2d_scan(x, *params)` without autograd: no scanned copies of x, no cross-merge.

    Row-major order is the memory order of x, column-major that of its transpose: each is a
    plane scanned forwards (directions 0, 1) and backwards (2, 3, as forward scans of the
    reversed plane, `_scan_planes`), and everything
    else acts per position, so it is computed on the planes directly. The D skip term of
    the four directions is one (sum of D) * x.
    """
    x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds = params
    b, d, h, w = x.shape
    k, r, n = _ssm_sizes(x_proj_weight, dt_projs_weight)
    c_dbl, length = r + 2 * n, h * w
    compute = torch.promote_types(x.dtype, torch.float32)
    x = x.to(compute)
    x_dbl = project_positions(x_proj_weight, x, compute)
    x_dbl = x_dbl.view(b, k, c_dbl, h, w).permute(1, 2, 0, 3, 4)  # (4, R + 2N, B, H, W)
    # Direction k = 2 * half + plane: half 0 forwards, 1 backwards; plane 0 rows of x, 1 of x^T.
    x_dbl = x_dbl.reshape(2, 2, c_dbl, b, h, w)
    weights = (dt_projs_weight.to(compute).view(2, 2, d, r), dt_projs_bias.to(compute).view(2, 2, d),
               -torch.exp(A_logs.to(compute)).view(2, 2, d, n))
    out = torch.empty(b, h, w, d, dtype=compute, device=x.device)
    merged = out.permute(0, 3, 1, 2)  # (B, D, H, W) over channels-last memory
    torch.mul(x, Ds.to(compute).view(k, d).sum(0)[:, None, None], out=merged)
    planes = [x.transpose(0, 1), x.transpose(0, 1).transpose(2, 3)]  # (D, B, rows, row length)
    dbls = [x_dbl[:, 0], x_dbl[:, 1].transpose(-1, -2)]
    # A small square map takes both planes in one pass (half the operations, each one larger);
    # a large one goes plane by plane, which keeps each pass's tensors in cache.
    together = h == w and 2 * d * b * length <= _PLANES_TOGETHER
    for group in [(0, 1)] if together else [(0,), (1,)]:
        if together:
            u = torch.stack([planes[p].reshape(d, b, length) for p in group])
            dbl = torch.stack([dbls[p].reshape(2, c_dbl, b, length) for p in group], 1)
        else:
            u = planes[group[0]].reshape(1, d, b, length)
            dbl = dbls[group[0]].reshape(2, 1, c_dbl, b, length)
        ys = _scan_planes(u, dbl, *(t[:, group[0] : group[-1] + 1] for t in weights), r)
        for y, p in zip(ys, group):
            y = y.view(planes[p].shape).transpose(0, 1)
            merged += y if p == 0 else y.transpose(2, 3)
    return out.to(x.dtype) if out.dtype != x.dtype else out


def _scan_planes(
    u: torch.Tensor,
    x_dbl: torch.Tensor,
    dt_weight: torch.Tensor,
    dt_bias: torch.Tensor,
    A: torch.Tensor,
    r: int,
    in_place: bool = True,
) -> torch.Tensor:
    """Both directions of P planes: the sum over them of C * h, h the selective scan of u.

    Args:
        u: (P, D, B, L) the planes, each in its scan order.
        x_dbl: (2, P, R + 2N, B, L) dt, B and C of the forward and the backward directions.
        dt_weight: (2, P, D, R); dt_bias: (2, P, D); A: (2, P, D, N).
        r: the dt rank R.
        in_place: let a large plane be scanned in the memory of its coefficients.

    Returns:
        (P, D, B, L).
    """
    planes, d, b, length = u.shape
    n = A.shape[-1]
    # The backward direction is the forward scan of the reversed sequences: reversing its
    # per-position inputs (R + 2N channels) and u once, then its output, costs three copies
    # and saves the reversed scan's extra passes and a whole second scan call.
    dbl = torch.stack([x_dbl[0], x_dbl[1].flip(-1)])
    dts = dbl[:, :, :r].reshape(2 * planes, r, b * length)
    Bs = dbl[:, :, r : r + n].reshape(2, planes, 1, n, b, length)
    Cs = dbl[:, :, r + n :].reshape(2, planes, 1, n, b, length)
    # The bias as one more column of dt_weight against a row of ones: one GEMM, no add pass.
    ones = torch.ones(2 * planes, 1, b * length, dtype=dts.dtype, device=dts.device)
    weight_bias = torch.cat([dt_weight, dt_bias.unsqueeze(-1)], -1).reshape(2 * planes, d, r + 1)
    delta = torch.bmm(weight_bias, torch.cat([dts, ones], 1))
    delta = _softplus_(delta).view(2, planes, d, 1, b, length)
    a = torch.mul(delta, A.view(2, planes, d, n, 1, 1)).exp_()
    bu = delta.mul_(Bs) if n == 1 else delta * Bs
    bu[0].mul_(u.view(planes, d, 1, b, length))
    bu[1].mul_(u.flip(-1).view(planes, d, 1, b, length))
    in_place = in_place and bu[0].numel() >= _IN_PLACE
    h = _decaying_scan(a, bu, overwrite=in_place)
    if h is None:  # a chunk needs the exact path, and its inputs were scanned over
        return _scan_planes(u, x_dbl, dt_weight, dt_bias, A, r, in_place=False)
    h.mul_(Cs)
    y = h[0].add_(h[1].flip(-1))
    return y.sum(2) if n > 1 else y[:, :, 0]


def _softplus_(x: torch.Tensor) -> torch.Tensor:
    """F.softplus(x) written into x: log1p(exp(x)) as F.softplus computes it below its threshold
    of 20 (where it returns x itself, and exp could overflow), so a tensor reaching it goes to
    F.softplus."""
    if bool(x.amax() > 20):
        return F.softplus(x)
    return x.exp_().log1p_()
