"""sr-viewer: the desktop viewer's entry point.

    sr-viewer [PATH ...]                      open files/folders (none: the bundled demo study)
    sr-viewer --weights W.safetensors PATH    use these weights
    sr-viewer --screenshot OUT.png [--finding F] [--threshold T] [--weights W] PATH
                                              render the window headless and exit
    sr-viewer --benchmark-startup             print when the window is shown and exit

The window shows before torch is imported: the model loads on a worker thread and the
model panel says so meanwhile. Exit status: 0 ok, 1 failure (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from sr_core.bundled import default_weights, demo_study

from sr_viewer.logs import setup_logging
from sr_viewer.settings import Settings

log = logging.getLogger(__name__)

STARTUP_MARKER = "sr-viewer-window-shown"
NO_BUNDLED_WEIGHTS = "this installation has no bundled weights: choose a weights file (Model > Open weights)"
_START = time.perf_counter()


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2, no usage dump on stderr spam
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="sr-viewer", description="View SR foreground maps, contours and boxes on chest X-rays.")
    parser.add_argument("paths", nargs="*", type=Path, help="image files or folders (default: the demo study)")
    parser.add_argument("--weights", type=Path, help="an sr-core-train .safetensors weights file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the model runs (default: auto)")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png", help="render the window to a PNG and exit")
    parser.add_argument("--finding", help="with --screenshot: the finding to show (default: the top one)")
    parser.add_argument("--threshold", type=float, help="with --screenshot: the FPM threshold")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme")
    parser.add_argument("--benchmark-startup", action="store_true", help="print when the window is shown, then exit")
    args = parser.parse_args(argv)
    if (args.finding or args.threshold is not None) and not args.screenshot:
        raise UsageError("--finding and --threshold go with --screenshot")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise UsageError("--threshold must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the viewer; returns the exit status (see the module docstring)."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"sr-viewer: usage error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    if (args.screenshot or args.benchmark_startup) and sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # headless by nature: no display needed
    setup_logging()
    log.info("sr-viewer starting")

    # Qt and the window code are imported here, after argument parsing; torch never is.
    from PySide6.QtWidgets import QApplication

    from sr_viewer.qt.main_window import MainWindow

    from sr_viewer.qt.errors import route_qt_messages

    route_qt_messages()
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sr-viewer"])
    app.setApplicationName("sr-viewer")
    app.setOrganizationName("sr-viewer")
    if args.screenshot:
        from sr_viewer.screenshot import take_screenshot

        return take_screenshot(app, args)

    settings = Settings.load()
    if args.theme:
        settings.theme = args.theme
    if args.device:
        settings.device = args.device
    window = MainWindow(settings)
    if args.benchmark_startup:
        return _benchmark_startup(app, window)
    from sr_viewer.qt.dialogs import show_error
    from sr_viewer.qt.errors import install_excepthook

    install_excepthook(lambda text: show_error(window, text))
    window.show()
    # Open studies and start loading the model once the window is on screen.
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: start(window, args.paths, args.weights))
    _close_on_signals(window)
    status = app.exec()
    log.info("sr-viewer exiting (%d)", status)
    return int(status)


def _close_on_signals(window) -> None:
    """Ctrl+C / SIGTERM close the window like the reader would (settings saved, workers
    stopped). Python runs signal handlers only between bytecodes, so a timer wakes it."""
    import signal

    from PySide6.QtCore import QTimer

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *args: window.close())
    window._signal_timer = timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def choose_weights(explicit: Path | None, settings: Settings) -> Path | None:
    """--weights, else the last weights used (if still there), else the bundled ones."""
    if explicit is not None:
        return explicit
    if settings.weights and Path(settings.weights).is_file():
        return Path(settings.weights)
    return default_weights()


def start(window, paths: list[Path], weights: Path | None) -> None:
    """Open the given paths (or the demo study) and start loading the model."""
    chosen = choose_weights(weights, window.settings)
    if chosen is None:
        window.notifier.say(f"No model: {NO_BUNDLED_WEIGHTS}")
    window.load_weights(chosen)
    if paths:
        window.open_paths(paths)
        return
    demo = demo_study()
    if demo is None:
        window.notifier.say("No demo study in this installation: open files with File > Open")
        return
    window.open_paths([demo], remember=False)


def _benchmark_startup(app, window) -> int:
    """Show the window, print the marker with seconds since start and whether torch loaded."""
    def shown() -> None:
        elapsed = time.perf_counter() - _START
        print(f"{STARTUP_MARKER} {elapsed:.3f} torch_imported={'torch' in sys.modules}", flush=True)
        window.persist = False
        window.close()
        app.quit()

    window.exposed.connect(shown)
    window.show()
    return int(app.exec())


def run() -> None:
    """Console-script entry: `sr-viewer = "sr_viewer.app:main"` also works (returns the status)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
