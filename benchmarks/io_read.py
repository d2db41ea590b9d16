"""Benchmark: how long read_image takes for the files the viewer opens most.

Median of REPEATS timed calls after WARMUP untimed ones, per file, printed as a Markdown
table with the machine. Run: python benchmarks/io_read.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from sr_core.io import read_image

WARMUP = 3
REPEATS = 20
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = (
    ("PNG 8-bit 1024 px (nih-demo)", "nih-demo/00000032_037.png"),
    ("DICOM JPEG baseline 1024 px", "dicom/siim-cr-chest-jpeg-baseline.dcm"),
    ("DICOM native 10-bit MONO1 440 px, no meta", "dicom/CR-MONO1-10-chest.dcm"),
)


def time_read(path: Path, warmup: int = WARMUP, repeats: int = REPEATS) -> float:
    """Median seconds of read_image(path) over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        read_image(path)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read_image(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()

    print(
        f"machine: {cpu_name()} ({platform.processor() or platform.machine()}), "
        f"{os.cpu_count()} CPUs, {platform.system()}, Python {platform.python_version()}"
    )
    print(f"read_image median of {args.repeats} after {WARMUP} warm-up calls\n")
    print("| file | size | median ms |")
    print("|---|---|---:|")
    for label, relative in CASES:
        path = args.data / relative
        image = read_image(path)
        seconds = time_read(path, repeats=args.repeats)
        print(f"| {label} | {image.width}x{image.height} | {seconds * 1000:.1f} |")


if __name__ == "__main__":
    main()
