"""SS2D kernels on one GPU: the PyTorch path, the chunked Triton path and the plane Triton path.

For each SS2D shape of sr_vmamba_tiny at 256 px (batch 64 by default) and for bf16 (under
autocast, as in training) and fp32: forward and forward+backward time (CUDA events, median
after warm-up; each Triton repeat times --chain calls queued back to back, so the host's launch
latency is hidden as it is inside a model), the op's work (minimum bytes, FLOPs, transcendentals), the floor that work
sets on this card, time / floor, and the max difference between each Triton path's output
and the PyTorch path's relative to the largest |y| (under bf16 autocast every path rounds its
inputs and outputs to bf16, whose spacing is 2^-8 relative: differences near 4e-3 are the
format's). Prints two markdown tables: work and floors per shape, then the timings.

Byte model (the op's unavoidable I/O, the same for every path):
  forward  = read x (B*D*L) + read x_dbl (B*4*(R+2N)*L) + write y (B*L*D)
  backward = read x, x_dbl, dy + write dx, d(x_dbl)   (forward+backward = the sum of both)
each at the dtype of the tensor (x_dbl and its gradient in x's dtype). Parameters are
negligible.

Arithmetic model, per element (B*D*L) and direction (4), d_state 1, counted as the least a
fused kernel must do (a parallel scan does about twice the recurrence's multiply-adds):
  forward:  3 transcendentals (softplus: exp and log1p; a = exp(delta A)) and R + 4
            multiply-adds (the dt projection; b = delta B u; the recurrence; C h), plus one
            multiply-add per element for the D skip;
  backward: the forward again (h is recomputed), 1 transcendental (sigmoid(z) = exp) and
            2R + 9 multiply-adds (d(dt_lowrank) and d(dt_w); the adjoint recurrence; du,
            d(delta), dA, dB, dC).
FLOPs = 2 x multiply-adds. The dt projection's 3R multiply-adds can run on the tensor cores
(tl.dot) at large R; counting them at the FMA rate makes the FMA floor an upper bound.

Floors, measured in the same run: copy bandwidth (a 1 GiB device-to-device copy, bytes read
and written), the special-function rate (a Triton kernel of dependent exp chains, many per
thread; see `_exp_kernel` for why exp stands for log too) and the fp32 FMA rate (a Triton kernel of independent multiply-add chains). A shape's
floor is max(bytes / bandwidth, transcendentals / exp rate, FLOPs / FMA rate).

Run: python benchmarks/kernels.py [--batch 64] [--repeats 20] [--rounds 3] [--backends torch,triton,triton_plane]
         [--tile-h 16 --tile-w 16 --block-d 16] [--plane-block-d 2 --plane-num-warps 16 --plane-col-load]
         [--plane-variant col_mode=transpose --plane-variant dt_grad=atomic --plane-variant tile_elems=2048 ...]
     (each --plane-variant is one more row per shape: the plane path with those options on top
     of the --plane-* ones)
     python benchmarks/kernels.py --graph [...]   (each Triton repeat the replay of a CUDA graph of the
     --chain calls: the GPU's time without the host's, which sets the smaller shapes' times otherwise)
     python benchmarks/kernels.py --once [--stages 1,4 --dtypes bf16]   (one forward+backward per
     shape and Triton path, then each compiled kernel's registers and spills: run it under ncu)
     python benchmarks/kernels.py --profile [--stages 1 --dtypes bf16]   (a forward and a forward+
     backward per shape and Triton path under torch.profiler: every kernel and its CUDA time)
     python benchmarks/kernels.py --ptxas 90 [--plane-block-d 2 ...] [--plane-variant ...]   (no GPU
     needed: the plane kernels compiled for sm_90 here, ptxas' registers and spills per shape)
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import triton
import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    cuda_time,
    graph_replay,
    interleaved_times,
    median_and_range,
    plane_variant,
    print_profile,
    valid_median,
)
from sr_core.kernels import available_backends, ss2d_scan  # noqa: E402

# (name, d_inner, map side, dt rank) for sr_vmamba_tiny dims 96/192/384/768 at 256 px.
STAGES = [("stage 1", 192, 64, 6), ("stage 2", 384, 32, 12), ("stage 3", 768, 16, 24), ("stage 4", 1536, 8, 48)]
TORCH_FWDBWD_LIMIT_S = 10.0
_RATE_BLOCK = 1024  # elements a program of the rate kernels (8 a thread on 4 warps)
_RATE_ITERS = 512


def copy_bandwidth() -> float:
    """Device-to-device copy of 1 GiB: GB/s counting bytes read and written."""
    src = torch.empty(2**28, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms = cuda_time(lambda: dst.copy_(src), repeats=10)
    return 2 * src.numel() * 4 / ms / 1e6


@triton.jit
def _exp_kernel(x_ptr, y_ptr, iters, BLOCK: tl.constexpr):
    """Two dependent exp chains an element: 2 transcendentals a step, on the special-function units.

    tl.exp is one ex2.approx (and a multiply) there, the instruction the scans' exp(delta A),
    softplus and sigmoid use. tl.log is not timed: Triton lowers it to libdevice's logf, a
    polynomial on the FMA units (and the kernels' log1p is a polynomial too), while the
    hardware log (lg2.approx) runs on the same units at the same rate as ex2. v = exp(-v)
    stays in [1/e, 1]: finite for any number of steps.
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x_ptr + offs)
    w = v + 0.5
    for _ in range(iters):
        v = tl.exp(-v)
        w = tl.exp(-w)
    tl.store(y_ptr + offs, v + w)


