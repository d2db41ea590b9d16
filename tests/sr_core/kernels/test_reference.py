"""The pure-PyTorch SS2D path against naive float64 loops: outputs and gradients."""

import pytest
import torch

from sr_core.kernels import available_backends, cross_merge, cross_scan, linear_scan, selective_scan, ss2d_scan


def naive_selective_scan(u, delta, A, B, C, D, delta_bias):
    """Position-by-position loop in float64: the definition, nothing clever."""
    bt, gd, length = u.shape
    groups, n = B.shape[1], A.shape[1]
    d = gd // groups
    delta = torch.nn.functional.softplus(delta + delta_bias[:, None])
    h = torch.zeros(bt, gd, n, dtype=torch.float64)
    ys = []
    for t in range(length):
        b_t = B[:, :, :, t].repeat_interleave(d, dim=1)  # (bt, gd, n)
        c_t = C[:, :, :, t].repeat_interleave(d, dim=1)
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * b_t * u[:, :, t, None]
        ys.append((h * c_t).sum(-1) + D * u[:, :, t])
    return torch.stack(ys, -1)


def naive_cross_scan(x):
    b, d, h, w = x.shape
    seqs = [torch.stack([x[:, :, i, j] for i in range(h) for j in range(w)], -1),
            torch.stack([x[:, :, i, j] for j in range(w) for i in range(h)], -1)]
    seqs += [s.flip(-1) for s in seqs]
    return torch.stack(seqs, 1)


def random_scan_inputs(bt, groups, d, n, length, dtype=torch.float64):
    g = torch.Generator().manual_seed(torch.seed() % 2**31)
    u = torch.randn(bt, groups * d, length, generator=g, dtype=dtype)
    delta = torch.randn(bt, groups * d, length, generator=g, dtype=dtype) * 0.5
    A = -torch.rand(groups * d, n, generator=g, dtype=dtype) * 2 - 0.1
    B = torch.randn(bt, groups, n, length, generator=g, dtype=dtype)
    C = torch.randn(bt, groups, n, length, generator=g, dtype=dtype)
    D = torch.randn(groups * d, generator=g, dtype=dtype)
    bias = torch.randn(groups * d, generator=g, dtype=dtype) * 0.5
    return u, delta, A, B, C, D, bias


@pytest.mark.parametrize("h,w", [(3, 5), (8, 8), (7, 1)])
def test_cross_scan_and_merge_match_loops(h, w):
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    xs = cross_scan(x)
    torch.testing.assert_close(xs, naive_cross_scan(x), rtol=0, atol=0)
    # Merging is the adjoint of scanning: <scan(x), y> == <x, merge(y)>.
    y = torch.randn_like(xs)
    lhs = (xs * y).sum()
    rhs = (x.reshape(2, 3, h * w) * cross_merge(y, h, w)).sum()
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("length", [1, 5, 64, 65, 200, 333])
def test_linear_scan_matches_loop_with_gradients(length):
    a = (torch.rand(2, 3, length, dtype=torch.float64) * 0.6 + 0.4).requires_grad_()
    b = torch.randn(2, 3, length, dtype=torch.float64, requires_grad=True)
    h, ref = torch.zeros(2, 3, dtype=torch.float64), []
    for t in range(length):
        h = a[..., t] * h + b[..., t]
        ref.append(h)
    ref = torch.stack(ref, -1)
    out = linear_scan(a, b)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    ga, gb = torch.autograd.grad(out, (a, b), g)
    ra, rb = torch.autograd.grad(ref, (a, b), g)
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gb, rb)


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("length", [7, 70])
def test_selective_scan_matches_loop_outputs_and_gradients(n, length):
    inputs = [t.requires_grad_() for t in random_scan_inputs(2, 4, 3, n, length)]
    u, delta, A, B, C, D, bias = inputs
    out = selective_scan(u, delta, A, B, C, D, delta_bias=bias, delta_softplus=True)
    ref = naive_selective_scan(u, delta, A, B, C, D, bias)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(out, inputs, g)
    ref_grads = torch.autograd.grad(ref, inputs, g)
    for name, got, want in zip("u delta A B C D bias".split(), grads, ref_grads):
        torch.testing.assert_close(got, want, msg=lambda m: f"grad {name}: {m}")


def test_selective_scan_float32_close_to_float64():
    inputs = random_scan_inputs(1, 4, 8, 1, 500)
    ref = selective_scan(*inputs[:6], delta_bias=inputs[6])
    out = selective_scan(*(t.float() for t in inputs[:6]), delta_bias=inputs[6].float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


def naive_ss2d(x, x_proj_weight, dt_w, dt_b, A_logs, Ds):
    """SS2D as VMamba writes it: scan first, then project every scanned copy."""
    b, d, h, w = x.shape
    r = dt_w.shape[2]
    n = (x_proj_weight.shape[1] - r) // 2
    xs = naive_cross_scan(x)  # (b, 4, d, L)
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [r, n, n], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, dt_w)
    ys = naive_selective_scan(xs.reshape(b, 4 * d, -1), dts.reshape(b, 4 * d, -1), -torch.exp(A_logs), Bs, Cs,
                              Ds, dt_b.reshape(-1))
    ys = ys.view(b, 4, d, h * w)
    out = torch.zeros(b, d, h, w, dtype=x.dtype)
    for k in range(4):
        seq = ys[:, k] if k < 2 else ys[:, k].flip(-1)
        out += seq.reshape(b, d, h, w) if k % 2 == 0 else seq.reshape(b, d, w, h).transpose(2, 3)
    return out.permute(0, 2, 3, 1)


@pytest.mark.parametrize("h,w,n", [(5, 7, 1), (4, 4, 2)])
def test_ss2d_scan_matches_vmamba_order_of_operations(h, w, n):
    d, r = 6, 2
    params = [
        torch.randn(2, d, h, w, dtype=torch.float64),
        torch.randn(4, r + 2 * n, d, dtype=torch.float64) * 0.5,
        torch.randn(4, d, r, dtype=torch.float64) * 0.5,
        torch.randn(4, d, dtype=torch.float64) * 0.3,
        torch.randn(4 * d, n, dtype=torch.float64) * 0.3,
        torch.randn(4 * d, dtype=torch.float64),
    ]
    params = [p.requires_grad_() for p in params]
    out = ss2d_scan(*params, backend="torch")
    ref = naive_ss2d(*params)
    assert out.shape == (2, h, w, d)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    for got, want in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(ref, params, g)):
        torch.testing.assert_close(got, want)


def test_dispatch_picks_torch_on_cpu_and_rejects_unknown_backend():
    assert "torch" in available_backends()
    x = torch.randn(1, 4, 3, 3)
    args = (x, torch.randn(4, 3, 4), torch.randn(4, 4, 1), torch.zeros(4, 4), torch.zeros(16, 1), torch.ones(16))
    torch.testing.assert_close(ss2d_scan(*args, backend="auto"), ss2d_scan(*args, backend="torch"))
    with pytest.raises(ValueError, match="unknown SS2D backend"):
        ss2d_scan(*args, backend="no-such-backend")
