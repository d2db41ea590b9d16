"""Pure-PyTorch SS2D: cross-scan, selective scan and cross-merge.

This is the CPU path and the ground truth for the GPU kernels. It is written for speed on
the CPU: everything is vectorised over batch, direction, channel and state, and the linear
recurrence ``h_t = a_t * h_{t-1} + b_t`` runs as a chunked log-depth scan (a Hillis-Steele
scan inside chunks, a carry pass between chunks), never as a Python loop over positions.

Shapes follow VMamba: K = 4 scan directions, D channels per direction, N = d_state,
L = H * W positions.

Directions (k): 0 row-major, 1 column-major, 2 row-major reversed, 3 column-major reversed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

K_DIRECTIONS = 4
_CHUNK = 64


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


def _scan_inclusive(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve h_t = a_t * h_{t-1} + b_t (h_{-1} = 0) along the last dim, in log depth.

    Chunked: a Hillis-Steele scan inside chunks of ``_CHUNK`` positions, then the same scan
    over the chunk carries, then one fix-up. Products of a stay in (0, 1] for a decaying
    recurrence, so nothing overflows.
    """
    length = a.shape[-1]
    chunk = min(_CHUNK, length)
    pad = (-length) % chunk
    if pad:
        a = F.pad(a, (0, pad), value=1.0)
        b = F.pad(b, (0, pad), value=0.0)
    lead = a.shape[:-1]
    n_chunks = a.shape[-1] // chunk
    a = a.reshape(*lead, n_chunks, chunk)
    b = b.reshape(*lead, n_chunks, chunk)
    a, b = _hillis_steele(a, b)
    if n_chunks > 1:
        # Carry from each chunk's end into the next: the same recurrence over chunk ends.
        a_end, h_end = _hillis_steele(a[..., -1], b[..., -1])
        carry = F.pad(h_end[..., :-1], (1, 0))
        b = b + a * carry.unsqueeze(-1)
    h = b.reshape(*lead, n_chunks * chunk)
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
        # g_t = grad_h_t + a_{t+1} g_{t+1}: a scan of the reversed sequence.
        a_next = F.pad(a[..., 1:], (0, 1), value=0.0)
        g = _scan_inclusive(a_next.flip(-1), grad_h.flip(-1)).flip(-1)
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
    b, d, h, w = x.shape
    k, c_dbl, _ = x_proj_weight.shape
    r = dt_projs_weight.shape[2]
    n = (c_dbl - r) // 2
    length = h * w
    compute = torch.promote_types(x.dtype, torch.float32)
    # The projections act per position, so apply them in spatial order and only re-order
    # the (small) results: the four scanned copies of x feed the scan alone.
    x_dbl = torch.einsum("bdl,kcd->bkcl", x.reshape(b, d, length), x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [r, n, n], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, dt_projs_weight)
    xs = cross_scan(x)
    dts, Bs, Cs = (_to_scan_order(t, h, w) for t in (dts, Bs, Cs))
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


def _to_scan_order(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Re-order per-direction tensors (B, 4, C, H*W) from spatial to each direction's scan order."""
    b, k, c, length = t.shape
    rows = t[:, 0]
    cols = t[:, 1].reshape(b, c, h, w).transpose(2, 3).reshape(b, c, length)
    rows_rev = t[:, 2].flip(-1)
    cols_rev = t[:, 3].reshape(b, c, h, w).transpose(2, 3).reshape(b, c, length).flip(-1)
    return torch.stack([rows, cols, rows_rev, cols_rev], dim=1)