@triton.jit
def _fma_kernel(x_ptr, y_ptr, iters, BLOCK: tl.constexpr):
    """Four independent multiply-add chains an element: 4 FMAs a step."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    a = tl.load(x_ptr + offs)
    b = a + 1.0
    c = a + 2.0
    d = a + 3.0
    for _ in range(iters):
        a = a * 0.999 + 0.001
        b = b * 0.999 + 0.002
        c = c * 0.999 + 0.003
        d = d * 0.999 + 0.004
    tl.store(y_ptr + offs, a + b + c + d)


def op_rate(kernel, ops_per_step: int, elements: int = 2**23) -> float:
    """Operations a second of one of the rate kernels over `elements` fp32 values (a full GPU)."""
    x = torch.rand(elements, device="cuda")
    y = torch.empty_like(x)
    grid = (elements // _RATE_BLOCK,)

    def launch():
        kernel[grid](x, y, _RATE_ITERS, BLOCK=_RATE_BLOCK, num_warps=4)

    ms = cuda_time(launch, repeats=10)
    return elements * _RATE_ITERS * ops_per_step / ms * 1e3


@dataclass(frozen=True)
class Floors:
    """This card's measured ceilings: bytes, transcendentals and fp32 FLOPs a second."""

    bytes_s: float
    transc_s: float
    flops_s: float

    @classmethod
    def measure(cls) -> "Floors":
        return cls(copy_bandwidth() * 1e9, op_rate(_exp_kernel, 2), 2 * op_rate(_fma_kernel, 4))

    def ms(self, work: dict) -> tuple[float, str]:
        """The floor in ms for that work and what sets it (bytes, transcendentals or FLOPs)."""
        parts = {"bytes": work["bytes"] / self.bytes_s, "transc": work["transc"] / self.transc_s,
                 "flops": work["flops"] / self.flops_s}
        bound = max(parts, key=parts.get)
        return parts[bound] * 1e3, bound


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


def op_work(b, d, hw, r, dtype) -> tuple[dict, dict]:
    """The forward's and the forward+backward's bytes, FLOPs and transcendentals (module docstring)."""
    elems = b * d * hw * hw
    fwd_bytes, all_bytes = min_bytes(b, d, hw, r, dtype)
    fwd_fma = elems * (4 * (r + 4) + 1)
    bwd_fma = fwd_fma + elems * 4 * (2 * r + 9)
    fwd = {"bytes": fwd_bytes, "flops": 2 * fwd_fma, "transc": elems * 4 * 3}
    return fwd, {"bytes": all_bytes, "flops": 2 * (fwd_fma + bwd_fma), "transc": elems * 4 * (3 + 4)}


