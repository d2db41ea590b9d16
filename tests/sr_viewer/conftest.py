"""Viewer fixtures: small real weights, a private config folder, a window, study folders, and
FakePrediction (a prediction over hand-made maps) for the state and export tests."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from sr_core.boxes import threshold_regions

CLASSES = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax"]
DEMO_BOXES = Path(__file__).resolve().parents[2] / "resources" / "demo" / "BBox_List_2017.csv"
INFERENCE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """Untrained but real nano weights (8 NIH findings, threshold 0.5, operating points)."""
    import torch

    from sr_core.checkpoint import save_weights
    from sr_core.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "nano.safetensors"
    save_weights(create_model("sr_vmamba_nano"), path, {
        "class_names": CLASSES,
        "default_threshold": 0.5,
        "operating_points": {"Effusion": 0.2, "Cardiomegaly": 0.25},
        "provenance": {"data": "test fixture, untrained"},
    })
    return path


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own settings folder (never the user's)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("SR_VIEWER_CONFIG_DIR", str(folder))
    handlers = list(logging.getLogger().handlers)
    yield folder
    for handler in logging.getLogger().handlers[:]:
        if handler not in handlers:  # main() adds a file handler: do not leak it
            logging.getLogger().removeHandler(handler)
            handler.close()


@pytest.fixture
def nih_demo(shared_data) -> Path:
    return shared_data / "nih-demo"


@pytest.fixture
def study_folder(tmp_path, nih_demo) -> Path:
    """Two real 1024 px X-rays with NIH's BBox_List next to them."""
    folder = tmp_path / "study"
    folder.mkdir()
    for name in ("00000732_005.png", "00000344_003.png"):
        shutil.copy(nih_demo / name, folder / name)
    shutil.copy(DEMO_BOXES, folder / "BBox_List_2017.csv")
    return folder


@pytest.fixture
def make_window(qtbot):
    """Factory for main windows that are closed (workers stopped) after the test."""
    from sr_viewer.qt.main_window import MainWindow
    from sr_viewer.settings import Settings

    windows = []

    def make(settings: Settings | None = None, weights: Path | None = None, persist: bool = True) -> MainWindow:
        window = MainWindow(settings, persist=persist)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if weights is not None:
            window.load_weights(weights)
        return window

    yield make
    for window in windows:
        window.close()


def wait_done(qtbot, window, study=None, timeout: int = INFERENCE_TIMEOUT_MS) -> None:
    """Wait until `study` (default: the current one) has a prediction (and, if shown, its image:
    studies done in the background do not keep their decoded image)."""
    def check():
        target = study or window.model.current
        assert target is not None and target.prediction is not None
        assert target is not window.model.current or target.image is not None

    qtbot.waitUntil(check, timeout=timeout)


class FakePrediction:
    """Prediction's interface over hand-made maps (no model, no torch)."""

    def __init__(self, maps, probabilities, thresholds=None, default=0.5):
        self.maps, self.probabilities = maps, probabilities
        self.thresholds, self.default_threshold = thresholds or {}, default
        self.calls = 0

    @property
    def findings(self):
        return sorted(self.probabilities, key=self.probabilities.get, reverse=True)

    def fpm(self, finding=None):
        return self.maps[finding or self.findings[0]]

    def threshold_for(self, finding=None):
        return self.thresholds.get(finding, self.default_threshold)

    def regions(self, threshold, finding=None, mode="largest"):
        self.calls += 1
        return threshold_regions(self.fpm(finding), threshold, mode)
