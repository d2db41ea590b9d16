"""sr-viewer's entry point: --screenshot renders headless and exits; failures are one line."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtGui import QImage

from sr_viewer.app import STARTUP_MARKER, main


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
