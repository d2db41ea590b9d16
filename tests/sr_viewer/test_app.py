"""sr-viewer's entry point: --screenshot renders headless and exits; failures are one line,
including a display Qt cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from sr_viewer.app import HEADLESS_HINT, STARTUP_MARKER, debian_package, main, platform_failure


def test_screenshot_renders_the_window_with_the_study(qapp, weights, nih_demo, tmp_path, config_dir):
    out = tmp_path / "shot.png"
    status = main(["--screenshot", str(out), "--weights", str(weights), "--finding", "Mass", "--threshold", "0.6",
                   str(nih_demo / "00000732_005.png")])
    assert status == 0
    picture = QImage(str(out))
    assert picture.width() >= 1200 and picture.height() >= 800
    # The window is dark: most of it is not white, and the canvas is there.
    centre = picture.pixelColor(picture.width() // 2, picture.height() // 2)
    assert centre.lightness() < 250
    assert not (config_dir / "settings.json").exists()  # screenshots leave the settings alone
    assert (config_dir / "logs" / "sr-viewer.log").is_file()


def test_screenshot_failures_exit_1_with_one_line(qapp, weights, nih_demo, tmp_path, capsys):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    assert main(["--screenshot", str(tmp_path / "a.png"), "--weights", str(weights), str(broken)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sr-viewer: error: ") and "broken.dcm" in err and "\n" not in err

    bad_weights = tmp_path / "w.safetensors"
    bad_weights.write_bytes(b"nonsense")
    assert main(["--screenshot", str(tmp_path / "b.png"), "--weights", str(bad_weights),
                 str(nih_demo / "00000072_000.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert "w.safetensors" in err and "\n" not in err

    assert main(["--screenshot", str(tmp_path / "c.png"), "--weights", str(weights), "--finding", "Fracture",
                 str(nih_demo / "00000072_000.png")]) == 1
    assert "unknown finding 'Fracture'" in capsys.readouterr().err

    source = nih_demo / "00000072_000.png"
    assert main(["--screenshot", str(source), str(source)]) == 1
    assert not (tmp_path / "a.png").exists()


def test_usage_errors_exit_2(capsys):
    assert main(["--threshold", "0.5"]) == 2
    assert main(["--screenshot", "x.png", "--threshold", "3", "y.png"]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_window_shows_before_torch_is_imported(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SR_VIEWER_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "sr_viewer", "--benchmark-startup"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    marker, seconds, torch_flag = out.stdout.split()
    assert marker == STARTUP_MARKER and float(seconds) > 0 and torch_flag == "torch_imported=False"


def _run_viewer(tmp_path, **env_changes) -> subprocess.CompletedProcess:
    env = {**os.environ, "SR_VIEWER_CONFIG_DIR": str(tmp_path)}
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "sr_viewer"], capture_output=True, text=True, env=env, timeout=120)


def _missing_xcb_libraries() -> list[str]:
    """What ldd says the installed xcb plugin lacks on this machine (the test's own look)."""
    from PySide6.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if "not found" in line})


def _one_line_with_the_fix(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("sr-viewer: error: ")
    assert "QT_QPA_PLATFORM=offscreen" in line and "--screenshot" in line
    assert "Traceback" not in line
    return line


def test_xcb_without_its_libraries_or_a_display_exits_2_with_one_line_naming_the_fix(tmp_path):
    line = _one_line_with_the_fix(_run_viewer(tmp_path, QT_QPA_PLATFORM="xcb", DISPLAY=None, WAYLAND_DISPLAY=None))
    missing = _missing_xcb_libraries()
    if missing:  # this machine lacks some of Qt's X libraries: the line says which and the apt line
        assert "sudo apt install " in line
        for soname in missing:
            assert soname in line and debian_package(soname) in line
    assert "DISPLAY is not set" in line
    assert (tmp_path / "logs" / "sr-viewer.log").read_text().count("sr-viewer: error: ") == 1


def test_an_unknown_platform_exits_2_with_one_line_listing_the_plugins(tmp_path):
    line = _one_line_with_the_fix(_run_viewer(tmp_path, QT_QPA_PLATFORM="nonexistent"))
    assert "no display plugin 'nonexistent'" in line and "offscreen" in line and "xcb" in line


def test_an_explicit_headless_platform_is_not_blocked(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "minimal", "SR_VIEWER_CONFIG_DIR": str(tmp_path)}
    env.pop("DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "sr_viewer", "--benchmark-startup"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(STARTUP_MARKER)


@pytest.mark.parametrize("environment, expected", [
    ({}, "no display to open the window on (DISPLAY is not set)"),
    ({"DISPLAY": ":77"}, "cannot connect to the display ':77' (DISPLAY)"),
])
def test_xcb_with_its_libraries_names_the_display_problem(monkeypatch, environment, expected):
    monkeypatch.setattr("sr_viewer.app.missing_libraries", lambda platform: [])
    monkeypatch.delenv("DISPLAY", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    fatal = "no Qt platform plugin could be initialized.\n\nAvailable platform plugins are: offscreen, xcb.\n"
    line = platform_failure([("xcb", True)], fatal)
    assert line.startswith(expected) and line.endswith(HEADLESS_HINT) and "\n" not in line


def test_missing_libraries_are_named_by_their_debian_packages():
    assert [debian_package(s) for s in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0",
                                        "libxkbcommon-x11.so.0", "libX11-xcb.so.1", "libxcb-render-util.so.0",
                                        "libGL.so.1", "libglib-2.0.so.0")] == [
        "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0", "libx11-xcb1",
        "libxcb-render-util0", "libgl1", "libglib2.0-0"]
