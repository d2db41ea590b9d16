"""Where the plane backward kernel's time goes: the kernel with parts of it taken out (issue 17).

    python benchmarks/bwd_ablation.py [STAGES, e.g. 1,3] [--flags 0,1,2,...] [--once]

Writes a copy of sr_core/kernels/triton_plane_bwd.py with an ABL bit mask (a compile-time
constant) to a temporary folder, each bit taking one part out of every direction (NAMES: the
dB/dC sums and atomics, the sums over the plane, the dz store, the adjoint scan's third
operand, either scan, the dt projection's loads and multiply-adds), and prints the GPU time of
`_plane_bwd_kernel`'s launches in `_scan_backward` (torch.profiler) for each mask: bf16, batch
64, the stage shapes, the default configuration. With parts taken out
the results are wrong on purpose: it times, never checks; with none (ABL 0) they are the
kernel's own (tests/benchmarks/test_bwd_ablation.py). The copy is made by exact text
substitutions on the kernel's source, kept in step with the kernel (the figures in
benchmarks/RESULTS.md name the commit they ran on); on a kernel they do not match they stop
with the text they did not find. --once: compile and run each mask once, untimed (no GPU
needed with TRITON_INTERPRET=1, on the "t" shape).
"""
import argparse
import atexit
import importlib.util
import pathlib
import shutil
import statistics
import sys
import tempfile

import torch

root = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root))
src = (root / "sr_core/kernels/triton_plane_bwd.py").read_text()


def sub(old, new, count=1):
    global src
    if src.count(old) != count:
        sys.exit(f"bwd_ablation.py: triton_plane_bwd.py has changed; not found {count} time(s):\n{old}")
    src = src.replace(old, new)


sub("from sr_core.kernels.triton_ss2d_fwd import exp_fast, lin_combine, widen",
    "from sr_core.kernels.triton_ss2d_fwd import exp_fast, lin_combine, widen, softplus")
sub("                  SP_LG2: tl.constexpr = False):",
    "                  SP_LG2: tl.constexpr = False, ABL: tl.constexpr = 0):")
sub("""\
    z, delta, A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp, valid,
                                              L, D, R, R_PAD, BLOCK_D, HP * WP, USE_DOT, DOT_LOWP, SP_LG2)
    bb = delta * Bk * uk
    a_s = to_scan_order(a, TRANS, BLOCK_D, HP, WP)
    _, h = tl.associative_scan((a_s, to_scan_order(bb, TRANS, BLOCK_D, HP, WP)), 1, lin_combine, reverse=k >= 2)
    _, _, g = tl.associative_scan((a_s, tl.full(a.shape, 1.0, tl.float32),
                                   to_scan_order(Ck * gyk, TRANS, BLOCK_D, HP, WP)), 1, adjoint_combine,
                                  reverse=k < 2)
""", """    if ABL & 64:
        Bk = xdbl_row(xdbl_ptr, b, k, R, sp, valid, L, C)
        Ck = xdbl_row(xdbl_ptr, b, k, R + 1, sp, valid, L, C)
        z = tl.load(dtb_ptr + k * D + offs_d, mask=dmask, other=0.0)[:, None] + Bk * 0.01
        delta = tl.where(dmask[:, None] & valid[None, :], softplus(z), 0.0)
        A = -tl.exp(tl.load(alog_ptr + k * D + offs_d, mask=dmask, other=0.0).to(tl.float32))
        a = tl.exp(A[:, None] * delta)
    else:
        z, delta, A, a, Bk, Ck = direction_coeffs(xdbl_ptr, dtw_ptr, dtb_ptr, alog_ptr, b, k, offs_d, dmask, sp,
                                                  valid, L, D, R, R_PAD, BLOCK_D, HP * WP, USE_DOT, DOT_LOWP,
                                                  SP_LG2)
    bb = delta * Bk * uk
    a_s = to_scan_order(a, TRANS, BLOCK_D, HP, WP)
    if ABL & 16:
        h = to_scan_order(bb * a, TRANS, BLOCK_D, HP, WP)
    else:
        _, h = tl.associative_scan((a_s, to_scan_order(bb, TRANS, BLOCK_D, HP, WP)), 1, lin_combine,
                                   reverse=k >= 2)
    if ABL & 32:
        g = to_scan_order(Ck * gyk * a, TRANS, BLOCK_D, HP, WP)
    elif ABL & 8:
        _, g = tl.associative_scan((a_s, to_scan_order(Ck * gyk, TRANS, BLOCK_D, HP, WP)), 1, lin_combine,
                                   reverse=k < 2)
    else:
        _, _, g = tl.associative_scan((a_s, tl.full(a.shape, 1.0, tl.float32),
                                       to_scan_order(Ck * gyk, TRANS, BLOCK_D, HP, WP)), 1, adjoint_combine,
                                      reverse=k < 2)
""")
sub("    if PLANE_CHUNK == 0:\n", "    if ABL & 2:\n        pass\n    elif PLANE_CHUNK == 0:\n")
sub("""    add_over_channels(dxdbl_ptr + (xrow + R) * L + sp, gd * uk, valid, BLOCK_D, LP, POS_GROUP)
    add_over_channels(dxdbl_ptr + (xrow + R + 1) * L + sp, gyk * h, valid, BLOCK_D, LP, POS_GROUP)
    dt_grads(""", """    if ABL & 1:
        gd += 1e-30 * gyk * h  # keep h live
    else:
        add_over_channels(dxdbl_ptr + (xrow + R) * L + sp, gd * uk, valid, BLOCK_D, LP, POS_GROUP)
        add_over_channels(dxdbl_ptr + (xrow + R + 1) * L + sp, gyk * h, valid, BLOCK_D, LP, POS_GROUP)
    if ABL & 4:
        gd += dz * 1e-30
    else:
      dt_grads(""")
