"""--screenshot: open a study, wait for the model, render the window to a PNG, exit.

Headless (QT_QPA_PLATFORM=offscreen works): the window is laid out without being put on a
screen and rendered with QWidget.grab(). The user's settings are neither read nor written,
so a screenshot for the docs looks the same on every machine.

With --compare W2 the second weights are opened as the comparison model once the first has
answered (so model B shows model A's finding) and the picture waits for B's answer too: the
split view with both maps and the comparison table. Such a picture is saved with a palette
of COMPARE_COLOURS colours (two X-rays side by side are twice the noise a PNG compresses
badly; the grey image and the colormaps need no more colours than that).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from sr_core.bundled import default_weights, demo_study

from sr_viewer.settings import Settings
from sr_viewer.state import Status

TIMEOUT_S = 300.0
SIZE = (1500, 950)
COMPARE_SIZE = (1800, 950)  # two canvases side by side: wider, so each keeps a readable image
COMPARE_COLOURS = 256


class ScreenshotError(Exception):
    """A one-line reason the screenshot could not be made."""


def _wait(app: QApplication, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if done():
            return True
        time.sleep(0.01)
    return False


def _settled(window) -> bool:
    model = window.model
    if model.model_status.state == "loading" or window.loader.walks:
        return False
    if model.model_status.state == "error":
        return True
    study = model.current
    if study is None:
        return not window.loader.runner.busy
    if study.status is Status.ERROR:
        return True
    if model.model_status.state == "ready":
        return study.status is Status.DONE and study.image is not None
    return study.image is not None


def take_screenshot(app: QApplication, args) -> int:
    """Render the window for args.paths to args.screenshot; 0, or 1 with one line on stderr."""
    from sr_viewer.qt.main_window import MainWindow

    window = None
    try:
        out = Path(args.screenshot)
        paths = list(args.paths) or ([demo_study()] if demo_study() else [])
        if not paths:
            raise ScreenshotError("no path given and no demo study installed")
        if any(out.resolve() == Path(p).resolve() for p in paths):
            raise ScreenshotError(f"refusing to overwrite the source {out.name}")
        weights = args.weights or default_weights()
        for given in (weights, args.compare):
            if given is not None and not Path(given).is_file():
                raise ScreenshotError(f"weights not found: {given}")
        if weights is None and args.compare is not None:
            raise ScreenshotError("--compare needs a model to compare with: give --weights")
        if weights is None and (args.finding or args.threshold is not None):
            raise ScreenshotError("--finding/--threshold need a model: give --weights")
        settings = Settings(theme=args.theme or "dark", device=args.device or "auto",
                            first_start_hint_shown=True)  # a picture of the viewer, not of a first start
        window = MainWindow(settings, persist=False)
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(*(COMPARE_SIZE if args.compare else SIZE))
        window.show()
        window.load_weights(weights)
        window.open_paths(paths, remember=False)
        if not _wait(app, lambda: _settled(window), TIMEOUT_S):
            raise ScreenshotError(f"timed out after {TIMEOUT_S:.0f} s waiting for the model")
        _check(window)
        if args.finding:
            try:
                window.model.set_finding(args.finding)
            except KeyError:
                known = ", ".join(window.model.current.findings)
                raise ScreenshotError(f"unknown finding {args.finding!r}; known: {known}") from None
        if args.threshold is not None:
            window.model.set_threshold(args.threshold, remember=False)
        if args.compare:
            _open_comparison(app, window, Path(args.compare))
        window.canvas.fit()
        _wait(app, lambda: False, 0.3)  # let layouts and the view settle
        out.parent.mkdir(parents=True, exist_ok=True)
        picture = window.grab().toImage()
        if not (_save_with_palette(picture, out) if args.compare else picture.save(str(out), "PNG")):
            raise ScreenshotError(f"could not write {out}")
        return 0
    except ScreenshotError as exc:
        print(f"sr-viewer: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if window is not None:
            window.close()


def _save_with_palette(picture: QImage, out: Path) -> bool:
    """Save as an 8-bit palette PNG (median cut, dithered: Pillow's; Qt's own Indexed8
    conversion posterises the grey). Pillow comes with matplotlib and highdicom."""
    import numpy as np
    from PIL import Image

    rgb = picture.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(rgb.constBits(), np.uint8).reshape(rgb.height(), rgb.bytesPerLine())
    pixels = pixels[:, : rgb.width() * 3].reshape(rgb.height(), rgb.width(), 3)
    try:
        Image.fromarray(pixels).quantize(COMPARE_COLOURS, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    except OSError:
        return False
    return True


def _open_comparison(app: QApplication, window, weights: Path) -> None:
    """Open `weights` as model B and wait for its answer on the shown study."""
    window.open_comparison(weights)
    comparison, study = window.comparison, window.model.current

    def answered() -> bool:
        return not comparison.active or comparison.prediction_for(study) is not None or bool(
            comparison.failure_for(study))

    if not _wait(app, answered, TIMEOUT_S):
        raise ScreenshotError(f"timed out after {TIMEOUT_S:.0f} s waiting for the comparison model")
    if not comparison.active or comparison.failure_for(study):
        raise ScreenshotError(window.notifier.errors[-1] if window.notifier.errors else "comparison model failed")


def _check(window) -> None:
    """Raise ScreenshotError when the model or the study failed."""
    model = window.model
    if model.model_status.state == "error":
        raise ScreenshotError(model.model_status.message)
    study = model.current
    if study is None:
        raise ScreenshotError("no readable image found")
    if study.status is Status.ERROR:
        raise ScreenshotError(study.error or f"cannot read {study.name}")
