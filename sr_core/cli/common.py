"""The shell every sr-core-* command line runs in, and what the tools share: the parser with
--version and --quiet, the exit statuses, one-line failures, weights lookup, progress bars,
log lines and the rounding of the numbers they write.

The contract (each tool's tests check it):

* a usage error (a wrong command line) is one line on stderr, ``PROG: usage error: ...``,
  and exit status 2;
* a failure (a bad file, a missing folder, a training that stops) is one line,
  ``PROG: ...``, and exit status 1; never a traceback, an unexpected exception included;
* ``--help`` and ``--version`` print to stdout and exit 0; ``--quiet`` turns the progress
  bars off (results and errors are still written); an interrupt exits 130.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sr_core import __version__
from sr_core.bundled import default_weights
from sr_core.io.image import one_line
from sr_core.runtime import keep_freed_memory


class UsageError(Exception):
    """A wrong command line: exit status 2 with a one-line message."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def tool_parser(prog: str, description: str, **kwargs: Any) -> ArgumentParser:
    """The top-level parser of a tool, with the options every tool has (--version, --quiet).

    Args:
        prog: The command's name, e.g. "sr-core-infer".
        description: The first line of --help.
        **kwargs: Passed to argparse (epilog, formatter_class ...).
    """
    parser = ArgumentParser(prog=prog, description=description, **kwargs)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (results, warnings and errors are still written)")
    return parser


def show_progress(quiet: bool) -> bool:
    """Progress bars only where someone watches: stderr is a terminal and --quiet is off."""
    return not quiet and sys.stderr.isatty()


def log_to_stderr(level: int = logging.INFO) -> None:
    """Log lines on stderr at `level` and above, each with its time."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def weights_or_default(weights: str | None) -> Path:
    """The weights file asked for, or the bundled default; UsageError if there is none."""
    if weights:
        return Path(weights)
    bundled = default_weights()
    if bundled is None:
        raise UsageError("no --weights given and this installation has no bundled default weights")
    return bundled


def fail(prog: str, message: BaseException | str) -> None:
    """Print `message` as one line to stderr, never a traceback."""
    print(f"{prog}: {one_line(message)}", file=sys.stderr)


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
    """Run one tool under the contract above; returns its exit status.

    Args:
        prog: The command's name, the first word of every line it prints on stderr.
        parse: Reads the command line and returns the arguments `run` takes; raises
            UsageError (argparse's errors are UsageErrors through ArgumentParser).
        run: Does the work and returns the exit status; may raise UsageError too.
    """
    try:
        try:
            parsed = parse()
        except SystemExit as stop:  # --help or --version: printed, nothing to run
            return int(stop.code or 0)
        keep_freed_memory()  # CPU predictions reuse their memory instead of faulting it in again
        return run(*parsed)
    except UsageError as exc:
        fail(prog, f"usage error: {exc}")
        return 2
    except KeyboardInterrupt:
        fail(prog, "interrupted")
        return 130
    except BrokenPipeError:  # the reader of stdout left (`| head`): stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, OSError, RuntimeError) as exc:
        # The tools' own errors are ValueErrors (LayoutError, WeightsError, ImageReadError,
        # ConfigError ...) or RuntimeErrors (TrainingError, torch's); their text says it all.
        fail(prog, exc)
        return 1
    except Exception as exc:  # a defect: still one line, named by its type so it can be reported
        fail(prog, f"internal error ({type(exc).__name__}): {exc}")
        return 1
