"""Test-only speed-up of the Triton interpreter for our two scans (CPU runs of the kernels).

The interpreter folds a custom associative_scan one element at a time in Python, which makes
the CPU tests minutes long. `vectorise_interpreter_scans` replays the same sequential fold,
in the same order and fp32 arithmetic, vectorised over the other axes, for the two combine
functions of sr_core.kernels.triton_ss2d_* only. The trade-off: under the interpreter the
combine functions' own bodies are replaced by `lin` and `adj` below (kept equal to them by
hand), so their arithmetic is checked by the GPU tests, not the CPU ones. Never active on a GPU.
"""

from __future__ import annotations

from sr_core.kernels.triton_ss2d_bwd import adjoint_combine
from sr_core.kernels.triton_ss2d_fwd import lin_combine


def vectorise_interpreter_scans() -> None:
    """Under TRITON_INTERPRET, run our two scans as a numpy loop over the scan axis.

    The interpreter folds a custom associative_scan one element at a time in Python, which
    makes the CPU tests minutes long. This replays the same sequential fold, in the same
    order and fp32 arithmetic, vectorised over the other axes; any other scan, or an
    interpreter without this hook, is left as it is. Never active on a GPU.
    """
    try:
        import numpy as np
        from triton.runtime.interpreter import ScanOps
    except ImportError:
        return
    original = ScanOps.generic_scan
    if getattr(original, "_sr_fast", False):
        return

    def fold(step, arrays, axis):
        arrays = [np.moveaxis(np.array(a, copy=True), axis, 0) for a in arrays]
        for t in range(1, arrays[0].shape[0]):
            prev = [a[t - 1] for a in arrays]
            cur = [a[t] for a in arrays]
            for a, v in zip(arrays, step(*prev, *cur)):
                a[t] = v
        return [np.moveaxis(a, 0, axis) for a in arrays]

    def lin(a1, b1, a2, b2):
        return a1 * a2, b1 * a2 + b2

    def adj(a1, p1, g1, a2, p2, g2):
        link = p2 * a1
        return a2, link * p1, g2 + link * g1

    steps = {id(lin_combine.fn): lin, id(adjoint_combine.fn): adj}

    def generic_scan(self, input):
        step = steps.get(id(getattr(self.combine_fn, "fn", None)))
        if step is None:
            return original(self, input)
        out = fold(step, [t.handle.data for t in input], self.axis)
        return [self.to_tensor(o, t.dtype) for o, t in zip(out, input)]

    generic_scan._sr_fast = True
    ScanOps.generic_scan = generic_scan
