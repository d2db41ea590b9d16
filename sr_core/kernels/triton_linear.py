"""GELU(x @ W^T + b) in one Triton GEMM, for the MLP's first layer at inference on the GPU.

The VSS blocks' MLP is fc1 -> GELU -> fc2 with a hidden width of 4x the channels. As a cuBLAS
GEMM then a pointwise kernel, the hidden map is written by the GEMM, read and written again by
the GELU and read by fc2: on an H200 (benchmarks/RESULTS.md, session 16) the GELU kernels of a
compiled sr_vmamba_tiny inference step took 0.63 of its 10.7 ms of kernels, at stage 1 a
200 MB map each way (64 x 4096 positions x 384 bf16). Here the bias and the exact
(erf) GELU are the GEMM's epilogue, on its fp32 accumulator, so the hidden map is written once
and rounded once (the two-kernel form rounds the GEMM's output to bf16 before the GELU).

Only the forward: the model takes this path when no gradient is wanted (`Mlp.forward`), so
training is unchanged. Half-precision inputs only (what autocast gives): an fp32 tl.dot would
run in TF32, which F.linear on fp32 does not.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from sr_core.kernels import TRITON_INTERPRET

__all__ = ["linear_gelu"]

_SQRT_HALF = tl.constexpr(0.7071067811865476)


@triton.jit
def _linear_gelu_kernel(a_ptr, w_ptr, bias_ptr, out_ptr, M, N, K,
                        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        GROUP_M: tl.constexpr, EVEN_K: tl.constexpr, DOT_F32: tl.constexpr):
    """out[m, n] = gelu(sum_k a[m, k] w[n, k] + bias[n]) over one (BLOCK_M, BLOCK_N) tile; a (M, K),
    w (N, K) and out (M, N) contiguous, bias fp32. Tiles go in groups of GROUP_M along M, so that
    programs running together share their a rows and w columns in L2. DOT_F32: the operands
    widened before the dot (Triton's interpreter has no bf16 dot)."""
    pid = tl.program_id(0)
    n_m = tl.cdiv(M, BLOCK_M)
    n_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * n_n
    first_m = (pid // group) * GROUP_M
    rows = min(n_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % rows
    pid_n = (pid % group) // rows
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    a_ptrs = a_ptr + offs_m.to(tl.int64)[:, None] * K + offs_k[None, :]
    w_ptrs = w_ptr + offs_n[None, :] * K + offs_k[:, None]
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        if EVEN_K:
            a = tl.load(a_ptrs, mask=mmask[:, None], other=0.0)
            w = tl.load(w_ptrs, mask=nmask[None, :], other=0.0)
        else:
            kmask = offs_k + k0 < K
            a = tl.load(a_ptrs, mask=mmask[:, None] & kmask[None, :], other=0.0)
            w = tl.load(w_ptrs, mask=kmask[:, None] & nmask[None, :], other=0.0)
        if DOT_F32:
            acc += tl.dot(a.to(tl.float32), w.to(tl.float32))
        else:
            acc = tl.dot(a, w, acc)
        a_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    v = acc + tl.load(bias_ptr + offs_n, mask=nmask, other=0.0)[None, :]
    v = 0.5 * v * (1.0 + tl.math.erf(v * _SQRT_HALF))
    out_ptrs = out_ptr + offs_m.to(tl.int64)[:, None] * N + offs_n[None, :]
    tl.store(out_ptrs, v.to(out_ptr.dtype.element_ty), mask=mmask[:, None] & nmask[None, :])


_TILE = (128, 128, 0, 8, 8, 3)  # BLOCK_M, BLOCK_N, BLOCK_K (0: 64 where K allows, else 32), GROUP_M, warps, stages


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                tile: tuple[int, int, int, int, int, int] | None = None) -> torch.Tensor:
    """`F.gelu(F.linear(x, weight, bias))` (exact GELU) in x's dtype, accumulated in fp32.

    Args:
        x: (..., K) float16 or bfloat16 (any leading shape; made contiguous).
        weight: (N, K) in x's dtype.
        bias: (N,) or None; added in fp32.
        tile: (BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, warps, stages) of the launch (powers of two
            but the stages; BLOCK_K 0: 64 where it divides K, else 32); None: `_TILE`. For
            benchmarks/fused_kernels.py to compare tiles.

    Returns:
        (..., N) in x's dtype. No autograd: for inference.
    """
    if x.dtype not in (torch.float16, torch.bfloat16) or weight.dtype != x.dtype:
        raise TypeError(f"linear_gelu takes float16 or bfloat16 x and weight of one dtype, got {x.dtype} "
                        f"and {weight.dtype}")
    n, k = weight.shape
    if x.shape[-1] != k:
        raise ValueError(f"x has {x.shape[-1]} features, the weight takes {k}")
    a = x.reshape(-1, k)
    tile = list(tile or _TILE)
    out = (_linear_gelu_op(a, weight, bias, tile) if torch.compiler.is_compiling()
           else _linear_gelu(a, weight, bias, tile))
    return out.view(*x.shape[:-1], n)


def _linear_gelu(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, tile: list[int]) -> torch.Tensor:
    """(M, K) a -> (M, N) GELU(a @ weight^T + bias)."""
    a = a.contiguous()
    n, k = weight.shape
    m = a.shape[0]
    out = torch.empty((m, n), dtype=a.dtype, device=a.device)
    b = (torch.zeros(n, device=a.device) if bias is None else bias).float().contiguous()
    # _TILE: 128 x 128 tiles in 3 stages, as Inductor's fastest Triton GEMMs for the model's fc1
    # shapes on an H200 (its autotune log, session 16); 8 warps, so that the epilogue's erf is
    # spread over 256 threads. Six other tiles were no faster beyond stage 1 (session 18,
    # benchmarks/fused_kernels.py; RESULTS.md); the ten launches take 1.12 ms, about 0.8 TB/s of
    # the hidden maps written, so the epilogue's latency, not the memory, bounds it.
    block_m, block_n, block_k, group_m, warps, stages = tile
    block_k = block_k or (64 if k % 64 == 0 else 32)
    grid = (triton.cdiv(m, block_m) * triton.cdiv(n, block_n),)
    _linear_gelu_kernel[grid](a, weight.contiguous(), b, out, m, n, k, BLOCK_M=block_m, BLOCK_N=block_n,
                              BLOCK_K=block_k, GROUP_M=group_m, EVEN_K=k % block_k == 0, DOT_F32=TRITON_INTERPRET,
                              num_warps=warps, num_stages=stages)
    return out


@torch.library.custom_op("sr_core::linear_gelu", mutates_args=())
def _linear_gelu_op(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, tile: list[int]) -> torch.Tensor:
    """`_linear_gelu` as an operator torch.compile calls as it is: Triton's own launcher then
    launches the kernel, as in eager mode (triton_ss2d_io's docstring says why)."""
    return _linear_gelu(a, weight, bias, tile)


@_linear_gelu_op.register_fake
def _(a, weight, bias, tile):
    return a.new_empty((a.shape[0], weight.shape[0]))
