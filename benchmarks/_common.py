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
