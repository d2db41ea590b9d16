"""The VSS block's fused inference kernels around the scan on one GPU, against PyTorch's layers:
depthwise conv + SiLU to planes and LayerNorm + gate from planes (sr_core/kernels/
triton_ss2d_io.py), and the MLP's fc1 + GELU (sr_core/kernels/triton_linear.py).

For each SS2D shape of sr_vmamba_tiny at 256 px (batch 64 by default), in bf16 as the model
runs them at inference:
  conv:  x (B, H, W, C) channels last -> SiLU(depthwise 3x3 conv) as contiguous (B, C, H, W)
         planes. PyTorch: `F.silu(F.conv2d(x.permute(0, 3, 1, 2), ...))` (cuDNN in channels-last
         memory) then `.contiguous()`, the planes the scan reads.
  norm:  y, a (B, H, W, C) view of contiguous planes, and z (B, H, W, C) -> LayerNorm(y) *
         SiLU(z), channels last. PyTorch: `F.layer_norm` (fp32 under autocast) times `F.silu(z)`.
  fc1:   x (B*H*W, dim) -> GELU(x W^T + b), (B*H*W, 4 dim). PyTorch: `F.gelu(F.linear(...))`,
         and `F.linear` alone (cuBLAS' GEMM without the GELU pass, for reference).
Inside torch.compile the model calls these kernels as custom operators, launched as here
(`benchmarks/model_gpu.py --profile` shows them in a compiled step). Times are CUDA-event
medians of --repeats, each over --chain calls queued back to back, after warm-up. Bytes are the
op's unavoidable I/O (conv: read x, write the planes; norm: read y and z, write the output;
fc1: read x and W, write the output), and the floor is bytes / the copy bandwidth measured in
the same run (fc1's FLOPs are 2 M N K; at these K its bytes bound it).

Run: python benchmarks/fused_kernels.py [--batch 64] [--repeats 20] [--stages 1,2,3,4] [--ops conv,norm,fc1]
         [--conv-tile 128x32x4 --conv-tile 256x16x8 ...]   (more conv rows: positions x
         channels x warps of a program, `dwconv_silu_planes(block_p=, block_c=, num_warps=)`)
         [--fc1-tile 128x256x64x8x8x3 ...]   (more fc1 rows: BLOCK_M x BLOCK_N x BLOCK_K x GROUP_M
         x warps x stages, `linear_gelu(tile=)`; BLOCK_K 0: the default's choice)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cuda_time  # noqa: E402
from kernels import STAGES, copy_bandwidth  # noqa: E402


def check(op: str, cases: dict, reference) -> None:
    """Every case's output within 2% (of the largest |value|) of reference()'s: a wrong tile is a
    wrong row, not a fast one."""
    ref = reference().float()
    for name, fn in cases.items():
        diff = (fn().float() - ref).abs().max().item() / ref.abs().max().item()
        if diff > 2e-2:
            raise AssertionError(f"{op} {name}: relative difference {diff:.2e} from PyTorch")


def conv_cases(b: int, c: int, side: int, tiles: list[tuple[int, int, int]]) -> tuple[int, dict]:
    """(bytes, {case name: fn}) for the conv at one shape."""
    from sr_core.kernels.triton_ss2d_io import dwconv_silu_planes

    x = torch.randn(b, side, side, c, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(c, 1, 3, 3, device="cuda", dtype=torch.bfloat16) / 3
    bias = torch.randn(c, device="cuda", dtype=torch.bfloat16)

    def torch_path():
        return F.silu(F.conv2d(x.permute(0, 3, 1, 2), w, bias, padding=1, groups=c)).contiguous()

    def fused(**tile):
        return dwconv_silu_planes(x, w, bias, **tile)

    cases = {"PyTorch conv + SiLU + planes": torch_path, "Triton": fused}
    for p, ch, warps in tiles:
        cases[f"Triton, {p} x {ch}, {warps} warps"] = (
            lambda p=p, ch=ch, warps=warps: fused(block_p=p, block_c=ch, num_warps=warps))
    check("conv", cases, torch_path)
    return 2 * x.numel() * x.element_size(), cases


def norm_cases(b: int, c: int, side: int) -> tuple[int, dict]:
    """(bytes, {case name: fn}) for LayerNorm + gate at one shape."""
    from sr_core.kernels.triton_ss2d_io import layernorm_gate

    y = torch.randn(b, c, side, side, device="cuda", dtype=torch.bfloat16).permute(0, 2, 3, 1)
    z = torch.randn(b, side, side, c, device="cuda", dtype=torch.bfloat16)
    w = torch.rand(c, device="cuda") + 0.5
    bias = torch.randn(c, device="cuda") / 4

    def torch_path():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return (F.layer_norm(y, (c,), w, bias, 1e-5) * F.silu(z)).to(torch.bfloat16)

    def fused():
        return layernorm_gate(y, z, w, bias, 1e-5, torch.bfloat16)

    cases = {"PyTorch LayerNorm x SiLU(z)": torch_path, "Triton": fused}
    check("norm", cases, torch_path)
    return 3 * z.numel() * z.element_size(), cases


def fc1_cases(b: int, dim: int, side: int, tiles: list[tuple[int, ...]]) -> tuple[int, dict]:
    """(bytes, {case name: fn}) for fc1 + GELU at one shape (stage dim, 4 x dim hidden)."""
    from sr_core.kernels.triton_linear import linear_gelu

    x = torch.randn(b * side * side, dim, device="cuda", dtype=torch.bfloat16)
    w = (torch.randn(4 * dim, dim, device="cuda") / dim**0.5).to(torch.bfloat16)
    bias = torch.randn(4 * dim, device="cuda") / 4

    cases = {"PyTorch linear + GELU": lambda: F.gelu(F.linear(x, w, bias.to(x.dtype))),
             "PyTorch linear alone (no GELU)": lambda: F.linear(x, w, bias.to(x.dtype)),
             "Triton": lambda: linear_gelu(x, w, bias)}
    for tile in tiles:
        cases["Triton, " + " x ".join(map(str, tile))] = lambda tile=tile: linear_gelu(x, w, bias, tile)
    check("fc1", {k: v for k, v in cases.items() if "alone" not in k}, cases["PyTorch linear + GELU"])
    return (x.numel() + w.numel() + x.shape[0] * 4 * dim) * x.element_size(), cases


def parse_tile(spec: str, n: int = 3, example: str = "128x32x4") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in spec.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"expected {n} numbers joined by x, e.g. {example}; got {spec!r}")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--chain", type=int, default=5, help="calls queued back to back in each timed repeat")
    parser.add_argument("--stages", default="1,2,3,4")
    parser.add_argument("--ops", default="conv,norm,fc1")
    parser.add_argument("--conv-tile", type=parse_tile, action="append", default=[], metavar="PxCxWARPS")
    parser.add_argument("--fc1-tile", type=lambda v: parse_tile(v, 6, "128x256x64x8x8x3"), action="append",
                        default=[], metavar="MxNxKxGROUPxWARPSxSTAGES")
    args = parser.parse_args()
    if set(ops := args.ops.split(",")) - {"conv", "norm", "fc1"}:
        parser.error(f"--ops: unknown {sorted(set(ops) - {'conv', 'norm', 'fc1'})}; known: conv, norm, fc1")
    if not set(args.stages.split(",")) <= {"1", "2", "3", "4"}:
        parser.error(f"--stages: comma-separated stage numbers 1-4, got {args.stages!r}")
    if not torch.cuda.is_available():
        sys.exit("fused_kernels.py: needs a CUDA GPU")
    bw = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; copy bandwidth {bw:,.0f} GB/s; "
          f"batch {args.batch}, bf16, median of {args.repeats} x {args.chain} calls", flush=True)
    print("\n| op | shape (C, H x W) | case | ms | GB/s | time / copy floor |\n|---|---|---|---:|---:|---:|")
    stages = [STAGES[int(s) - 1] for s in args.stages.split(",")]
    for _name, c, side, _r in stages:
        built = {"conv": lambda: conv_cases(args.batch, c, side, args.conv_tile),
                 "norm": lambda: norm_cases(args.batch, c, side),
                 "fc1": lambda: fc1_cases(args.batch, c // 2, side, args.fc1_tile)}  # dim = d_inner / 2
        for op in ops:
            nbytes, cases = built[op]()
            floor_ms = nbytes / bw / 1e6
            for case, fn in cases.items():
                ms = cuda_time(fn, repeats=args.repeats, warmup=3, chain=args.chain)
                print(f"| {op} | {c}, {side} x {side} | {case} | {ms:.4f} | {nbytes / ms / 1e6:,.0f} | "
                      f"{ms / floor_ms:.2f} |", flush=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
