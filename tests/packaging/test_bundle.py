"""The PyInstaller one-folder bundle builds and renders a study headless (slow: minutes, ~1 GB).

Run with: pytest -m slow tests/packaging   (needs pyinstaller installed)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_bundle_builds_and_takes_a_screenshot(tmp_path):
    pytest.importorskip("PyInstaller")
    dist, work = tmp_path / "dist", tmp_path / "work"
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(dist), "--workpath",
                    str(work), str(ROOT / "packaging" / "sr-viewer.spec")], check=True, cwd=ROOT, timeout=1800,
                   capture_output=True)
    exe = dist / "sr-viewer" / "sr-viewer"
    assert exe.is_file()
    for name in ("sr_efficientnet_lite0.safetensors", "sr_vmamba_nano_distilled.safetensors"):  # the bundled weights travel
        assert list(dist.rglob(f"resources/weights/{name}"))
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SR_VIEWER_CONFIG_DIR=str(tmp_path / "config"))
    result = subprocess.run([str(exe), "--screenshot", str(shot), str(ROOT / "resources" / "demo" / "00000732_005.png")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
