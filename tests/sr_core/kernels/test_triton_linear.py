"""The fused fc1 + GELU inference GEMM (triton_linear.py) against PyTorch, and when the MLP takes it.

Without a GPU the kernel runs in Triton's interpreter (small shapes, the dot widened to fp32);
with one it is compiled, and the model-level test runs the MLP's fused path on it.
"""

import pytest
import torch
import torch.nn.functional as F

triton_linear = pytest.importorskip("sr_core.kernels.triton_linear")

from sr_core.models import create_model  # noqa: E402
from sr_core.models.vmamba import Mlp, _fused_dtype  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def reference(x, w, b):
    """GELU(x w^T + b) in float64 on the same half-precision values."""
    return F.gelu(F.linear(x.double(), w.double(), None if b is None else b.double()))


# (rows, in, out, bias): a partial tile in every direction; K of 32 (EVEN_K), 96 (the stage-1
# fc1's K, EVEN_K with 32-wide steps), 40 (masked K steps); the last one without a bias.
SHAPES = [(5, 32, 24, True), (130, 96, 136, True), (17, 40, 8, True), (64, 64, 129, False)]


@pytest.mark.parametrize("tile", [(32, 16, 16, 2, 2, 2), (16, 64, 32, 4, 4, 1)])
def test_linear_gelu_any_tile(tile):
    """The tiles benchmarks/fused_kernels.py compares give the same result: partial tiles in M
    and N, several K steps, groups of tiles along M cut short."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(70, 96, generator=g).to(torch.bfloat16).to(DEVICE)
    w = (torch.randn(72, 96, generator=g) / 10).to(torch.bfloat16).to(DEVICE)
    b = torch.randn(72, generator=g).to(DEVICE)
    got = triton_linear.linear_gelu(x, w, b, tile)
    torch.testing.assert_close(got.double(), reference(x, w, b), rtol=2 * 2**-8, atol=2 * 2**-8)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m,k,n,with_bias", SHAPES)
def test_linear_gelu_matches_pytorch(dtype, m, k, n, with_bias):
    g = torch.Generator().manual_seed(m * 1000 + k + n)
    x = torch.randn(m, k, generator=g).to(dtype).to(DEVICE)
    w = (torch.randn(n, k, generator=g) / k**0.5).to(dtype).to(DEVICE)
    b = torch.randn(n, generator=g).to(DEVICE) if with_bias else None
    got = triton_linear.linear_gelu(x, w, b)
    assert got.shape == (m, n) and got.dtype == dtype
    want = reference(x, w, b)
    # One rounding of the fp32 result to the output's half precision (plus fp32 accumulation).
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(got.double(), want, rtol=eps, atol=eps)


def test_linear_gelu_keeps_leading_dims_and_refuses_fp32():
    x = torch.randn(2, 3, 4, 32, dtype=torch.bfloat16, device=DEVICE)
    w = torch.randn(16, 32, dtype=torch.bfloat16, device=DEVICE)
    assert triton_linear.linear_gelu(x, w).shape == (2, 3, 4, 16)
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        triton_linear.linear_gelu(x.float(), w.float())
    with pytest.raises(ValueError, match="features"):
        triton_linear.linear_gelu(x, w[:, :16])


def test_mlp_takes_the_fused_kernel_only_for_half_precision_inference_on_the_gpu():
    mlp = Mlp(8, 4.0)
    x = torch.randn(2, 3, 8)
    assert _fused_dtype(x, mlp.fc1.weight) is None  # the CPU
    if torch.cuda.is_available():
        mlp, x = mlp.cuda(), x.cuda()
        assert _fused_dtype(x, mlp.fc1.weight) is None  # gradients wanted
        with torch.no_grad():
            assert _fused_dtype(x, mlp.fc1.weight) is None  # fp32: F.linear's fp32 is not TF32
            with torch.autocast("cuda", torch.bfloat16):
                assert _fused_dtype(x, mlp.fc1.weight) == torch.bfloat16
            assert _fused_dtype(x.half(), mlp.fc1.weight) == torch.float16


@needs_cuda
def test_model_inference_with_the_fused_mlp_matches_pytorch_layers():
    """sr_vmamba_tiny under bf16 autocast: the fused MLP against PyTorch's fc1 + GELU, same
    weights and input; they differ by the GELU's input rounding to bf16 (the fused one has none)."""
    torch.manual_seed(0)
    model = create_model("sr_vmamba_tiny", num_classes=8).cuda().eval()
    x = torch.randn(2, 3, 256, 256, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
        fused = model(x)["logits"].float()
        for m in model.modules():
            if isinstance(m, Mlp):
                m.fused_gelu = False
        plain = model(x)["logits"].float()
    assert (fused - plain).abs().max() <= 0.05 * plain.abs().max()
