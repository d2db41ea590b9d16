"""sr-viewer: the desktop viewer's entry point.

    sr-viewer [PATH ...]                      open files/folders (none: the bundled demo study);
                                              a .srsession file opens its session
    sr-viewer --no-restore [PATH ...]         do not offer the session of a viewer that crashed
    sr-viewer --weights W.safetensors PATH    use these weights
    sr-viewer --compare W2.safetensors PATH   and these beside them, side by side (model B)
    sr-viewer --screenshot OUT.png [--finding F] [--threshold T] [--weights W] [--compare W2] PATH
                                              render the window headless and exit
    sr-viewer --benchmark-startup             print when the window is shown and exit

The window shows before torch is imported: the model loads on a worker thread and the
model panel says so meanwhile. Exit status: 0 ok, 1 failure (one line on stderr), 2 usage or
no display Qt can start (one line naming what is missing and how to fix it).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sr_core.bundled import default_weights, demo_study
from sr_core.io.image import one_line
from sr_core.runtime import keep_freed_memory

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
    parser.add_argument("--compare", type=Path, metavar="W2.safetensors",
                        help="a second weights file shown beside the first (Model > Open comparison weights)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the model runs (default: auto)")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png", help="render the window to a PNG and exit")
    parser.add_argument("--finding", help="with --screenshot: the finding to show (default: the top one)")
    parser.add_argument("--threshold", type=float, help="with --screenshot: the FPM threshold")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme")
    parser.add_argument("--no-restore", action="store_true",
                        help="do not offer to restore the session autosaved by a viewer that did not quit cleanly")
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
    # Each CPU prediction reuses the last one's memory instead of faulting it in again.
    keep_freed_memory()

    # Qt and the window code are imported here, after argument parsing; torch never is.
    from PySide6.QtWidgets import QApplication

    from sr_viewer.qt.main_window import MainWindow

    from sr_viewer.qt.errors import route_qt_messages

    route_qt_messages()
    app = create_application()
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

    QTimer.singleShot(0, lambda: start(window, args.paths, args.weights, restore=not args.no_restore,
                                             compare=args.compare))
    _close_on_signals(window)
    status = app.exec()
    log.info("sr-viewer exiting (%d)", status)
    return int(status)


# --- the display: Qt's platform plugin ----------------------------------------------------------

HEADLESS_HINT = "for headless use set QT_QPA_PLATFORM=offscreen, or render a PNG with sr-viewer --screenshot OUT.png"
_PLATFORM_TRIED = re.compile(r'Could not (find|load) the Qt platform plugin "([^"]+)"')
_AVAILABLE = re.compile(r"Available platform plugins are: ([^\n]*?)\.?\s*$", re.MULTILINE)
# Debian/Ubuntu package names that the soname rule (libfoo.so.1 -> libfoo1) gets wrong.
_PACKAGE_OF = {"libz.so.1": "zlib1g", "libgcc_s.so.1": "libgcc-s1", "libglib-2.0.so.0": "libglib2.0-0",
               "libgthread-2.0.so.0": "libglib2.0-0", "libGLdispatch.so.0": "libglvnd0",
               "libbrotlicommon.so.1": "libbrotli1", "libbrotlidec.so.1": "libbrotli1"}


def create_application():
    """The QApplication; when Qt cannot start any display plugin, one line on stderr and exit 2.

    Qt reports that with qFatal: abort, status 134, its message only in our log. A message
    handler held only while the QApplication is made turns it into a line that says what is
    missing. Nothing is probed up front, so a working launch pays nothing for the check.
    """
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        return QApplication.instance()
    tried: list[tuple[str, bool]] = []  # (platform, whether its plugin file was found)

    def guard(kind, context, text) -> None:
        if previous is not None:
            previous(kind, context, text)
        for verb, name in _PLATFORM_TRIED.findall(text):
            tried.append((name, verb == "load"))
        if kind == QtMsgType.QtFatalMsg:
            line = f"sr-viewer: error: {platform_failure(tried, text)}"
            log.critical("%s", line)
            print(line, file=sys.stderr, flush=True)
            os._exit(2)  # Qt aborts once the handler returns: leave first, with our status

    previous = qInstallMessageHandler(guard)
    try:
        return QApplication([sys.argv[0] if sys.argv else "sr-viewer"])
    finally:
        qInstallMessageHandler(previous)


def platform_failure(tried: list[tuple[str, bool]], qt_message: str) -> str:
    """Why no Qt platform plugin started and how to fix it, in one line.

    Args:
        tried: (platform, plugin file found) for each plugin Qt tried, in order.
        qt_message: Qt's fatal message (it lists the available plugins).
    """
    if "platform plugin" not in qt_message:
        return f"Qt cannot start: {one_line(qt_message)}"
    if not tried:
        requested = [p for p in os.environ.get("QT_QPA_PLATFORM", "").split(";") if p]
        tried = [(name.split(":")[0], True) for name in requested or ["xcb"]]
    available = _AVAILABLE.search(qt_message)
    reasons = []
    for name, found in dict.fromkeys(tried):
        if not found:
            known = f"; it has: {available[1]}" if available else ""
            reasons.append(f"Qt has no display plugin {name!r} (QT_QPA_PLATFORM){known}")
        else:
            reasons.append(_plugin_failure(name))
    return "; ".join(reasons) + f"; {HEADLESS_HINT}"


def _plugin_failure(name: str) -> str:
    """Why the platform plugin `name`, whose file exists, did not start."""
    variable = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}.get(name.split("-")[0])
    display = os.environ.get(variable) if variable else None
    no_display = f"no display to open the window on ({variable} is not set)" if variable and not display else ""
    missing = missing_libraries(name)
    if missing:
        packages = " ".join(dict.fromkeys(debian_package(soname) for soname in missing))
        text = (f"Qt's {name} display plugin needs system libraries that are missing ({', '.join(missing)}): "
                f"install them with `sudo apt install {packages}` (Debian/Ubuntu)")
        return f"{text}; also {no_display}" if no_display else text
    if no_display or variable is None:
        return no_display or f"Qt's {name} display plugin could not start"
    return f"cannot connect to the display {display!r} ({variable}): is it running, and may this user use it?"


def missing_libraries(platform: str) -> list[str]:
    """Shared libraries the platform's Qt plugin needs that the system lacks (ldd's "not found").

    Only run after Qt failed (ldd takes a few tens of milliseconds); [] when ldd or the plugin
    is not there.
    """
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    plugin = next(iter(sorted(plugins.glob(f"libq{platform}.so*"))), None)
    if plugin is None:
        return []
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE)
    return list(dict.fromkeys(found))


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library: libxcb-icccm.so.4 -> libxcb-icccm4,
    libxkbcommon-x11.so.0 -> libxkbcommon-x11-0 (a dash when the name ends in a digit)."""
    if soname in _PACKAGE_OF:
        return _PACKAGE_OF[soname]
    name, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    name = name.lower()
    return f"{name}-{major}" if major and name[-1].isdigit() else f"{name}{major}"


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


def start(window, paths: list[Path], weights: Path | None, restore: bool = False,
          compare: Path | None = None) -> None:
    """Open the given paths (or the demo study) and start loading the model.

    Args:
        restore: First offer the session a viewer that did not quit cleanly autosaved
            (restored, it replaces the demo study; its weights are used unless --weights).
        compare: Weights to open as the comparison model (--compare), after the model's.
    """
    restored = restore and window.session.offer_restore()
    if not restored or weights is not None or window.model.model_status.weights is None:
        chosen = choose_weights(weights, window.settings)
        if chosen is None:
            window.notifier.say(f"No model: {NO_BUNDLED_WEIGHTS}")
        window.load_weights(chosen)
    if compare is not None:
        window.open_comparison(compare)
    if paths:
        window.open_paths(paths)
        return
    if restored:
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
