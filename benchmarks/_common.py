"""Shared helpers for the benchmarks: timing statistics and a description of the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable


def cpu_name() -> str:
    """The CPU model and the cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def time_call(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> dict[str, float]:
    """Median and p95 wall time of `fn` in milliseconds, after warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))]}


def cuda_time(fn: Callable[[], object], repeats: int, warmup: int = 3, chain: int = 1) -> float:
    """Median milliseconds of fn() by CUDA events, after warm-up calls.

    chain > 1: each of the repeats times that many calls queued back to back (ms a call), so
    the GPU is not left idle while the host launches the next call's first kernels: the time a
    call takes inside a model, whose queue is deep. With chain 1 every call starts on an idle
    GPU and its time includes the host's launch latency (on an H200 in session 13 the plane
    scan's stage-1 forward timed 1.35 ms so, against 0.94 ms of kernel time under the profiler).
    """
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(chain):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / chain)
    return statistics.median(times)


def graph_replay(fn: Callable[[], object], calls: int) -> Callable[[], None]:
    """The replay of one CUDA graph of `calls` calls of fn, captured after two warm-up calls on a
    side stream: no host work when it runs, so its time is the GPU's alone (as inside a model
    compiled with mode="reduce-overhead"). fn must be capturable: no host synchronisation."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    return graph.replay


def interleaved_times(timers: dict, rounds: int) -> dict[object, list[float]]:
    """Each of `timers` (name -> a call returning one time) called once a round for `rounds`
    rounds, the order rotated by one each round; each name's times in round order.

    Timed one after another, paths meet the card in different states: on an H200 (session 20)
    the same stage-2 forward took 0.597 ms in one table and 0.424 ms in the next invocation of
    the same call. Interleaved, a drift of the card's speed over the run falls on every path
    alike, and the rounds' range shows how far it went.
    """
    names = list(timers)
    times: dict[object, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            times[name].append(timers[name]())
    return times


def _valid(times: list[float]) -> list[float]:
    """The times that are not NaN (a NaN: a round in which a path could not run)."""
    return [t for t in times if t == t]


def valid_median(times: list[float]) -> float:
    """The median of the times that are not NaN; NaN if none is."""
    valid = _valid(times)
    return statistics.median(valid) if valid else float("nan")


def median_and_range(times: list[float], digits: int = 3) -> str:
    """"0.812" for one time, "0.812 (0.801-0.952)" for several: `valid_median` and the range of
    the times that are not NaN; "n/a" if none is."""
    valid = _valid(times)
    if not valid:
        return "n/a"
    text = f"{statistics.median(valid):.{digits}f}"
    if len(valid) > 1:
        text += f" ({min(valid):.{digits}f}-{max(valid):.{digits}f})"
    return text


def plane_variant(spec: str) -> dict:
    """"col_mode=transpose,dt_grad=atomic" -> {"col_mode": "transpose", "dt_grad": "atomic"}: options
    of sr_core.kernels.triton_plane.ss2d_scan_triton_plane (--plane-variant), keys checked."""
    import inspect

    from sr_core.kernels.triton_plane import ss2d_scan_triton_plane

    known = [p.name for p in inspect.signature(ss2d_scan_triton_plane).parameters.values()
             if p.kind is inspect.Parameter.KEYWORD_ONLY]
    options = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"expected KEY=VALUE[,...] with KEY one of {', '.join(known)}; got {item!r}")
        options[key] = int(value) if value.isdigit() else value
    return options


def register_plane_variants(specs: list[str]) -> list[str]:
    """Register each --plane-variant spec ("KEY=VALUE[,...]", `plane_variant`) as an SS2D backend
    of this process, the plane kernels with those options, named "triton_plane[SPEC]"; returns
    the names. Raises ValueError on an unknown key."""
    from sr_core.kernels import register_backend
    from sr_core.kernels.triton_plane import ss2d_scan_triton_plane

    variants = {f"triton_plane[{spec}]": plane_variant(spec) for spec in specs}
    for name, options in variants.items():
        register_backend(name, lambda *a, _o=options: ss2d_scan_triton_plane(*a, **_o))
    return list(variants)


# Kernel name fragments -> what they are, for `print_profile`'s summary (first match wins; our
# own kernels by their full names, since Inductor's names are built from the ops they fuse).
_KERNEL_KINDS = (
    ("SS2D plane scan", ("_plane_fwd_kernel", "_plane_bwd_kernel")),
    ("SS2D chunked scan", ("_fwd_state_kernel", "_fwd_out_kernel", "_bwd_state_kernel", "_bwd_kernel")),
    ("layout transpose (Triton)", ("_transpose_kernel",)),
    ("GEMM", ("gemm", "cutlass", "xmma", "nvjet", "sm90_", "cublas", "matmul", "bmm")),
    ("convolution", ("conv", "cudnn", "depthwise", "implicit")),
    ("normalisation", ("norm", "welford")),
    ("Inductor fused (Triton)", ("triton_",)),
    ("copy / layout", ("copy", "cat", "transpose", "permute", "elementwise_kernel_manual_unroll")),
    ("other elementwise / reduction", ("elementwise", "reduce", "vectorized")),
)


def kernel_kind(name: str) -> str:
    """What a CUDA kernel's name says it is (`_KERNEL_KINDS`), else "other"."""
    low = name.lower()
    for kind, parts in _KERNEL_KINDS:
        if any(p in low for p in parts):
            return kind
    return "other"


def print_profile(prof, title: str, top: int = 12, ops: int = 12, indent: str = "    ") -> None:
    """A torch.profiler run's CUDA kernels: total, the time by kind (`kernel_kind`), the `top`
    longest kernels (name, summed CUDA time, launches), and the `ops` aten operators with the
    most self CUDA time (with input shapes, when the profile recorded them)."""
    # User annotations (e.g. "Optimizer.step#SGD.step") show on the GPU timeline as ranges
    # that overlap the kernels inside them: left out, or their time would count twice.
    events = [e for e in prof.events() if e.device_type.name == "CUDA" and not getattr(e, "is_user_annotation", False)
              and not e.name.startswith("Optimizer.")]
    total = sum(e.device_time for e in events) / 1e3
    print(f"{title}: {total:.3f} ms in {len(events)} kernels")
    kinds: dict[str, float] = {}
    by_name: dict[str, list[float]] = {}
    for e in events:
        kind = kernel_kind(e.name)
        kinds[kind] = kinds.get(kind, 0.0) + e.device_time / 1e3
        by_name.setdefault(e.name, []).append(e.device_time / 1e3)
    print(f"{indent[:-2]}by kind (ms, share):")
    for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"{indent}{ms:8.3f} ms  {100 * ms / max(total, 1e-9):5.1f}%  {kind}")
    print(f"{indent[:-2]}longest kernels (summed ms, launches):")
    for name, times in sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:top]:
        print(f"{indent}{sum(times):8.3f} ms  {len(times):4d}  {name[:100]}")
    if ops:
        print(f"{indent[:-2]}by operator (self CUDA ms, calls, input shapes):")
        averages = [a for a in prof.key_averages(group_by_input_shape=True) if a.self_device_time_total > 0]
        for a in sorted(averages, key=lambda a: -a.self_device_time_total)[:ops]:
            print(f"{indent}{a.self_device_time_total / 1e3:8.3f} ms  {a.count:4d}  {a.key[:60]}  "
                  f"{str(a.input_shapes)[:100]}")
