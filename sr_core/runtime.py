"""Process-wide settings that the viewer and the sr-core-* tools make once, at start-up."""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # blocks below this come from the heap, not from a fresh mapping
TRIM_THRESHOLD = 128 << 20  # free memory kept at the top of a heap before any goes back
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of giving it back to the OS.

    A CPU prediction allocates and frees the same large temporaries on every call (the SS2D
    scan's planes in sr_core/kernels/reference.py, the convolutions' buffers). With glibc's
    defaults, blocks over its mmap threshold are unmapped when freed and the top of the heap
    is trimmed, so every call faults that memory back in (`benchmarks/predict_memory.py`
    counts the page faults a call either way). After this, blocks under MMAP_THRESHOLD come
    from the heap and up to TRIM_THRESHOLD of free heap is kept, so a call reuses the last
    one's memory. The price is that the process's resident memory stays near its peak.

    Returns whether it applied: not where the C library is not glibc (macOS, Windows, musl),
    and not where the user set glibc's own MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_
    (their choice stands).
    """
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _GLIBC_VARIABLES):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not done:
        log.warning("glibc's mallopt refused the thresholds: freed memory goes back to the OS as by default")
    return done
