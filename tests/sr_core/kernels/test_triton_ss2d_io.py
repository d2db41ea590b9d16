"""The fused conv + SiLU and LayerNorm + gate around the scan (triton_ss2d_io.py) against PyTorch.

Without a GPU the kernels run in Triton's interpreter (small shapes); with one they are
compiled, and the model-level test runs SS2D's fused path on it.
"""

import pytest
import torch
import torch.nn.functional as F

triton_ss2d_io = pytest.importorskip("sr_core.kernels.triton_ss2d_io")

from sr_core.models import create_model  # noqa: E402
from sr_core.models.vmamba import SS2D  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# (B, H, W, C): several rows a program (4 x 8), a partial position block and channel block
# (5 x 13 over 20 channels), one row (1 x 7), one column (9 x 1), and a plane of more than one
# position block with partial channel blocks (9 x 11 = 99 positions, 70 channels).
SHAPES = [(2, 4, 8, 16), (1, 5, 13, 20), (2, 1, 7, 8), (1, 9, 1, 24), (1, 9, 11, 70)]


def _eps(dtype):
    return torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("b,h,w,c", SHAPES)
def test_dwconv_silu_planes_matches_pytorch(dtype, b, h, w, c):
    g = torch.Generator().manual_seed(b * 1000 + h * 100 + w * 10 + c)
    x = torch.randn(b, h, w, c, generator=g).to(dtype).to(DEVICE)
    weight = (torch.randn(c, 1, 3, 3, generator=g) / 3).to(dtype).to(DEVICE)
    bias = torch.randn(c, generator=g).to(DEVICE) if c % 2 == 0 else None
    got = triton_ss2d_io.dwconv_silu_planes(x, weight, bias)
    assert got.shape == (b, c, h, w) and got.dtype == dtype and got.is_contiguous()
    want = F.silu(F.conv2d(x.permute(0, 3, 1, 2).double(), weight.double(),
                           None if bias is None else bias.double(), padding=1, groups=c))
    # fp32 accumulation of nine taps, one rounding to the output's precision.
    tol = max(_eps(dtype), 1e-6)
    torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("block_p,block_c,num_warps", [(16, 16, 2), (128, 8, 4)])
def test_dwconv_silu_planes_any_tile(block_p, block_c, num_warps):
    """The tiles benchmarks/fused_kernels.py compares give the same planes: a tile of several rows,
    rows cut across blocks, 70 channels in partial blocks."""
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 9, 11, 70, generator=g).to(DEVICE)
    weight = (torch.randn(70, 1, 3, 3, generator=g) / 3).to(DEVICE)
    bias = torch.randn(70, generator=g).to(DEVICE)
    got = triton_ss2d_io.dwconv_silu_planes(x, weight, bias, block_p=block_p, block_c=block_c, num_warps=num_warps)
    want = F.silu(F.conv2d(x.permute(0, 3, 1, 2).double(), weight.double(), bias.double(), padding=1, groups=70))
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)


def test_dwconv_silu_planes_refuses_a_wrong_weight():
    x = torch.randn(1, 4, 4, 8, device=DEVICE)
    with pytest.raises(ValueError, match=r"\(8, 1, 3, 3\)"):
        triton_ss2d_io.dwconv_silu_planes(x, torch.randn(8, 1, 5, 5, device=DEVICE))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("layout", ["planes", "channels_last", "other"])
@pytest.mark.parametrize("block_c", [None, 16])
@pytest.mark.parametrize("b,h,w,c", SHAPES)
def test_layernorm_gate_matches_pytorch(dtype, gated, layout, block_c, b, h, w, c):
    """y as the plane kernels give it (a (B, H, W, C) view of contiguous planes), channels last,
    or any other strides (H and W swapped in memory); whole rows a program, or blocks of 16
    channels looped over."""
    g = torch.Generator().manual_seed(b * 1000 + h * 100 + w * 10 + c + gated)
    y = (3 * torch.randn(b, h, w, c, generator=g) + 1).to(dtype).to(DEVICE)
    if layout == "planes":
        y = y.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    elif layout == "other":
        y = y.transpose(1, 2).contiguous().transpose(1, 2)
    z = torch.randn(b, h, w, c, generator=g).to(dtype).to(DEVICE) if gated else None
    weight = torch.randn(c, generator=g).to(DEVICE)
    bias = torch.randn(c, generator=g).to(DEVICE)
    got = triton_ss2d_io.layernorm_gate(y, z, weight, bias, 1e-5, torch.bfloat16, block_c)
    assert got.shape == (b, h, w, c) and got.dtype == torch.bfloat16 and got.is_contiguous()
    want = F.layer_norm(y.double(), (c,), weight.double(), bias.double(), 1e-5)
    if gated:
        want = want * F.silu(z.double())
    torch.testing.assert_close(got.double(), want, rtol=_eps(torch.bfloat16), atol=_eps(torch.bfloat16))


