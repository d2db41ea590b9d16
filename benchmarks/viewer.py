"""Viewer speed on this machine: the numbers DESIGN.md's viewer targets name.

1. Threshold drag: ViewerModel.set_threshold -> every listener (Prediction.regions once,
   heatmap cut, contour and box items, box table, overlay panel) -> processEvents, which
   repaints the canvas and the panels (checked with a paint-event counter). Median and p95 over a sweep of thresholds, at 1024^2 (target p95 <= 16
   ms, one frame) and at 2048^2. Window/level drag (levels only) the same way.
2. Launch -> window shown: `python -m sr_viewer --benchmark-startup` in a subprocess, time
   from spawn to the marker line (the window is exposed), and whether torch was imported
   by then (it must not be).
3. Drop -> heatmap shown with a warm model (nano, CPU): open a file, wait until the canvas
   holds its heatmap. Also the cold model load (torch import, weights, warm-up forward).

Untrained nano weights are made on the fly (speed does not depend on training). The
printout is a Markdown table with the machine named.

Run: QT_QPA_PLATFORM=offscreen python benchmarks/viewer.py [--repeats 200] [--launches 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"
CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]


def stats(times_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(times_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


MAKE_WEIGHTS = """
import sys, torch
from sr_core.checkpoint import save_weights
from sr_core.models import create_model
torch.manual_seed(0)
save_weights(create_model("sr_vmamba_nano"), sys.argv[1], {"class_names": sys.argv[2:], "default_threshold": 0.5})
"""


def make_weights(folder: Path) -> Path:
    """Untrained nano weights, written by another process: in the viewer the UI thread never
    runs torch, and a UI thread that had would slow every CPU prediction on the model thread
    (two OpenMP thread pools on few cores: benchmarks/model_cpu.py --torch-thread split)."""
    path = folder / "nano.safetensors"
    subprocess.run([sys.executable, "-c", MAKE_WEIGHTS, str(path), *CLASSES], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    return path


def make_2k(folder: Path) -> Path:
    import cv2

    image = cv2.imread(str(DEMO / "00000732_005.png"), cv2.IMREAD_UNCHANGED)
    path = folder / "chest_2048.png"
    cv2.imwrite(str(path), cv2.resize(image, (2048, 2048), interpolation=cv2.INTER_CUBIC))
    return path


def wait(app, condition, timeout: float = 120.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def drag_times(app, window, setter, values) -> list[float]:
    """ms per change: the model setter and every listener, then the event loop until the
    canvas has painted the change (processEvents paints it; a synchronous repaint is added,
    and timed, only for a step where it did not)."""
    from PySide6.QtCore import QEvent, QObject

    class Painted(QObject):
        count = 0

        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint:
                Painted.count += 1
            return False

    viewport = window.canvas.viewport()
    spy = Painted()
    viewport.installEventFilter(spy)
    times, forced = [], 0
    try:
        for value in values:
            before = Painted.count
            start = time.perf_counter()
            setter(value)
            app.processEvents()
            if Painted.count == before:
                viewport.repaint()
                forced += 1
            times.append((time.perf_counter() - start) * 1000)
    finally:
        viewport.removeEventFilter(spy)
    if forced:
        print(f"note: {forced}/{len(values)} steps needed an explicit repaint", file=sys.stderr)
    return times


def interactive(app, window, path: Path, repeats: int) -> dict[str, tuple[float, float]]:
    import numpy as np

    window.open_paths([path], remember=False)
    study = window.model.study_for(path)
    window.model.set_current(study)
    wait(app, lambda: study.prediction is not None and study.image is not None)
    wait(app, lambda: False if window.inference.busy else True)
    for _ in range(5):
        app.processEvents()
    model = window.model
    sweep = list(np.linspace(0.2, 0.8, repeats // 2)) + list(np.linspace(0.8, 0.2, repeats - repeats // 2))
    drag_times(app, window, model.set_threshold, sweep[:10])  # warm-up
    out = {"threshold": stats(drag_times(app, window, model.set_threshold, sweep))}
    model.view.mode = "all"
    out["threshold_all"] = stats(drag_times(app, window, model.set_threshold, sweep))
    model.view.mode = "largest"
    windows = [(0.5 + 0.2 * np.sin(i / 7), 0.6 + 0.3 * np.cos(i / 5)) for i in range(repeats)]
    model.set_window((0.5, 1.0))
    out["window"] = stats(drag_times(app, window, model.set_window, windows))
    return out


def drop_to_heatmap(app, window, paths: list[Path]) -> list[float]:
    """ms from open_paths to the canvas showing the study's heatmap (warm model)."""
    times = []
    for path in paths:
        start = time.perf_counter()
        window.open_paths([path], remember=False)
        study = window.model.study_for(path)
        window.model.set_current(study)
        wait(app, lambda: study.prediction is not None and window.canvas._heat_key is not None
             and window.canvas._heat_key[0] == id(study.prediction))
        times.append((time.perf_counter() - start) * 1000)
    return times


