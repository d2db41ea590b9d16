"""The Triton SS2D backend against the float64 PyTorch reference: outputs and every gradient.

On the CPU these run under the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET)
on small maps, with tiles forced small so that every shape has several segments per
direction, partial tiles and partial channel blocks. Output buffers are poisoned with NaN
first, so an element a kernel fails to write fails the test. The stage shapes of
sr_vmamba_tiny at 256 px run at full size only on a GPU.
"""

import os

import pytest
import torch

from sr_core import kernels
from sr_core.kernels import available_backends, ss2d_scan
from sr_core.kernels.reference import ss2d_scan as ss2d_reference

triton_ss2d = pytest.importorskip("sr_core.kernels.triton_ss2d")

if os.environ.get("TRITON_INTERPRET") == "1":
    from tests.sr_core.triton_interpreter import vectorise_interpreter_scans

    vectorise_interpreter_scans()
if getattr(triton_ss2d, "triton", None) is None:
    pytest.skip("Triton is not installed", allow_module_level=True)

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
DEVICE = "cuda" if CUDA else "cpu"
# Max |error| allowed, as a fraction of the largest |reference| value of each tensor.
TOL = {torch.float32: 2e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2}
NAMES = ("y", "x", "x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds")


@pytest.fixture(autouse=True)
def poison(monkeypatch):
    monkeypatch.setattr(triton_ss2d, "DEBUG_POISON", True)


def make_inputs(b, d, h, w, n, r, device=DEVICE, hard=False):
    """Fresh random SS2D inputs in float32 (the seed is returned for the failure message).

    hard: strong decays (|A| delta of 10-50 per step), so that exp(A delta) underflows to 0
    inside segments and across tiles.
    """
    seed = torch.seed() % 2**31
    g = torch.Generator().manual_seed(seed)
    bias = torch.randn(4, d, generator=g) * 0.5 - (-1.0 if hard else 2.0)
    a_logs = torch.randn(4 * d, n, generator=g) * 0.3 + (2.5 if hard else 0.0)
    params = [
        torch.randn(b, d, h, w, generator=g),
        torch.randn(4, r + 2 * n, d, generator=g) * d**-0.5,
        torch.randn(4, d, r, generator=g) * r**-0.5,
        bias,
        a_logs,
        torch.randn(4 * d, generator=g),
    ]
    return [p.to(device) for p in params], seed


def run_and_compare(params, seed, dtype=torch.float32, transform_x=None, slack=1.0, **tiles):
    """Triton forward/backward at `dtype` (x and x_proj_weight; parameters stay fp32, as under
    autocast) against the float64 reference on the same rounded values; `slack` scales the
    tolerance."""
    params = [p.to(dtype) if i < 2 else p for i, p in enumerate(params)]
    ref_in = [p.detach().double().requires_grad_() for p in params]
    tri_in = [p.detach().clone().requires_grad_() for p in params]
    x = tri_in[0] if transform_x is None else transform_x(tri_in[0])
    y = triton_ss2d.ss2d_scan_triton(x, *tri_in[1:], **tiles)
    want = ss2d_reference(*ref_in)
    assert y.dtype == dtype and y.shape == want.shape
    gy = torch.randn_like(want)
    got = [y] + list(torch.autograd.grad(y, tri_in, gy.to(dtype)))
    want = [want] + list(torch.autograd.grad(want, ref_in, gy))
    for name, a, b in zip(NAMES, got, want):
        assert a.shape == b.shape, name
        assert torch.isfinite(a).all(), f"{name}: non-finite values (unwritten?), seed {seed}"
        scale = b.abs().max().item() or 1.0
        err = (a.double() - b).abs().max().item() / scale
        assert err <= TOL[dtype] * slack, f"{name}: max error {err:.2e} of max |ref| {scale:.3g}, seed {seed}"