def path_fns(tiles: dict, plane: dict, variants: dict[str, dict]) -> dict:
    """Path name -> a callable with ss2d_scan's positional arguments, its options bound.

    variants: name -> options of extra plane paths, applied over `plane`.
    """
    from sr_core.kernels.triton_plane import ss2d_scan_triton_plane
    from sr_core.kernels.triton_ss2d import ss2d_scan_triton

    def plane_fn(options):
        return lambda *a: ss2d_scan_triton_plane(*a, **options)

    fns = {"torch": lambda *a: ss2d_scan(*a, backend="torch"),
           "triton": lambda *a: ss2d_scan_triton(*a, **tiles),
           "triton_plane": plane_fn(plane)}
    fns.update({name: plane_fn({**plane, **options}) for name, options in variants.items()})
    return fns


def run(fn, inputs, dtype, grad: bool):
    # No cast cache: inside a CUDA graph capture (--graph) the cached casts would outlive it.
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16, cache_enabled=False):
        if not grad:
            with torch.no_grad():
                return fn(*inputs)
        y = fn(*inputs)
    for t in inputs:  # each call's gradients stored afresh (a training step's zero_grad): no .grad accumulation timed
        t.grad = None
    y.backward(torch.ones_like(y))
    return y


def selected(args):
    return [s for s in STAGES if s[0][-1] in args.stages.split(",")]


def run_once(args, backends, dtypes, fns) -> None:
    """One forward+backward per shape and Triton path, then what ptxas gave each compiled kernel."""
    from triton.backends.nvidia import compiler as nvidia_compiler

    from sr_core.kernels import triton_plane_bwd, triton_plane_fwd, triton_ss2d_bwd, triton_ss2d_fwd

    for name, d, hw, r in selected(args):
        for dname in args.dtypes.split(","):
            for backend in (b for b in backends if b != "torch"):
                run(fns[backend], make(args.batch, d, hw, r, dtypes[dname]), dtypes[dname], True)
    torch.cuda.synchronize()
    for module in (triton_ss2d_fwd, triton_ss2d_bwd, triton_plane_fwd, triton_plane_bwd):
        for kname, fn in vars(module).items():
            for cache in getattr(fn, "device_caches", {}).values():
                for compiled in cache[0].values():
                    print(f"{kname}: {compiled.n_regs} registers, {compiled.n_spills} spills, "
                          f"{compiled.metadata.shared} B shared, {compiled.metadata.num_warps} warps")


def profile_paths(args, backends, dtypes, fns) -> None:
    """Where the GPU time goes, per shape, Triton path and pass (forward, forward+backward): every
    kernel of the third of three runs under torch.profiler (the first two compile and warm), with
    its CUDA time."""
    from torch.profiler import ProfilerActivity, profile

    for name, d, hw, r in selected(args):
        for dname in args.dtypes.split(","):
            inputs = make(args.batch, d, hw, r, dtypes[dname])
            for backend in (b for b in backends if b != "torch"):
                for grad in (False, True):
                    for _ in range(2):
                        run(fns[backend], inputs, dtypes[dname], grad)
                    torch.cuda.synchronize()
                    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
                        run(fns[backend], inputs, dtypes[dname], grad)
                        torch.cuda.synchronize()
                    print_profile(prof, f"{name} {dname} {backend} {'fwd+bwd' if grad else 'fwd'}", top=40)


