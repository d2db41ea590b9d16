"""The SS2D block's layout changes around the scan, fused into its neighbours, for GPU inference.

Around the plane kernels (triton_plane.py) the block is channels last: in_proj's output goes
through the depthwise 3x3 conv and SiLU, the scan wants contiguous (B, D, H, W) planes, and its
output goes through a LayerNorm over channels, gated by SiLU(z), into out_proj. In PyTorch that
is three kernels over a stage-1 map (64 x 4096 positions x 192 bf16, 100 MB) before the scan (a
cuDNN depthwise conv in channels-last memory, a SiLU, a tiled transpose to planes,
triton_layout.py) and, after it, a transpose back and the LayerNorm (fp32 under autocast) and
gate, which are more kernels in eager mode and one fused by Inductor when compiled. Here each
side is one kernel:

* `dwconv_silu_planes`: SiLU(depthwise 3x3 conv) read from channels-last memory, written as
  contiguous planes. A program takes a run of positions of one image (flattened row-major, so
  small planes take several rows) and a block of channels; the nine taps are shifted loads of
  that tile (the neighbours' rows from L1 / L2), accumulated in fp32; the tile is stored
  along positions, which the planes hold contiguously.
* `layernorm_gate`: LayerNorm over channels of the scan's output, times SiLU(z), read from
  planes (or channels-last memory), written channels last in the dtype out_proj takes. A program takes
  a run of positions and whole rows of channels (or, past 2048, loops over them in blocks): the
  mean, then the variance about it (not E[x^2] - mean^2), then the output.

Inside torch.compile each is a custom operator (`torch.library.custom_op`, sr_core::...), which
Inductor calls as it is, so the kernel is launched by Triton's own launcher with the
specialisation eager mode gives it. Traced as a plain Triton kernel, Inductor generated its own
launch, and the LayerNorm kernel took 1.34 ms of a compiled sr_vmamba_tiny inference step
against 0.69 ms eager (H200, session 17; `benchmarks/model_gpu.py --profile`); as an operator,
0.70 ms (session 18). Eager calls skip the operator and run the function itself, so the
viewer's eager forward does not pay the dispatcher's round trip on every kernel. The fused
fc1 + GELU (triton_linear.py) and the plane scan (triton_plane.py) do the same.

Forward only: the model takes these when no gradient is wanted (`SS2D.forward`, the same rule
as the fused MLP's, `vmamba._fused_dtype`), so training is unchanged. Both accumulate in fp32
and round once; PyTorch's path rounds the conv's output before the SiLU and SiLU(z) before
the product, so results agree to half-precision rounding, not bit for bit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["dwconv_silu_planes", "layernorm_gate"]

_BLOCK_P = 64  # positions a program (64 x 2 bytes: a 128-byte run of a plane)
_TILE = 4096  # tile elements (positions x channels) a program aims for


@triton.jit
def _dwconv_silu_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, H, W, C,
                        HAS_BIAS: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """out[b, c, p] = silu(sum_taps x[b, p + tap, c] w[c, tap] + bias[c]) over BLOCK_P positions p
    (row-major in the (H, W) plane) and BLOCK_C channels; x (B, H, W, C) and out (B, C, H, W)
    contiguous, w (C, 9) contiguous."""
    L = H * W
    b = tl.program_id(0) // tl.cdiv(L, BLOCK_P)
    p = (tl.program_id(0) % tl.cdiv(L, BLOCK_P)) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    row = p // W
    col = p % W
    cmask = c < C
    base = x_ptr + b.to(tl.int64) * L * C
    acc = tl.zeros((BLOCK_P, BLOCK_C), dtype=tl.float32)
    for dh in tl.static_range(3):
        r = row + (dh - 1)
        rmask = (p < L) & (r >= 0) & (r < H)
        for dw in tl.static_range(3):
            q = col + (dw - 1)
            pmask = rmask & (q >= 0) & (q < W)
            v = tl.load(base + (r * W + q)[:, None] * C + c[None, :], mask=pmask[:, None] & cmask[None, :],
                        other=0.0)
            k = tl.load(w_ptr + c * 9 + (dh * 3 + dw), mask=cmask, other=0.0)
            acc += v.to(tl.float32) * k.to(tl.float32)[None, :]
    if HAS_BIAS:
        acc += tl.load(bias_ptr + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
    y = acc / (1.0 + tl.exp(-acc))
    out = out_ptr + b.to(tl.int64) * C * L + c[None, :].to(tl.int64) * L + p[:, None]
    tl.store(out, y.to(out_ptr.dtype.element_ty), mask=(p < L)[:, None] & cmask[None, :])


def _blocks(length: int, channels: int) -> tuple[int, int]:
    """(positions, channels) of a program's tile: _BLOCK_P positions, or the whole plane where it
    is smaller (stage 4 at 256 px: 8 x 8), and channels to about _TILE elements."""
    block_p = min(_BLOCK_P, triton.next_power_of_2(length))
    return block_p, min(triton.next_power_of_2(channels), max(16, _TILE // block_p))


def dwconv_silu_planes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                       block_p: int | None = None, block_c: int | None = None, num_warps: int = 4) -> torch.Tensor:
    """`F.silu(F.conv2d(x.permute(0, 3, 1, 2), weight, bias, padding=1, groups=C))` as contiguous planes.

    Args:
        x: (B, H, W, C) channels-last features (made contiguous), any float dtype.
        weight: (C, 1, 3, 3), the depthwise conv's.
        bias: (C,) or None.
        block_p, block_c, num_warps: a program's positions and channels (powers of two) and
            warps (None: `_blocks`' tile), for benchmarks/fused_kernels.py to compare tiles.

    Returns:
        (B, C, H, W) contiguous, in x's dtype, computed in fp32. No autograd: for inference.
    """
    c = x.shape[-1]
    if tuple(weight.shape) != (c, 1, 3, 3):
        raise ValueError(f"a depthwise 3x3 conv over {c} channels needs a ({c}, 1, 3, 3) weight, "
                         f"got {tuple(weight.shape)}")
    if torch.compiler.is_compiling():
        return _dwconv_silu_op(x, weight, bias, block_p, block_c, num_warps)
    return _dwconv_silu(x, weight, bias, block_p, block_c, num_warps)


def _dwconv_silu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, block_p: int | None,
                 block_c: int | None, num_warps: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.contiguous()
    out = torch.empty((b, c, h, w), dtype=x.dtype, device=x.device)
    auto_p, auto_c = _blocks(h * w, c)
    block_p, block_c = block_p or auto_p, block_c or auto_c
    grid = (b * triton.cdiv(h * w, block_p), triton.cdiv(c, block_c))
    _dwconv_silu_kernel[grid](x, weight.reshape(c, 9).contiguous(), x if bias is None else bias.contiguous(), out,
                              h, w, c, HAS_BIAS=bias is not None, BLOCK_P=block_p, BLOCK_C=block_c,
                              num_warps=num_warps)
    return out


@torch.library.custom_op("sr_core::dwconv_silu_planes", mutates_args=())
def _dwconv_silu_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, block_p: int | None,
                    block_c: int | None, num_warps: int) -> torch.Tensor:
    """`_dwconv_silu` as an operator torch.compile calls as it is (see the module's docstring)."""
    return _dwconv_silu(x, weight, bias, block_p, block_c, num_warps)


@_dwconv_silu_op.register_fake
def _(x, weight, bias, block_p, block_c, num_warps):
    b, h, w, c = x.shape
    return x.new_empty((b, c, h, w))


@triton.jit
def _layernorm_gate_kernel(y_ptr, z_ptr, w_ptr, b_ptr, out_ptr, L, C, eps,
                           Y_PLANES: tl.constexpr, HAS_Z: tl.constexpr, BLOCK_P: tl.constexpr,
                           BLOCK_C: tl.constexpr, WHOLE: tl.constexpr):
    """out[b, p, c] = ((y[b, p, c] - mean) * rstd * w[c] + b[c]) * silu(z[b, p, c]) over BLOCK_P
    positions p, the statistics over all C channels; y contiguous (B, C, L) planes (Y_PLANES) or
    (B, L, C), z and out (B, L, C) contiguous. WHOLE: every channel in one block (C <= BLOCK_C),
    y loaded once.

    The layout is a constexpr rather than strides passed in, so that the compiler knows the
    loads along positions (planes) or channels to be contiguous whatever specialisation the
    launch gives its arguments (on an H200, session 18, it timed level with the strided form:
    0.169-0.184 against 0.185 ms at stage 1, benchmarks/fused_kernels.py)."""
    b = tl.program_id(0) // tl.cdiv(L, BLOCK_P)
    p = (tl.program_id(0) % tl.cdiv(L, BLOCK_P)) * BLOCK_P + tl.arange(0, BLOCK_P)
    pmask = p < L
    row = b.to(tl.int64) * L * C + p[:, None].to(tl.int64) * C
    if Y_PLANES:
        y_base = y_ptr + b.to(tl.int64) * L * C + p[:, None]
        s_yc = L
    else:
        y_base = y_ptr + row
        s_yc = 1
    if WHOLE:
        c = tl.arange(0, BLOCK_C)
        cmask = c < C
        m = pmask[:, None] & cmask[None, :]
        v = tl.load(y_base + c[None, :] * s_yc, mask=m, other=0.0).to(tl.float32)
        mean = tl.sum(v, axis=1) / C
        d = tl.where(m, v - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(d * d, axis=1) / C + eps)
        v = d * rstd[:, None] * tl.load(w_ptr + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
        v += tl.load(b_ptr + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
        if HAS_Z:
            g = tl.load(z_ptr + row + c[None, :], mask=m, other=0.0).to(tl.float32)
            v = v * (g / (1.0 + tl.exp(-g)))
        tl.store(out_ptr + row + c[None, :], v.to(out_ptr.dtype.element_ty), mask=m)
    else:
        total = tl.zeros((BLOCK_P,), dtype=tl.float32)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            v = tl.load(y_base + c[None, :] * s_yc, mask=pmask[:, None] & (c < C)[None, :], other=0.0)
            total += tl.sum(v.to(tl.float32), axis=1)
        mean = total / C
        spread = tl.zeros((BLOCK_P,), dtype=tl.float32)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            m = pmask[:, None] & (c < C)[None, :]
            v = tl.load(y_base + c[None, :] * s_yc, mask=m, other=0.0)
            d = tl.where(m, v.to(tl.float32) - mean[:, None], 0.0)
            spread += tl.sum(d * d, axis=1)
        rstd = 1.0 / tl.sqrt(spread / C + eps)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            cmask = c < C
            m = pmask[:, None] & cmask[None, :]
            v = tl.load(y_base + c[None, :] * s_yc, mask=m, other=0.0).to(tl.float32)
            v = (v - mean[:, None]) * rstd[:, None] * tl.load(w_ptr + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
            v += tl.load(b_ptr + c, mask=cmask, other=0.0).to(tl.float32)[None, :]
            if HAS_Z:
                g = tl.load(z_ptr + row + c[None, :], mask=m, other=0.0).to(tl.float32)
                v = v * (g / (1.0 + tl.exp(-g)))
            tl.store(out_ptr + row + c[None, :], v.to(out_ptr.dtype.element_ty), mask=m)


_NORM_WHOLE = 2048  # channels (padded) up to which a LayerNorm program holds whole rows
_NORM_TILE = 8192  # tile elements (positions x padded channels) a LayerNorm program aims for


def _norm_blocks(length: int, channels: int, block_c: int | None = None) -> tuple[int, int, int]:
    """(positions, channels, warps) of a LayerNorm program: whole rows (every stage at 256 px:
    192-1536 channels) with 8-64 positions and 16-32 fp32 elements a thread, else blocks of
    channels, each looped over in three passes (block_c: force that, for tests)."""
    c_pad = triton.next_power_of_2(channels)
    if block_c is None and c_pad <= _NORM_WHOLE:
        block_p = min(triton.next_power_of_2(length), max(8, min(64, _NORM_TILE // c_pad)))
        return block_p, c_pad, max(4, min(16, block_p * c_pad // 512))
    block_p, auto_c = _blocks(length, channels)
    return block_p, block_c or auto_c, 4


def layernorm_gate(y: torch.Tensor, z: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor,
                   eps: float = 1e-5, dtype: torch.dtype | None = None, block_c: int | None = None) -> torch.Tensor:
    """`F.layer_norm(y, (C,), weight, bias, eps) * F.silu(z)` (without z: the LayerNorm alone), channels last.

    Args:
        y: (B, H, W, C): a view of contiguous (B, C, H, W) planes (what the plane kernels hand
            back), read along positions as it lies, or anything else, made contiguous.
        z: (B, H, W, C) or None; made contiguous.
        weight, bias: (C,), the LayerNorm's.
        eps: the LayerNorm's.
        dtype: the output's (default y's): the dtype the next layer computes in.
        block_c: channels a block, looped over (a power of two; None: whole rows where the
            channels fit, `_norm_blocks`).

    Returns:
        (B, H, W, C) contiguous, computed in fp32. No autograd: for inference.
    """
    b, h, w, c = y.shape
    if z is not None and tuple(z.shape) != tuple(y.shape):
        raise ValueError(f"the gate z has shape {tuple(z.shape)}, the scan's output {tuple(y.shape)}")
    if tuple(weight.shape) != (c,) or tuple(bias.shape) != (c,):
        raise ValueError(f"a LayerNorm over {c} channels needs ({c},) weight and bias")
    if torch.compiler.is_compiling():
        return _layernorm_gate_op(y, z, weight, bias, eps, dtype, block_c)
    return _layernorm_gate(y, z, weight, bias, eps, dtype, block_c)


def _layernorm_gate(y: torch.Tensor, z: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor, eps: float,
                    dtype: torch.dtype | None, block_c: int | None) -> torch.Tensor:
    b, h, w, c = y.shape
    # The kernel is given a contiguous tensor, never a strided view: the scan's planes as the
    # (B, C, H, W) tensor they are, any other y made contiguous channels last.
    planes = y.permute(0, 3, 1, 2)
    y_planes = planes.is_contiguous() and not y.is_contiguous()
    src = planes if y_planes else y.contiguous()
    out = torch.empty((b, h, w, c), dtype=dtype or y.dtype, device=y.device)
    block_p, block_c, warps = _norm_blocks(h * w, c, block_c)
    zc = src if z is None else z.contiguous()
    grid = (b * triton.cdiv(h * w, block_p),)
    _layernorm_gate_kernel[grid](src, zc, weight.contiguous(), bias.contiguous(), out, h * w, c, eps,
                                 Y_PLANES=y_planes, HAS_Z=z is not None, BLOCK_P=block_p, BLOCK_C=block_c,
                                 WHOLE=c <= block_c, num_warps=warps)
    return out


@torch.library.custom_op("sr_core::layernorm_gate", mutates_args=())
def _layernorm_gate_op(y: torch.Tensor, z: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor, eps: float,
                       dtype: torch.dtype | None, block_c: int | None) -> torch.Tensor:
    """`_layernorm_gate` as an operator torch.compile calls as it is (see the module's docstring)."""
    return _layernorm_gate(y, z, weight, bias, eps, dtype, block_c)


@_layernorm_gate_op.register_fake
def _(y, z, weight, bias, eps, dtype, block_c):
    return y.new_empty(y.shape, dtype=dtype or y.dtype)
