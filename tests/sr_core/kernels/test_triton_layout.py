"""`transpose_copy`, the tiled transpose behind the plane kernels' channels-last input and output,
against `.contiguous()` (under the interpreter on the CPU)."""

import pytest
import torch

triton_layout = pytest.importorskip("sr_core.kernels.triton_layout")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("b,m,n", [(2, 70, 33), (1, 64, 64), (3, 5, 130), (2, 1, 9)])
def test_transpose_copy_matches_contiguous(b, m, n, dtype):
    """A (B, M, N) view whose middle dimension is contiguous (partial tiles both ways, one row)."""
    t = torch.randn(b, n, m, device=DEVICE).to(dtype).transpose(1, 2)
    out = triton_layout.transpose_copy(t)
    assert out.is_contiguous() and out.shape == t.shape
    assert torch.equal(out, t.contiguous())


def test_transpose_copy_leaves_other_layouts_to_pytorch():
    c = torch.randn(2, 3, 4, device=DEVICE)
    assert triton_layout.transpose_copy(c).data_ptr() == c.data_ptr()  # contiguous: as it is
    strided = torch.randn(2, 8, 6, device=DEVICE)[:, ::2]  # no contiguous middle dimension
    assert torch.equal(triton_layout.transpose_copy(strided), strided.contiguous())
