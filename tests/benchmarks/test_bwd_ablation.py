"""benchmarks/bwd_ablation.py stays in step with the plane backward kernel: its substitutions
apply, and with nothing taken out its copy gives the kernel's own gradients."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_ablation_copy_with_nothing_taken_out_is_the_kernel(monkeypatch):
    pytest.importorskip("triton")
    spec = importlib.util.spec_from_file_location("bwd_ablation", BENCHMARKS / "bwd_ablation.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bwd_ablation", module)
    spec.loader.exec_module(module)  # applies every substitution (exits naming the one that failed)
    inputs = module.backward_inputs("t")
    want = module._scan_backward(*inputs)
    got = module.ablated_backward(0, inputs)
    assert not isinstance(module.triton_plane._plane_bwd_kernel, module.Ablated)  # put back
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # A part taken out changes the result (the copy does take it out).
    cut = module.ablated_backward(16, inputs)  # no h scan
    assert not torch.allclose(cut[1], want[1])
