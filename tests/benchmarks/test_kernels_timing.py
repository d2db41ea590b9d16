"""benchmarks/kernels.py's timing loop, with the GPU timer replaced: every path once a round,
interleaved, and a path that fails a round keeps its row (the benchmark runs only on a GPU)."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def kernels_bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("kernels_bench", BENCHMARKS / "kernels.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "kernels_bench", module)
    spec.loader.exec_module(module)
    return module


def test_time_paths_interleaves_rounds_and_keeps_failed_rounds(kernels_bench, monkeypatch):
    calls, timed = [], []  # (path, with backward): every call; those the timer finished
    slow_torch = []

    def fake_cuda_time(fn, repeats, warmup=3, chain=1):
        first = len(calls)
        fn()
        if repeats == 1:  # the PyTorch path's single forward that decides its forward+backward
            return 1e9 if slow_torch else 1.0
        timed.append(calls[first])
        return float(len(timed))

    monkeypatch.setattr(kernels_bench, "cuda_time", fake_cuda_time)
    grad_calls = {"flaky": 0}

    def path(name):
        def fn(x):
            calls.append((name, torch.is_grad_enabled()))
            if name == "flaky" and torch.is_grad_enabled():
                grad_calls["flaky"] += 1
                if grad_calls["flaky"] == 2:  # its forward+backward in the second round
                    raise ValueError("refused")
            return x * 2
        return fn

    fns = {name: path(name) for name in ("a", "flaky", "torch")}
    inputs = [torch.ones(3, requires_grad=True)]
    results, outs = kernels_bench.time_paths(list(fns), fns, inputs, torch.float32, repeats=5, rounds=3)
    assert set(outs) == set(fns)
    timers = [(name, grad) for name in fns for grad in (False, True)]
    # each round once through every timer, starting one later than the round before; the
    # flaky path's failed round is missing from what finished and is NaN in its row
    assert timed[:6] == timers
    assert timed[6:] == timers[1:3] + timers[4:] + timers[:1] + timers[2:] + timers[:2]
    assert [len(results[name][grad]) for name in fns for grad in (0, 1)] == [3] * 6
    flaky_fwd_bwd = results["flaky"][1]
    assert math.isnan(flaky_fwd_bwd[1]) and not math.isnan(flaky_fwd_bwd[0]) and not math.isnan(flaky_fwd_bwd[2])

    slow_torch.append(True)
    results, _ = kernels_bench.time_paths(["torch"], fns, inputs, torch.float32, repeats=5, rounds=2)
    assert len(results["torch"][0]) == 2 and all(math.isnan(t) for t in results["torch"][1])


def test_median_and_range():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from _common import median_and_range, valid_median
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert median_and_range([0.5]) == "0.500"
    assert median_and_range([0.8, math.nan, 1.0, 0.9]) == "0.900 (0.800-1.000)"
    assert median_and_range([math.nan]) == "n/a" and math.isnan(valid_median([math.nan]))


def test_time_paths_graph_captures_each_timer_once_and_times_a_call(kernels_bench, monkeypatch):
    captured = []  # (calls a graph holds) per capture

    def fake_graph_replay(fn, calls):
        captured.append(calls)
        fn()
        return lambda: None

    def fake_cuda_time(fn, repeats, warmup=3, chain=1):
        fn()
        return 10.0 if chain == 1 else 1.0

    monkeypatch.setattr(kernels_bench, "graph_replay", fake_graph_replay)
    monkeypatch.setattr(kernels_bench, "cuda_time", fake_cuda_time)
    fns = {"a": lambda x: x * 2, "torch": lambda x: x * 3}
    inputs = [torch.ones(3, requires_grad=True)]
    results, _ = kernels_bench.time_paths(list(fns), fns, inputs, torch.float32, repeats=5, chain=5, rounds=3,
                                          graph=True)
    # the Triton path's two graphs (forward, forward+backward) captured in the first round only,
    # each replay's time divided by the calls it holds; the PyTorch path timed singly, no graph
    assert captured == [5, 5]
    assert results["a"] == ([2.0] * 3, [2.0] * 3)
    assert results["torch"] == ([10.0] * 3, [10.0] * 3)