def ptxas_report(args, dtypes, plane: dict) -> None:
    """Compile the plane kernels for sm_<arch> on this machine (no GPU needed) and print what
    ptxas gives each: registers a thread and spill bytes, and the SASS instructions a thread
    executes (the kernels have no loops: static_range unrolls every direction), the first
    things to look at when a kernel is latency-bound, and the only ones a machine without a
    GPU can see. The integer arguments are specialised as a launch does (1 as a constant,
    multiples of 16 as such), with every plane contiguous at --batch."""
    import re
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler import ASTSource

    from triton.backends.nvidia import compiler as nvidia_compiler

    from sr_core.kernels import triton_plane
    from sr_core.kernels.triton_plane_bwd import _plane_bwd_kernel
    from sr_core.kernels.triton_plane_fwd import _plane_fwd_kernel

    data = {"x_ptr", "xdbl_ptr", "y_ptr", "gy_ptr", "dx_ptr", "dz_ptr"}  # in x's dtype; the rest fp32
    ptxas = get_ptxas(args.ptxas).path
    cuobjdump = Path(nvidia_compiler.__file__).parent / "bin" / "cuobjdump"
    print(f"triton {triton.__version__}, sm_{args.ptxas}, plane options {plane or 'default'}\n")
    print("| shape | dtype | kernel | channels a program | warps | registers | spill stores B | spill loads B "
          "| SASS instructions |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    ops = []
    for name, d, hw, r in selected(args):
        cfg = triton_plane._config(hw, hw, d, r, **plane)
        for dname in args.dtypes.split(","):
            dtype = dtypes[dname]
            x = torch.empty(args.batch, d, hw, hw, dtype=dtype, device="meta")
            x_dbl = torch.empty(args.batch, 4, r + 2, hw * hw, dtype=dtype, device="meta")
            def parts(mode):  # "transpose": two launches
                return (1, 2) if mode == triton_plane._TRANSPOSE else (0,)

            for kernel, backward, part in ((k, bw, p) for k, bw, mode in (
                    (_plane_fwd_kernel, False, cfg.col_mode), (_plane_bwd_kernel, True, cfg.bwd_col_mode))
                    for p in parts(mode)):
                launch = triton_plane._Launch(x, x_dbl, r, cfg, backward)
                meta = dict(launch.meta, **triton_plane._part_meta(part, cfg))
                warps = meta.pop("num_warps")
                options = {"num_warps": warps, **({"maxnreg": meta.pop("maxnreg")} if "maxnreg" in meta else {})}
                strides = {"b": d * hw * hw, "d": hw * hw, "h": hw, "w": 1}  # contiguous (B, D, H, W) planes
                ints = {"H": hw, "W": hw, "D": d, "n_dblk": launch.n_dblk, "n_part": min(args.batch, 8)}
                ints.update({a: strides[a[-1]] for a in kernel.arg_names if len(a) == 3 and a[0] == "s"})
                meta.update({a: 1 for a, v in ints.items() if v == 1})  # a launch makes 1 a constant
                sig = {a: "constexpr" if a in meta else "i32" if not a.endswith("_ptr")
                       else f"*{dname}" if a in data else "*fp32" for a in kernel.arg_names}
                attrs = {(i,): [["tt.divisibility", 16]] for i, a in enumerate(kernel.arg_names)
                         if a.endswith("_ptr") or (a in ints and ints[a] % 16 == 0)}
                src = ASTSource(fn=kernel, signature=sig, attrs=attrs,
                                constexprs={(kernel.arg_names.index(k),): v for k, v in meta.items()})
                compiled = triton.compile(src, target=GPUTarget("cuda", args.ptxas, 32), options=options)
                with tempfile.NamedTemporaryFile("w", suffix=".ptx") as fh:
                    fh.write(compiled.asm["ptx"])
                    fh.flush()
                    info = subprocess.run([ptxas, "-v", f"--gpu-name=sm_{args.ptxas}a", fh.name, "-o", "/dev/null"],
                                          capture_output=True, text=True, check=True).stderr
                with tempfile.NamedTemporaryFile("wb", suffix=".cubin") as fh:
                    fh.write(compiled.asm["cubin"])
                    fh.flush()
                    sass = subprocess.run([str(cuobjdump), "-sass", fh.name], capture_output=True, text=True).stdout
                n_sass = len(re.findall(r"^\s+/\*[0-9a-f]{4,}\*/", sass, flags=re.M)) or "?"
                regs = re.search(r"Used (\d+) registers", info)
                spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", info)
                label = ("bwd" if backward else "fwd") + (f" part {part}" if part else "")
                print(f"| {name}: D={d} {hw}x{hw} R={r} | {dname} | {label} | "
                      f"{meta['BLOCK_D']} | {warps} | {regs.group(1) if regs else '?'} | "
                      f"{' | '.join(spills.groups()) if spills else '? | ?'} | {n_sass} |", flush=True)
                if args.ptxas_ops:
                    ops.append((f"{name} {dname} {label}", sass_opcodes(sass, args.ptxas_ops)))
    for label, counts in ops:
        print(f"\n{label}: " + ", ".join(f"{op} {n}" for op, n in counts))


def sass_opcodes(sass: str, top: int) -> list[tuple[str, int]]:
    """The top opcodes of a cuobjdump -sass listing by count; shuffles by kind (SHFL.UP in a
    forward scan, SHFL.BFLY in the lane reversals Triton wraps a reverse scan in)."""
    import collections
    import re

    found = re.findall(r"^\s+/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)(\.[A-Z0-9_]+)?", sass, flags=re.M)
    return collections.Counter(op + (mod if op == "SHFL" else "") for op, mod in found).most_common(top)


def floors_table(args, dtypes, floors: Floors) -> None:
    """Per shape: the op's work and the floor it sets on this card, forward and forward+backward."""
    print("| shape | dtype | pass | min MB | GFLOP | G transcendentals | floor ms: bytes / transc / FLOPs | floor ms |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, d, hw, r in selected(args):
        for dname in args.dtypes.split(","):
            for label, work in zip(("fwd", "fwd+bwd"), op_work(args.batch, d, hw, r, dtypes[dname])):
                parts = (work["bytes"] / floors.bytes_s, work["transc"] / floors.transc_s,
                         work["flops"] / floors.flops_s)
                ms, bound = floors.ms(work)
                print(f"| {name}: B={args.batch} D={d} {hw}x{hw} R={r} | {dname} | {label} | "
                      f"{work['bytes'] / 1e6:.0f} | {work['flops'] / 1e9:.1f} | {work['transc'] / 1e9:.2f} | "
                      f"{' / '.join(f'{t * 1e3:.3f}' for t in parts)} | {ms:.3f} ({bound}) |")
    print()


def time_paths(backends, fns, inputs, dtype, repeats, chain=1, rounds=1, graph=False) -> tuple[dict, dict]:
    """([forward ms], [forward+backward ms]) per path, one time a round, and each path's forward
    output (fp32); the Triton paths timed over `chain` calls queued back to back (`cuda_time`),
    or with graph as the replay of one CUDA graph of `chain` calls (`graph_replay`: the GPU's
    time alone), PyTorch's singly, every path once a round, interleaved (`interleaved_times`).
    A path that cannot run (out of memory, a shape it refuses, a graph it cannot be captured
    in) gets NaNs, a row, not a crash."""
    outs, timers = {}, {}

    def timer(backend, grad, n):
        fn = fns[backend]
        replay = []  # the graph, captured in the first round, replayed in every round

        def time_once():
            try:
                if graph and n > 1:
                    if not replay:
                        replay.append(graph_replay(lambda: run(fn, inputs, dtype, grad), n))
                    return cuda_time(replay[0], repeats) / n
                return cuda_time(lambda: run(fn, inputs, dtype, grad), repeats, chain=n)
            except (torch.OutOfMemoryError, ValueError, RuntimeError) as exc:
                print(f"{backend}: {' '.join(str(exc).split())[:160]}", file=sys.stderr)
                return math.nan
            finally:
                torch.cuda.empty_cache()
        return time_once

    for backend in backends:
        fn = fns[backend]
        try:
            outs[backend] = run(fn, inputs, dtype, False).float()
        except (torch.OutOfMemoryError, ValueError) as exc:
            print(f"{backend}: {' '.join(str(exc).split())[:160]}", file=sys.stderr)
            continue
        n = 1 if backend == "torch" else chain
        timers[backend, False] = timer(backend, False, n)
        if backend == "torch":  # its forward+backward only where it fits the time limit
            f_ms = cuda_time(lambda: run(fn, inputs, dtype, False), 1, warmup=1)
            if 3 * f_ms * (repeats + 2) * rounds >= TORCH_FWDBWD_LIMIT_S * 1e3:
                continue
        timers[backend, True] = timer(backend, True, n)
    times = interleaved_times(timers, rounds)
    results = {b: tuple(times.get((b, grad), [math.nan]) for grad in (False, True)) for b in backends}
    return results, outs


def rounds_note(rounds: int) -> str:
    return (f", {rounds} interleaved rounds: the median of the rounds' medians (their range)"
            if rounds > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every path this many times, interleaved, and print each time as the "
                             "median of the rounds with their range (the card's speed drifts over a run)")
    parser.add_argument("--graph", action="store_true",
                        help="Triton paths: time the replay of a CUDA graph of the --chain calls (no host work: "
                             "the GPU's time alone, as under mode='reduce-overhead'), not the calls themselves")
    parser.add_argument("--chain", type=int, default=5,
                        help="Triton paths: calls queued back to back per timed repeat (1: each on an idle GPU, "
                             "host launch latency included, as measured until session 13)")
    parser.add_argument("--dtypes", default="bf16,fp32")
    parser.add_argument("--stages", default="1,2,3,4")
    parser.add_argument("--backends", default="torch,triton,triton_plane", help="comma-separated SS2D paths to time")
    parser.add_argument("--no-torch", action="store_true", help="leave the PyTorch path out (no diff column then)")
    parser.add_argument("--tile-h", type=int)
    parser.add_argument("--tile-w", type=int)
    parser.add_argument("--block-d", type=int)
    parser.add_argument("--num-warps", type=int)
    parser.add_argument("--bwd-block-d", type=int)
    parser.add_argument("--bwd-num-warps", type=int)
    parser.add_argument("--maxnreg", help="per-kernel register caps, e.g. state=96,out=128,bwd=0 (0: no cap)")
    parser.add_argument("--plane-block-d", type=int, help="triton_plane: channels a program (power of two)")
    parser.add_argument("--plane-num-warps", type=int)
    parser.add_argument("--plane-bwd-block-d", type=int)
    parser.add_argument("--plane-bwd-num-warps", type=int)
    parser.add_argument("--plane-col-mode", choices=("rows", "transpose"),
                        help="triton_plane: how the column directions are reached (see ss2d_scan_triton_plane)")
    parser.add_argument("--plane-tile-elems", type=int,
                        help="triton_plane: tile elements a program aims for (sizes every stage's block; 4096)")
    parser.add_argument("--plane-dt-grad", choices=("atomic", "gemm"),
                        help="triton_plane: how the backward reduces the dt projection's gradients")
    parser.add_argument("--plane-maxnreg", type=int, help="triton_plane: register cap of the forward launches")
    parser.add_argument("--plane-bwd-maxnreg", type=int, help="triton_plane: register cap of the backward launches")
    parser.add_argument("--plane-variant", action="append", default=[], metavar="KEY=VALUE[,...]",
                        help="one more plane path to time (repeatable), e.g. col_mode=transpose or dt_grad=atomic,block_d=2")
    parser.add_argument("--ptxas", type=int, metavar="ARCH",
                        help="compile the plane kernels for sm_ARCH here (e.g. 90; no GPU needed) and print "
                             "ptxas' registers and spills per shape")
    parser.add_argument("--ptxas-ops", type=int, default=0, metavar="N",
                        help="with --ptxas: also each kernel's N most frequent SASS opcodes")
    parser.add_argument("--profile", action="store_true",
                        help="one forward and one forward+backward per shape and Triton path under torch.profiler: "
                             "each kernel's CUDA time")
    parser.add_argument("--once", action="store_true",
                        help="one forward+backward per shape and Triton path and the kernels' registers (for profilers)")
    args = parser.parse_args()
    tiles = {k: v for k, v in (("tile_h", args.tile_h), ("tile_w", args.tile_w), ("block_d", args.block_d),
                               ("num_warps", args.num_warps), ("bwd_block_d", args.bwd_block_d),
                               ("bwd_num_warps", args.bwd_num_warps)) if v}
    plane = {k: v for k, v in (("block_d", args.plane_block_d), ("num_warps", args.plane_num_warps),
                               ("bwd_block_d", args.plane_bwd_block_d), ("bwd_num_warps", args.plane_bwd_num_warps),
                               ("col_mode", args.plane_col_mode), ("dt_grad", args.plane_dt_grad),
                               ("tile_elems", args.plane_tile_elems), ("maxnreg", args.plane_maxnreg),
                               ("bwd_maxnreg", args.plane_bwd_maxnreg)) if v}
    try:
        variants = {f"triton_plane[{spec}]": plane_variant(spec) for spec in args.plane_variant}
    except ValueError as exc:
        parser.error(f"--plane-variant: {exc}")
    if args.maxnreg:
        from sr_core.kernels.triton_ss2d import _config

        try:
            tiles["maxnreg"] = {k: int(v) for k, v in (item.split("=") for item in args.maxnreg.split(","))}
            _config(8, 8, 16, 1, maxnreg=tiles["maxnreg"])  # names checked where the caps are used
        except ValueError as exc:
            parser.error(f"--maxnreg {args.maxnreg!r}: expected KERNEL=REGISTERS[,...] ({exc})")
    backends = [b for b in args.backends.split(",") if not (args.no_torch and b == "torch")]
    unknown = set(backends) - set(available_backends())
    if unknown:
        parser.error(f"--backends: unknown {sorted(unknown)}; available: {', '.join(available_backends())}")
    backends += list(variants)
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if args.ptxas:
        for options in (plane, *variants.values()):
            ptxas_report(args, dtypes, options)
        return
    if not torch.cuda.is_available():
        sys.exit("needs a CUDA device")
    fns = path_fns(tiles, plane, variants)
    if args.once:
        run_once(args, backends, dtypes, fns)
        return
    if args.profile:
        profile_paths(args, backends, dtypes, fns)
        return
    floors = Floors.measure()
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, triton {triton.__version__}; "
          f"batch {args.batch}; median of {args.repeats} (CUDA events; Triton paths {args.chain} calls back to back"
          f"{', replayed as one CUDA graph' if args.graph else ''} "
          f"a repeat){rounds_note(args.rounds)}; chunked tiles {tiles or 'default'}; "
          f"plane {plane or 'default'}\n"
          f"Floors measured now: copy {floors.bytes_s / 1e9:.0f} GB/s (1 GiB device-to-device, read+write), "
          f"exp {floors.transc_s / 1e9:.0f} G/s, fp32 FMA {floors.flops_s / 1e12:.1f} TFLOP/s\n")
    floors_table(args, dtypes, floors)
    print("| shape | dtype | path | fwd ms | fwd / floor | fwd+bwd ms | fwd+bwd / floor "
          "| max abs diff y / max abs y (vs torch) |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, d, hw, r in selected(args):
        for dname in args.dtypes.split(","):
            dtype = dtypes[dname]
            inputs = make(args.batch, d, hw, r, dtype)
            works = op_work(args.batch, d, hw, r, dtype)
            results, outs = time_paths(backends, fns, inputs, dtype, args.repeats, args.chain, args.rounds,
                                       args.graph)
            for backend, times in results.items():
                cells = []
                for rounds_ms, work in zip(times, works):
                    ms = valid_median(rounds_ms)
                    cells += ["n/a", "n/a"] if math.isnan(ms) else [median_and_range(rounds_ms),
                                                                     f"{ms / floors.ms(work)[0]:.1f}x"]
                diff = ""
                if backend != "torch" and "torch" in outs and backend in outs:
                    diff = f"{((outs[backend] - outs['torch']).abs().max() / outs['torch'].abs().max()).item():.2e}"
                print(f"| {name}: B={args.batch} D={d} {hw}x{hw} R={r} | {dname} | {backend} | "
                      f"{' | '.join(cells)} | {diff} |", flush=True)
            del inputs, outs
            torch.cuda.empty_cache()
    print("\nmin bytes: forward x + x_dbl + y; forward+backward adds x, x_dbl, dy, dx, d(x_dbl). "
          "Work and floors as in this script's docstring.")


if __name__ == "__main__":
    main()
