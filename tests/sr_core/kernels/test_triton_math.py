"""The scalar helpers every Triton SS2D kernel uses (triton_ss2d_fwd.py), against PyTorch.

Under the interpreter (CI) `exp2_fast` is tl.exp2 and `log2_fast` tl.log2; on a GPU they are
PTX ex2.approx.ftz and lg2.approx.ftz, which these tests bound the same way, so one test checks both.
"""

import pytest
import torch

triton_ss2d_fwd = pytest.importorskip("sr_core.kernels.triton_ss2d_fwd")
triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@triton.jit
def _widen_kernel(v_ptr, out_ptr, N: tl.constexpr):
    p = tl.arange(0, N)[None, :]  # a (1, N) tile, as the plane kernels load x_dbl rows
    tl.store(out_ptr + p, triton_ss2d_fwd.widen(tl.load(v_ptr + p)))


@triton.jit
def _pair_kernel(x_ptr, out1_ptr, out2_ptr, N: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Two forms of one function at x: exp2_fast and exp_fast, or (SOFTPLUS) softplus and softplus_lg2."""
    p = tl.arange(0, N)
    x = tl.load(x_ptr + p)
    if SOFTPLUS:
        tl.store(out1_ptr + p, triton_ss2d_fwd.softplus(x))
        tl.store(out2_ptr + p, triton_ss2d_fwd.softplus_lg2(x))
    else:
        tl.store(out1_ptr + p, triton_ss2d_fwd.exp2_fast(x))
        tl.store(out2_ptr + p, triton_ss2d_fwd.exp_fast(x))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_widen_is_exact(dtype):
    """Every bf16 and fp16 bit pattern widens to PyTorch's fp32, bit for bit (bf16 NaN payloads
    too), as do fp32 values."""
    n = 1 << 16
    if dtype == torch.float32:
        v = torch.randn(n, dtype=torch.float32)
    else:
        v = torch.arange(n, dtype=torch.int32).to(torch.int16).view(dtype)
    v = v.to(DEVICE)
    out = torch.full((n,), 7.0, dtype=torch.float32, device=DEVICE)
    _widen_kernel[(1,)](v, out, N=n)
    want = v.float()
    nan = want.isnan()
    assert torch.equal(out.isnan(), nan)
    if dtype == torch.bfloat16:  # its NaN payloads too: the widening is a shift
        nan = torch.zeros_like(nan)
    assert torch.equal(out[~nan].view(torch.int32), want[~nan].view(torch.int32))


def test_exp2_fast_and_exp_fast():
    """Relative error within a few fp32 ulps of 2^x where it is normal, plus, for e^x, the
    rounding of x log2(e) to fp32 (as tl.exp has it); at most 2^-126 below that (the GPU
    flushes those results to 0)."""
    x = torch.cat([torch.linspace(-160.0, 20.0, 4096), torch.tensor([0.0, -0.0, 1.0, -126.0, -127.0])])
    n = 1 << (len(x) - 1).bit_length()
    x = torch.cat([x, torch.zeros(n - len(x))]).to(DEVICE)
    out2, oute = torch.empty_like(x), torch.empty_like(x)
    _pair_kernel[(1,)](x, out2, oute, N=n, SOFTPLUS=False)
    xd = x.double()
    for got, want, rtol in ((out2, torch.exp2(xd), 4e-7), (oute, torch.exp(xd), 4e-7 + 2.0 ** -23 * xd.abs())):
        err = (got.double() - want).abs()
        assert bool((err <= rtol * want + 2.0 ** -126).all())
    assert float(out2[x == 0].min()) == 1.0


def test_softplus_forms():
    """`softplus` (the polynomial, for fp32 operands) within a few fp32 ulps of log(1 + e^z) in
    relative terms plus, as for e^x, the rounding of z log2(e), also far below 0 where it is
    tiny; `softplus_lg2` (half-precision operands) within 4e-7 absolute plus the rounding of
    z (its documented bound), and never negative."""
    z = torch.cat([torch.linspace(-30.0, 30.0, 4093), torch.tensor([0.0, -6.9, -100.0])])
    n = 1 << (len(z) - 1).bit_length()
    z = torch.cat([z, torch.zeros(n - len(z))]).to(DEVICE)
    poly, lg2 = torch.empty_like(z), torch.empty_like(z)
    _pair_kernel[(1,)](z, poly, lg2, N=n, SOFTPLUS=True)
    want = torch.nn.functional.softplus(z.double())
    zd = z.double()
    assert bool(((poly.double() - want).abs() <= (1e-6 + 2.0 ** -23 * zd.abs()) * want + 2.0 ** -126).all())
    assert bool(((lg2.double() - want).abs() <= 4e-7 + 2.0 ** -23 * want).all())
    assert float(lg2.min()) >= 0.0
