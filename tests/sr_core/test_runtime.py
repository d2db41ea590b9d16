"""sr_core.runtime: glibc is asked to keep freed memory, so repeated predictions reuse it; the
user's own glibc settings stand; nothing happens off glibc."""

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sr_core import runtime

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# A fresh process (the heap of a long test run says little): eight maps of sr_vmamba_nano at
# 128 px, the minor page faults of each call; the median after three warm-up calls printed.
FAULTS = """
import resource, statistics, sys, torch
torch.set_num_threads(1)
from sr_core.runtime import keep_freed_memory
assert keep_freed_memory()
from sr_core.models import create_model
torch.manual_seed(0)
model, x, faults = create_model("sr_vmamba_nano").eval(), torch.randn(1, 3, 128, 128), []
with torch.inference_mode():
    for _ in range(8):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model.finding_maps(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults[3:]))
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_repeated_predictions_reuse_their_memory():
    env = {k: v for k, v in os.environ.items() if k not in runtime._GLIBC_VARIABLES}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # glibc's defaults fault about 3,500 pages a call here (the memory freed by the last call
    # went back to the OS); kept, the next call reuses it.
    assert float(out.stdout.strip()) < 100


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_keeping_is_applied_and_idempotent(monkeypatch):
    for name in runtime._GLIBC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert runtime.keep_freed_memory() is True
    assert runtime.keep_freed_memory() is True


def test_the_users_glibc_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert runtime.keep_freed_memory() is False


def test_nothing_happens_off_linux(monkeypatch):
    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    assert runtime.keep_freed_memory() is False