def launches(count: int, config: Path) -> list[tuple[float, float, str]]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SR_VIEWER_CONFIG_DIR": str(config)}
    out = []
    for _ in range(count):
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sr_viewer", "--benchmark-startup"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        shown = time.perf_counter() - start
        proc.wait(timeout=60)
        _, inside, torch_flag = line.split()
        out.append((shown * 1000, float(inside) * 1000, torch_flag))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--launches", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="sr-viewer-bench-"))
    os.environ["SR_VIEWER_CONFIG_DIR"] = str(folder / "config")
    launch = launches(args.launches, folder / "config")  # first: nothing else running

    from PySide6.QtWidgets import QApplication

    from sr_viewer.qt.main_window import MainWindow
    from sr_viewer.settings import Settings

    app = QApplication.instance() or QApplication([])
    weights = make_weights(folder)
    window = MainWindow(Settings(device="cpu"), persist=False)
    window.resize(1500, 950)
    window.show()
    window.load_weights(weights)
    model_load = wait(app, lambda: window.model.model_status.ready) * 1000
    results_1k = interactive(app, window, DEMO / "00000732_005.png", args.repeats)
    results_2k = interactive(app, window, make_2k(folder), args.repeats)
    drops = drop_to_heatmap(app, window, [DEMO / n for n in ("00000032_037.png", "00000072_000.png", "00000150_002.png",
                                                              "00000830_000.png", "00001555_002.png")])
    device = window.model.model_status.active_device
    window.close()

    import PySide6
    import pyqtgraph
    import torch

    print(f"Machine: {cpu_name()}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"PySide6 {PySide6.__version__}, pyqtgraph {pyqtgraph.__version__}, QT_QPA_PLATFORM="
          f"{os.environ.get('QT_QPA_PLATFORM')}, window 1500x950, model sr_vmamba_nano on {device}\n")
    print("| measurement | median (ms) | p95 (ms) | target |")
    print("|---|---:|---:|---|")
    rows = [
        ("threshold change -> boxes + contour + heatmap cut redrawn, 1024^2 (largest)", results_1k["threshold"], "p95 <= 16"),
        ("threshold change, 1024^2, all components", results_1k["threshold_all"], "p95 <= 16"),
        ("threshold change, 2048^2 (largest)", results_2k["threshold"], "smooth"),
        ("window/level drag step, 1024^2", results_1k["window"], "smooth"),
        ("window/level drag step, 2048^2", results_2k["window"], "smooth"),
    ]
    for name, (median, p95), target in rows:
        print(f"| {name} | {median:.1f} | {p95:.1f} | {target} |")
    shown = [l[0] for l in launch]
    inside = [l[1] for l in launch]
    print(f"| launch -> window shown (subprocess spawn to marker, n={len(launch)}) | {statistics.median(shown):.0f} | "
          f"{max(shown):.0f} (max) | before torch: {'yes' if all(l[2] == 'torch_imported=False' for l in launch) else 'NO'} |")
    print(f"| launch -> window shown (from sr_viewer.app import) | {statistics.median(inside):.0f} | {max(inside):.0f} (max) | |")
    print(f"| drop -> heatmap shown, warm model, 1024^2 PNG (n={len(drops)}) | {statistics.median(drops):.0f} | "
          f"{max(drops):.0f} (max) | usable on 2 cores |")
    print(f"| model load (torch import + weights + warm-up forward), once | {model_load:.0f} | | background |")


if __name__ == "__main__":
    main()