# (batch, channels, H, W, d_state, dt rank, tile_h, tile_w): odd maps, L never a multiple
# of the tile, channels not a multiple of the 16-channel block, N = 1, 2, 4.
SMALL = [
    (1, 6, 5, 7, 1, 2, None, None),  # one tile
    (2, 20, 5, 7, 2, 3, 4, 4),  # 2x2 tiles, two channel blocks
    (1, 5, 3, 9, 4, 2, 2, 8),  # short column segments
    (2, 17, 9, 3, 1, 5, 8, 2),  # short row segments
]


@pytest.mark.parametrize("b,d,h,w,n,r,th,tw", SMALL)
def test_triton_matches_reference_float32(b, d, h, w, n, r, th, tw):
    params, seed = make_inputs(b, d, h, w, n, r)
    run_and_compare(params, seed, tile_h=th, tile_w=tw)


def test_triton_strong_decay_float32():
    # A_logs' gradient sums g (h - b) delta, where h - b = a h_prev is a difference of nearly
    # equal numbers once a underflows; the GPU's approximate exp adds to that: 5x slack.
    params, seed = make_inputs(2, 6, 7, 5, 2, 2, hard=True)
    run_and_compare(params, seed, slack=5.0, tile_h=4, tile_w=4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_triton_half_precision(dtype):
    params, seed = make_inputs(2, 18, 6, 5, 1, 2)
    run_and_compare(params, seed, dtype=dtype, tile_h=4, tile_w=4)


def test_triton_channels_last_input():
    params, seed = make_inputs(1, 6, 5, 4, 1, 2)
    run_and_compare(params, seed, transform_x=lambda x: x.contiguous(memory_format=torch.channels_last),
                    tile_h=4, tile_w=4)


def test_triton_register_caps_merge_and_reject_unknown_kernels():
    cfg = triton_ss2d._config(64, 64, 192, 6)
    assert dict(cfg.maxnreg) == triton_ss2d._MAXNREG
    cfg = triton_ss2d._config(64, 64, 192, 6, maxnreg={"out": 0, "bwd": 168})
    assert dict(cfg.maxnreg) == {**{k: v for k, v in triton_ss2d._MAXNREG.items() if k != "out"}, "bwd": 168}
    with pytest.raises(ValueError, match="outt"):
        triton_ss2d._config(8, 8, 16, 2, maxnreg={"outt": 96})


def test_triton_register_cap_override_runs():
    params, seed = make_inputs(1, 18, 5, 6, 1, 2)
    run_and_compare(params, seed, tile_h=4, tile_w=4, maxnreg={"state": 96, "bwd": 168, "out": 0})


def test_triton_registered_and_auto_uses_torch_on_cpu(monkeypatch):
    assert "triton" in available_backends()
    assert kernels.resolve_backend("auto", torch.device("cpu")) == "torch"

    def fail(*args):
        raise AssertionError("the Triton backend ran on a CPU tensor")

    monkeypatch.setitem(kernels._BACKENDS, "triton", fail)
    params, _ = make_inputs(1, 4, 3, 3, 1, 1, device="cpu")
    torch.testing.assert_close(ss2d_scan(*params, backend="auto"), ss2d_reference(*params))


# sr_vmamba_tiny at 256 px: d_inner = 2 * dim, maps 64, 32, 16, 8, dt rank ceil(dim / 16).
STAGES = [(192, 64, 6), (384, 32, 12), (768, 16, 24), (1536, 8, 48)]


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("d,hw,r", STAGES)
def test_triton_stage_shapes_cuda(d, hw, r, dtype):
    params, seed = make_inputs(2, d, hw, hw, 1, r)
    run_and_compare(params, seed, dtype=dtype)


@needs_cuda
@pytest.mark.parametrize("n", [2, 4])
def test_triton_general_state_cuda(n):
    params, seed = make_inputs(1, 96, 24, 40, n, 6)
    run_and_compare(params, seed)


@needs_cuda
def test_triton_batch_one_odd_map_cuda():
    params, seed = make_inputs(1, 200, 37, 23, 1, 7, hard=True)
    run_and_compare(params, seed, slack=5.0)


@needs_cuda
def test_triton_selectable_by_name_on_cuda():
    assert kernels.resolve_backend("triton", torch.device("cuda")) == "triton"
