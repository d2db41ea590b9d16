"""The CPU scan's fast paths against a position-by-position float64 loop.

`_decaying_scan` (cumulative products and sums inside chunks, a carry between, Hillis-Steele
for a chunk that would underflow or overflow) and the autograd-free SS2D over planes
(`_ss2d_planes`) must give the loop's numbers for any decay: weak, strong enough that a plain
cumprod of a whole sequence underflows, exactly 0, or mixed within one tensor.
"""

import pytest
import torch

from sr_core.kernels import linear_scan, reference, ss2d_scan
from sr_core.kernels.reference import _decaying_scan, _scan_inclusive


def loop_scan(a, b, reverse=False):
    """h_t = a_t h_{t-1} + b_t one position at a time (from the end when `reverse`)."""
    order = range(a.shape[-1] - 1, -1, -1) if reverse else range(a.shape[-1])
    h, out = torch.zeros_like(b[..., 0]), torch.empty_like(b)
    for t in order:
        h = a[..., t] * h + b[..., t]
        out[..., t] = h
    return out


def scan_as_callers_do(a, b, reverse, overwrite):
    """`_decaying_scan` on copies of a and b; with `overwrite`, a None (an exact chunk was found
    after the inputs were scanned over) is answered as `_scan_planes` does: fresh inputs, no overwrite."""
    got = _decaying_scan(a.clone(), b.clone(), reverse, overwrite)
    if got is None:
        assert overwrite
        got = _decaying_scan(a.clone(), b.clone(), reverse)
    return got


