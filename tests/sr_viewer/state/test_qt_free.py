"""The Qt-free viewer: its state, export, settings, jobs and app import neither Qt nor torch."""

from __future__ import annotations

import subprocess
import sys


def test_state_imports_neither_qt_nor_torch():
    code = ("import sys, sr_viewer.state, sr_viewer.state.session, sr_viewer.state.undo, sr_viewer.export, "
            "sr_viewer.settings, sr_viewer.jobs, sr_viewer.app; "
            "print(sorted(m for m in ('PySide6', 'torch', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