def test_layernorm_gate_checks_shapes():
    y = torch.randn(1, 2, 2, 8, device=DEVICE)
    w = torch.ones(8, device=DEVICE)
    with pytest.raises(ValueError, match="gate"):
        triton_ss2d_io.layernorm_gate(y, torch.randn(1, 2, 2, 4, device=DEVICE), w, w)
    with pytest.raises(ValueError, match="LayerNorm over 8"):
        triton_ss2d_io.layernorm_gate(y, None, w[:4], w[:4])


def test_ss2d_keeps_pytorch_layers_off_the_gpu_and_for_training():
    op = SS2D(8, 1, 2.0, None, "auto")
    assert op.fused_io  # on by default; the rule in `_fused_dtype` decides where it applies
    x = torch.randn(1, 4, 4, 8, requires_grad=True)
    op(x).sum().backward()  # the CPU path, with gradients: PyTorch's layers
    assert x.grad is not None and op.conv2d.weight.grad is not None


@needs_cuda
@pytest.mark.parametrize("z_gate", [True, False])
def test_model_inference_with_the_fused_io_matches_pytorch_layers(z_gate):
    """sr_vmamba_tiny under bf16 autocast: the fused conv and norm against PyTorch's layers, same
    weights and input; they differ by the roundings the fused kernels skip."""
    torch.manual_seed(0)
    model = create_model("sr_vmamba_tiny", num_classes=8, **({} if z_gate else {"z_gate": False})).cuda().eval()
    x = torch.randn(2, 3, 256, 256, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
        fused = model(x)["logits"].float()
        for m in model.modules():
            if isinstance(m, SS2D):
                m.fused_io = False
        plain = model(x)["logits"].float()
    assert (fused - plain).abs().max() <= 0.05 * plain.abs().max()


def test_the_kernels_inside_torch_compile_match_eager():
    """Inside torch.compile the fused kernels are custom operators, called as they are: the
    conv's planes, the LayerNorm of a planes view and the fused fc1 + GELU come out as eager's,
    bit for bit (Inductor on the GPU; on the CPU the tracing alone, aot_eager, with the
    kernels in Triton's interpreter)."""
    from sr_core.kernels.triton_linear import linear_gelu

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 12, 10, 48, generator=g).to(DEVICE, torch.bfloat16)
    weight = (torch.randn(48, 1, 3, 3, generator=g) / 3).to(DEVICE, torch.bfloat16)
    z = torch.randn(2, 12, 10, 48, generator=g).to(DEVICE, torch.bfloat16)
    nw, nb = torch.randn(48, generator=g).to(DEVICE), torch.randn(48, generator=g).to(DEVICE)
    fc1 = (torch.randn(64, 48, generator=g) / 7).to(DEVICE, torch.bfloat16)

    def block(x, z):
        planes = triton_ss2d_io.dwconv_silu_planes(x, weight)
        y = (planes * 2).permute(0, 2, 3, 1)  # a planes view, as the scan hands back
        out = triton_ss2d_io.layernorm_gate(y, z, nw, nb, 1e-5, torch.bfloat16)
        return planes, out, linear_gelu(out, fc1)

    eager = block(x, z)
    backend = "inductor" if DEVICE == "cuda" else "aot_eager"
    compiled = torch.compile(block, backend=backend, fullgraph=True, dynamic=False)(x, z)
    for want, got in zip(eager, compiled):
        assert torch.equal(want, got)