def decaying_inputs(length, log_decay, shape=(3, 4), dtype=torch.float64, seed=0):
    """a = exp(-log_decay * U(0, 1)) and b ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.exp(-log_decay * torch.rand(*shape, length, generator=g, dtype=dtype))
    return a, torch.randn(*shape, length, generator=g, dtype=dtype)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("log_decay", [0.05, 2.0, 40.0, 800.0])
@pytest.mark.parametrize("length", [1, 2, 63, 64, 65, 200, 333])
def test_decaying_scan_matches_loop_for_any_decay(length, log_decay, reverse, overwrite):
    # log_decay 40: a chunk's product is ~e^-1280, far below float64's range (e^-708),
    # so those chunks go to Hillis-Steele; 800: single steps underflow float32's a to 0.
    a, b = decaying_inputs(length, log_decay)
    want = loop_scan(a, b, reverse)
    got = scan_as_callers_do(a, b, reverse, overwrite)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_strong_and_weak_chunks_in_one_tensor(reverse, overwrite):
    a, b = decaying_inputs(256, 0.02, shape=(6,))
    a[1, 70:140] = 1e-3  # a run of strong decay: a chunk's product underflows
    a[2, 5] = 0.0  # a reset: the state restarts at position 5
    a[3] = 1.0  # no decay at all: running sums
    a[4, :64] = 1e-200  # the first chunk underflows in float64
    want = loop_scan(a, b, reverse)
    torch.testing.assert_close(scan_as_callers_do(a, b, reverse, overwrite), want, rtol=1e-12, atol=1e-12)


def test_inputs_are_kept_unless_overwrite_is_asked():
    a, b = decaying_inputs(130, 40.0)
    a_in, b_in = a.clone(), b.clone()
    for reverse in (False, True):
        _decaying_scan(a, b, reverse)
        assert torch.equal(a, a_in) and torch.equal(b, b_in)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("log_decay", [0.05, 2.0, 40.0])
def test_float32_error_is_that_of_a_float32_loop(log_decay, reverse):
    a, b = decaying_inputs(4096, log_decay, shape=(8,))
    want = loop_scan(a, b, reverse)
    loop_error = (loop_scan(a.float(), b.float(), reverse).double() - want).abs().max()
    error = (_decaying_scan(a.float(), b.float(), reverse).double() - want).abs().max()
    assert error <= 4 * loop_error + 1e-6, (error, loop_error)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_huge_b_overflowing_the_scaled_sum_takes_the_exact_path(reverse, overwrite):
    # b / P_t would overflow float32 (1e30 / 1e-20) though every state is finite.
    a = torch.full((2, 128), 0.5)
    b = torch.full((2, 128), 1e30)
    want = loop_scan(a.double(), b.double(), reverse)
    got = scan_as_callers_do(a, b, reverse, overwrite)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=0)


@pytest.mark.parametrize("reverse", [False, True])
def test_overwrite_gives_up_only_when_a_chunk_needs_the_exact_path(reverse):
    a, b = decaying_inputs(4096, 0.05, shape=(8,), dtype=torch.float32)
    want = _decaying_scan(a, b, reverse)
    got = _decaying_scan(a.clone(), b.clone(), reverse, overwrite=True)
    assert got is not None and torch.equal(got, want)
    a[3, 100:164] = 1e-3  # one chunk whose product underflows float32
    assert _decaying_scan(a.clone(), b.clone(), reverse, overwrite=True) is None


def test_non_decaying_a_takes_hillis_steele():
    # a above 1 and negative a: no cumprod bound holds, the general scan must take them.
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 3, 150, generator=g, dtype=torch.float64) * 2.2 - 1.1
    b = torch.randn(2, 3, 150, generator=g, dtype=torch.float64)
    for reverse in (False, True):
        torch.testing.assert_close(_scan_inclusive(a, b, reverse), loop_scan(a, b, reverse), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("log_decay", [0.5, 40.0])
@pytest.mark.parametrize("length", [1, 5, 70])
def test_linear_scan_gradcheck(length, log_decay):
    a, b = decaying_inputs(length, log_decay, shape=(2,))
    a.requires_grad_()
    b.requires_grad_()
    assert torch.autograd.gradcheck(linear_scan, (a, b))


def ss2d_params(batch, d, h, w, n, r=2, a_log_scale=0.3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(batch, d, h, w, generator=g, dtype=dtype),
        torch.randn(4, r + 2 * n, d, generator=g, dtype=dtype) * 0.5,
        torch.randn(4, d, r, generator=g, dtype=dtype) * 0.5,
        torch.randn(4, d, generator=g, dtype=dtype) * 0.3,
        torch.randn(4 * d, n, generator=g, dtype=dtype) * a_log_scale,
        torch.randn(4 * d, generator=g, dtype=dtype),
    ]


def autograd_ss2d(params):
    """ss2d_scan along its autograd path (cross-scan copies, `selective_scan`, cross-merge)."""
    out = ss2d_scan(*[p.clone().requires_grad_() for p in params], backend="torch")
    assert out.grad_fn is not None
    return out.detach()


@pytest.mark.parametrize(
    "batch,h,w,n,a_log_scale",
    [(2, 5, 7, 1, 0.3), (1, 1, 9, 1, 0.3), (3, 9, 1, 1, 0.3), (2, 13, 11, 3, 0.3), (1, 16, 16, 1, 0.3),
     (1, 12, 12, 1, 3.0), (1, 16, 16, 1, 3.0)],  # A up to -e^9: every chunk's product underflows
    # (16 x 16: no padding, so a scan in place finds that out after the fact and starts again)
)
@pytest.mark.parametrize("in_place", [0, 1 << 30])
def test_inference_ss2d_equals_autograd_path(monkeypatch, batch, h, w, n, a_log_scale, in_place):
    monkeypatch.setattr(reference, "_IN_PLACE", in_place)  # 0: every scan in place
    params = ss2d_params(batch, 6, h, w, n, a_log_scale=a_log_scale)
    with torch.inference_mode():
        got = ss2d_scan(*params, backend="torch")
    assert got.shape == (batch, h, w, 6) and got.is_contiguous()
    torch.testing.assert_close(got, autograd_ss2d(params), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("together", [0, 1 << 30])
def test_square_maps_plane_by_plane_or_both_at_once(monkeypatch, together):
    monkeypatch.setattr(reference, "_PLANES_TOGETHER", together)
    params = ss2d_params(2, 5, 8, 8, 2)
    with torch.inference_mode():
        got = ss2d_scan(*params, backend="torch")
    torch.testing.assert_close(got, autograd_ss2d(params), rtol=1e-12, atol=1e-12)


def test_inference_ss2d_float32_close_to_float64():
    params = ss2d_params(2, 16, 32, 32, 1)
    want = autograd_ss2d(params)
    with torch.no_grad():
        got = ss2d_scan(*[p.float() for p in params], backend="torch")
    assert got.dtype == torch.float32
    assert (got.double() - want).abs().max() <= 1e-6 * want.abs().max()
