"""Model > Bundled weights: every weights file in resources/weights, the default first, each
loaded like Model > Open weights does."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from sr_core import bundled
from sr_core.bundled import bundled_weights

from ..conftest import CLASSES, INFERENCE_TIMEOUT_MS

OTHER_NAME = "aa_previous.safetensors"  # sorts before any default name: the order is not by name alone


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> Path:
    """A resources folder whose weights/ holds two small real weights files (the default and
    another), the model card beside them and a half-written temporary file."""
    import torch

    from sr_core.checkpoint import save_weights
    from sr_core.models import create_model

    folder = tmp_path_factory.mktemp("resources")
    torch.manual_seed(0)
    for name in (bundled.DEFAULT_WEIGHTS_NAME, OTHER_NAME):
        model = create_model("sr_vmamba_nano", dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], head_channels=16,
                             drop_path_rate=0.0)
        save_weights(model, folder / "weights" / name, {"class_names": CLASSES})
    (folder / "weights" / "MODEL_CARD.md").write_text("# Model card\n")
    (folder / "weights" / f".{OTHER_NAME}.x1y2.tmp").write_bytes(b"half")
    return folder


@pytest.fixture
def bundled_folder(resources, monkeypatch) -> Path:
    monkeypatch.setattr(bundled, "RESOURCES", resources)
    return resources / "weights"


def entries(window) -> list[str]:
    return [action.text() for action in window.submenus["bundled_weights"].actions()]


def wait_ready(qtbot, window, name: str) -> None:
    def check():
        status = window.model.model_status
        assert status.state == "ready" and status.name == name

    qtbot.waitUntil(check, timeout=INFERENCE_TIMEOUT_MS)


def test_bundled_weights_are_the_safetensors_files_default_first(bundled_folder):
    assert bundled_weights() == [bundled_folder / bundled.DEFAULT_WEIGHTS_NAME, bundled_folder / OTHER_NAME]


def test_no_weights_folder_means_no_bundled_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "RESOURCES", tmp_path)
    assert bundled_weights() == []


def test_submenu_lists_the_bundled_weights_and_choosing_one_loads_and_remembers_it(make_window, qtbot, bundled_folder):
    default, other = bundled_folder / bundled.DEFAULT_WEIGHTS_NAME, bundled_folder / OTHER_NAME
    window = make_window(weights=default)
    wait_ready(qtbot, window, default.name)
    menu = window.submenus["bundled_weights"]
    menu.aboutToShow.emit()  # as when the reader opens it
    assert entries(window) == [f"{default.name} (default)", other.name]
    assert [a.isChecked() for a in menu.actions()] == [True, False]  # the loaded one
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "Model")
    items = model_menu.actions()
    assert items[items.index(window.actions_by_name["open_weights"]) + 1] == menu.menuAction()  # right below
    assert menu.title() == "Bundled weights"

    menu.actions()[1].trigger()
    wait_ready(qtbot, window, other.name)
    assert window.model.model_status.weights == other and window.model_panel.weights.text() == other.name
    assert window.settings.weights == str(other)
    assert window.store_settings().weights == str(other)  # the next start uses it
    menu.aboutToShow.emit()
    assert [a.isChecked() for a in menu.actions()] == [False, True]


def test_open_weights_dialog_takes_the_same_path(make_window, qtbot, bundled_folder, monkeypatch):
    other = bundled_folder / OTHER_NAME
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(other), ""))
    window = make_window()
    window.actions_by_name["open_weights"].trigger()
    wait_ready(qtbot, window, other.name)
    assert window.settings.weights == str(other) and window.settings.last_folder == str(bundled_folder)
    window.submenus["bundled_weights"].aboutToShow.emit()
    assert [a.isChecked() for a in window.submenus["bundled_weights"].actions()] == [False, True]


def test_weights_added_while_running_show_when_the_menu_opens(make_window, tmp_path, monkeypatch, resources):
    monkeypatch.setattr(bundled, "RESOURCES", tmp_path)
    window = make_window()
    assert entries(window) == ["(none in this installation)"]
    assert not window.submenus["bundled_weights"].actions()[0].isEnabled()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / bundled.DEFAULT_WEIGHTS_NAME).write_bytes(
        (resources / "weights" / bundled.DEFAULT_WEIGHTS_NAME).read_bytes())
    window.submenus["bundled_weights"].aboutToShow.emit()
    assert entries(window) == [f"{bundled.DEFAULT_WEIGHTS_NAME} (default)"]