sub("EVEN_D: tl.constexpr = False):\n", "EVEN_D: tl.constexpr = False, ABL: tl.constexpr = 0):\n")
sub("DOT_LOWP, DT_GEMM, k % 2, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2)",
    "DOT_LOWP, DT_GEMM, k % 2, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2, ABL)")
sub("DOT_LOWP, DT_GEMM, 0, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2)",
    "DOT_LOWP, DT_GEMM, 0, DENSE, PLANE_CHUNK, POS_GROUP, SP_LG2, ABL)")
folder = tempfile.mkdtemp(prefix="sr_bwd_ablation_")
atexit.register(shutil.rmtree, folder, True)
out = pathlib.Path(folder) / "abl_kernel.py"
out.write_text(src)
spec = importlib.util.spec_from_file_location("abl_kernel", out)
abl = importlib.util.module_from_spec(spec)
sys.modules["abl_kernel"] = abl
spec.loader.exec_module(abl)

from sr_core.kernels import triton_plane  # noqa: E402
from sr_core.kernels.triton_plane import _column_slots_transposed, _config, _scan_backward, _TRANSPOSE  # noqa: E402
from sr_core.kernels.triton_ss2d import project_positions  # noqa: E402


class Ablated:
    """Stands in for `_plane_bwd_kernel` in triton_plane: the ablated copy launched with ABL=flags."""

    def __init__(self, flags: int):
        self.flags = flags

    def __getitem__(self, grid):
        launch = abl._plane_bwd_kernel[grid]
        return lambda *a, **k: launch(*a, ABL=self.flags, **k)


DEV = "cuda" if torch.cuda.is_available() else "cpu"
STAGES = {"t": (4, 8, 2), "1": (192, 64, 6), "2": (384, 32, 12), "3": (768, 16, 24), "4": (1536, 8, 48)}
NAMES = {0: "nothing", 1: "dB/dC sums and atomics", 2: "sums over the plane", 4: "dz store",
         8: "adjoint scan's third operand", 16: "h scan", 32: "adjoint (g) scan", 64: "dt projection",
         7: "1 + 2 + 4", 48: "both scans", 55: "both scans and 1 + 2 + 4"}


def backward_inputs(stage: str) -> tuple:
    """_scan_backward's arguments at a stage shape (batch 64; "t": a tiny one, batch 2), bf16."""
    d, hw, r = STAGES[stage]
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.randn(64 if stage != "t" else 2, d, hw, hw, device=DEV, dtype=torch.bfloat16, generator=g)
    xw = torch.randn(4, r + 2, d, device=DEV, generator=g) * d**-0.5
    dtw = torch.randn(4, d, r, device=DEV, generator=g) * r**-0.5
    dtb = torch.randn(4, d, device=DEV, generator=g) * 0.5 - 4.0
    alog = torch.zeros(4 * d, 1, device=DEV)
    ds = torch.ones(4 * d, device=DEV)
    cfg = _config(hw, hw, d, r)
    x_dbl = project_positions(xw, x, x.dtype)
    if cfg.col_mode == _TRANSPOSE:
        x_dbl = _column_slots_transposed(x_dbl, hw, hw)
    return x, x_dbl, dtw, dtb, alog, ds, torch.randn_like(x), cfg


def ablated_backward(flags: int, inputs: tuple) -> tuple:
    """_scan_backward's gradients with the ablated kernel (the module's own kernel put back after)."""
    kernel = triton_plane._plane_bwd_kernel
    triton_plane._plane_bwd_kernel = Ablated(flags)
    try:
        return _scan_backward(*inputs)
    finally:
        triton_plane._plane_bwd_kernel = kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stages", nargs="?", default="1", help="comma-separated: 1-4, t")
    parser.add_argument("--flags", default=",".join(map(str, NAMES)), help="comma-separated ABL masks")
    parser.add_argument("--once", action="store_true", help="compile and run each mask once, untimed")
    args = parser.parse_args()
    flags = [int(f) for f in args.flags.split(",")]
    if not args.once and DEV != "cuda":
        sys.exit("needs a CUDA device (or --once)")
    if not args.once:
        print(f"GPU: {torch.cuda.get_device_name()}; bf16, batch 64; _plane_bwd_kernel's GPU ms a backward "
              "(torch.profiler), median of 3 x 5 calls\n\n| stage | ABL | taken out | ms |\n|---|---:|---|---:|")
    for stage in args.stages.split(","):
        inputs = backward_inputs(stage)
        for f in flags:
            ablated_backward(f, inputs)
            if args.once:
                print("ran", stage, f, flush=True)
                continue
            torch.cuda.synchronize()
            times = []
            for _ in range(3):
                with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                    for _ in range(5):
                        ablated_backward(f, inputs)
                    torch.cuda.synchronize()
                total = sum(e.device_time_total for e in prof.key_averages() if "_plane_bwd_kernel" in e.key)
                times.append(total / 5 / 1000)
            print(f"| {stage} | {f} | {NAMES.get(f, '?')} | {statistics.median(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
