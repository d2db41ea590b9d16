"""What the command-line tools share: argument errors, one-line failures, weights lookup,
rounding of the numbers they write."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sr_core.bundled import default_weights


class UsageError(Exception):
    """A wrong command line: exit status 2 with a one-line message."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def weights_or_default(weights: str | None) -> Path:
    """The weights file asked for, or the bundled default; UsageError if there is none."""
    if weights:
        return Path(weights)
    bundled = default_weights()
    if bundled is None:
        raise UsageError("no --weights given and this installation has no bundled default weights")
    return bundled


def fail(prog: str, message: str) -> None:
    """Print one line to stderr, never a traceback."""
    print(f"{prog}: {' '.join(str(message).split())}", file=sys.stderr)


SIGNIFICANT_DIGITS = 6
"""Floats the tools write (JSON lines, report.json, report.csv) keep this many significant
digits: 0.47000000000000003 (0.01 * 47 in binary) is written 0.47; float32 model outputs hold
about 7 digits, so nothing measured is lost."""


def rounded(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """`value` with every float in it (in dicts, lists and tuples too) rounded to `digits`
    significant digits for output; other values as they are."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def check_threshold(value: float | None, flag: str = "--threshold") -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise UsageError(f"{flag} must be in [0, 1], got {value}")


def run_cli(prog: str, parse: Callable[[], tuple], run: Callable[..., int]) -> int:
    """The shell every tool shares: usage errors exit 2 and an interrupt 130, each with one
    line; `parse()` returns the arguments `run` takes."""
    try:
        parsed = parse()
    except UsageError as exc:
        fail(prog, f"usage error: {exc}")
        return 2
    try:
        return run(*parsed)
    except KeyboardInterrupt:
        fail(prog, "interrupted")
        return 130
    except BrokenPipeError:  # the reader of stdout left (`| head`): stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
