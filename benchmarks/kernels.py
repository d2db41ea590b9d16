"""SS2D kernels on one GPU: the PyTorch path against the fused Triton path.

For each SS2D shape of sr_vmamba_tiny at 256 px (batch 64 by default) and for bf16 (under
autocast, as in training) and fp32: forward and forward+backward time (CUDA events, median
after warm-up), the minimum bytes the op must move, effective GB/s, the card's copy
bandwidth, and the max difference between the two paths' outputs relative to the largest
|y| (under bf16 autocast both paths round their inputs and outputs to bf16, whose spacing
is 2^-8 relative: differences near 4e-3 are the format's). Prints a markdown table.

Byte model (the op's unavoidable I/O, the same for both paths):
  forward  = read x (B*D*L) + read x_dbl (B*4*(R+2N)*L) + write y (B*L*D)
  backward = read x, x_dbl, dy + write dx, d(x_dbl)   (forward+backward = the sum of both)
each at the dtype of the tensor (x_dbl and its gradient in x's dtype). Parameters are
negligible. The Triton path actually reads x and x_dbl twice (chunk states, then output),
moves fp32 segment carries (6 floats per segment and direction; segments of 16 positions
for the row directions, 8 for the column ones), and its backward transposes dy once and
adds d(x_dbl) in fp32 with atomics. At these sizes it is bound by instructions and
latency (scans, layout changes, 4 softplus per element), not by these bytes.

Run: python benchmarks/kernels.py [--batch 64] [--repeats 20] [--tile-h 16 --tile-w 16 --block-d 16]
     python benchmarks/kernels.py --once [--stages 1,4 --dtypes bf16]   (one Triton forward+backward
     per shape, then each compiled kernel's registers and spills: run it under ncu)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cuda_time  # noqa: E402
from sr_core.kernels import ss2d_scan  # noqa: E402

# (name, d_inner, map side, dt rank) for sr_vmamba_tiny dims 96/192/384/768 at 256 px.
STAGES = [("stage 1", 192, 64, 6), ("stage 2", 384, 32, 12), ("stage 3", 768, 16, 24), ("stage 4", 1536, 8, 48)]
TORCH_FWDBWD_LIMIT_S = 10.0


def copy_bandwidth() -> float:
    """Device-to-device copy of 1 GiB: GB/s counting bytes read and written."""
    src = torch.empty(2**28, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms = cuda_time(lambda: dst.copy_(src), repeats=10)
    return 2 * src.numel() * 4 / ms / 1e6


def make(b, d, hw, r, dtype, n=1):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(b, d, hw, hw, device="cuda", dtype=dtype, generator=g)
    params = [
        torch.randn(4, r + 2 * n, d, device="cuda", generator=g) * d**-0.5,
        torch.randn(4, d, r, device="cuda", generator=g) * r**-0.5,
        torch.randn(4, d, device="cuda", generator=g) * 0.5 - 4.0,  # dt ~ softplus: 0.002-0.1
        torch.log(torch.arange(1, n + 1, device="cuda", dtype=torch.float32)).repeat(4 * d, 1),
        torch.ones(4 * d, device="cuda"),
    ]
    return [x.requires_grad_()] + [p.requires_grad_() for p in params]


def min_bytes(b, d, hw, r, dtype, n=1):
    s = torch.tensor([], dtype=dtype).element_size()
    L = hw * hw
    x, xdbl, y = b * d * L * s, b * 4 * (r + 2 * n) * L * s, b * L * d * s
    fwd = x + xdbl + y
    return fwd, fwd + (x + xdbl + y + x + xdbl)


def run(backend, inputs, dtype, grad: bool, tiles):
    kwargs = tiles if backend == "triton" else {}
    fn = ss2d_scan if backend == "torch" else _triton_fn()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        if not grad:
            with torch.no_grad():
                return fn(*inputs, **({"backend": "torch"} if backend == "torch" else kwargs))
        y = fn(*inputs, **({"backend": "torch"} if backend == "torch" else kwargs))
    y.backward(torch.ones_like(y))
    return y


def _triton_fn():
    from sr_core.kernels.triton_ss2d import ss2d_scan_triton

    return ss2d_scan_triton


def run_once(args, dtypes, tiles) -> None:
    """One forward+backward per shape, then what ptxas gave each compiled Triton kernel."""
    from sr_core.kernels import triton_ss2d_bwd, triton_ss2d_fwd

    for name, d, hw, r in (s for s in STAGES if s[0][-1] in args.stages.split(",")):
        for dname in args.dtypes.split(","):
            run("triton", make(args.batch, d, hw, r, dtypes[dname]), dtypes[dname], True, tiles)
    torch.cuda.synchronize()
    for module in (triton_ss2d_fwd, triton_ss2d_bwd):
        for kname, fn in vars(module).items():
            for cache in getattr(fn, "device_caches", {}).values():
                for compiled in cache[0].values():
                    print(f"{kname}: {compiled.n_regs} registers, {compiled.n_spills} spills, "
                          f"{compiled.metadata.shared} B shared, {compiled.metadata.num_warps} warps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dtypes", default="bf16,fp32")
    parser.add_argument("--stages", default="1,2,3,4")
    parser.add_argument("--no-torch", action="store_true", help="time the Triton path only")
    parser.add_argument("--tile-h", type=int)
    parser.add_argument("--tile-w", type=int)
    parser.add_argument("--block-d", type=int)
    parser.add_argument("--num-warps", type=int)
    parser.add_argument("--bwd-block-d", type=int)
    parser.add_argument("--bwd-num-warps", type=int)
    parser.add_argument("--maxnreg", help="per-kernel register caps, e.g. state=96,out=128,bwd=0 (0: no cap)")
    parser.add_argument("--once", action="store_true",
                        help="one Triton forward+backward per shape and the kernels' registers (for profilers)")
    args = parser.parse_args()
    tiles = {k: v for k, v in (("tile_h", args.tile_h), ("tile_w", args.tile_w), ("block_d", args.block_d),
                               ("num_warps", args.num_warps), ("bwd_block_d", args.bwd_block_d),
                               ("bwd_num_warps", args.bwd_num_warps)) if v}
    if args.maxnreg:
        from sr_core.kernels.triton_ss2d import _config

        try:
            tiles["maxnreg"] = {k: int(v) for k, v in (item.split("=") for item in args.maxnreg.split(","))}
            _config(8, 8, 16, 1, maxnreg=tiles["maxnreg"])  # names checked where the caps are used
        except ValueError as exc:
            parser.error(f"--maxnreg {args.maxnreg!r}: expected KERNEL=REGISTERS[,...] ({exc})")
    if not torch.cuda.is_available():
        sys.exit("needs a CUDA device")
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if args.once:
        run_once(args, dtypes, tiles)
        return
    bw = copy_bandwidth()
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; copy bandwidth {bw:.0f} GB/s "
          f"(1 GiB device-to-device, read+write); batch {args.batch}; median of {args.repeats} (CUDA events); "
          f"tiles {tiles or 'default'}\n")
    print("| shape | dtype | path | fwd ms | fwd GB/s | fwd+bwd ms | fwd+bwd GB/s | max abs diff y / max abs y (Triton vs torch) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, d, hw, r in (s for s in STAGES if s[0][-1] in args.stages.split(",")):
        for dname in args.dtypes.split(","):
            dtype = dtypes[dname]
            inputs = make(args.batch, d, hw, r, dtype)
            fwd_b, all_b = min_bytes(args.batch, d, hw, r, dtype)
            shape = f"{name}: B={args.batch} D={d} {hw}x{hw} R={r}"
            results, outs = {}, {}
            for backend in (["torch"] if not args.no_torch else []) + ["triton"]:
                try:
                    outs[backend] = run(backend, inputs, dtype, False, tiles).float()
                    f_ms = cuda_time(lambda: run(backend, inputs, dtype, False, tiles), args.repeats)
                    fb_ms = math.nan
                    if backend == "triton" or 3 * f_ms * (args.repeats + 2) < TORCH_FWDBWD_LIMIT_S * 1e3:
                        fb_ms = cuda_time(lambda: run(backend, inputs, dtype, True, tiles), args.repeats)
                except torch.OutOfMemoryError:
                    f_ms = fb_ms = math.nan
                torch.cuda.empty_cache()
                results[backend] = (f_ms, fb_ms)
            diff = math.nan
            if "torch" in outs:
                diff = ((outs["triton"] - outs["torch"]).abs().max() / outs["torch"].abs().max()).item()
            for backend, (f_ms, fb_ms) in results.items():
                def cell(ms, nbytes):
                    return ("n/a", "n/a") if math.isnan(ms) else (f"{ms:.3f}", f"{nbytes / ms / 1e6:.0f}")
                f_cells, fb_cells = cell(f_ms, fwd_b), cell(fb_ms, all_b)
                diff_cell = f"{diff:.2e}" if backend == "triton" and not math.isnan(diff) else ""
                print(f"| {shape} | {dname} | {backend} | {f_cells[0]} | {f_cells[1]} | {fb_cells[0]} | {fb_cells[1]} "
                      f"| {diff_cell} |", flush=True)
            del inputs, outs
            torch.cuda.empty_cache()
    print(f"\nmin bytes: forward x + x_dbl + y; forward+backward adds x, x_dbl, dy, dx, d(x_dbl). "
          f"Copy bandwidth {bw:.0f} GB/s is the practical ceiling.")


if __name__ == "__main__":
    main()
