"""The findings panel: probabilities and, above them, the out-of-distribution warning line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from sr_core.prediction import Prediction
from sr_viewer.qt.findings_panel import FindingsPanel
from sr_viewer.state import ViewerModel

from ..conftest import CLASSES, INFERENCE_TIMEOUT_MS

CT_SLICE = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
WARNING = "DICOM Modality is CT, not a radiograph"


def prediction(warning: str | None) -> Prediction:
    probabilities = np.linspace(0.2, 0.05, len(CLASSES))
    probabilities /= probabilities.sum()
    maps = {c: np.full((8, 8), 0.5, np.float32) for c in CLASSES}
    return Prediction(dict(zip(CLASSES, map(float, probabilities))), maps, CLASSES[:4], 64, 64, warning=warning)


def panel_with_two_studies(qtbot, tmp_path) -> tuple[FindingsPanel, ViewerModel, list]:
    model = ViewerModel()
    paths = [tmp_path / "ct.png", tmp_path / "chest.png"]
    for path in paths:
        path.write_bytes(b"")
    studies = model.add_studies(paths)
    model.set_prediction(studies[0], prediction(WARNING))
    model.set_prediction(studies[1], prediction(None))
    panel = FindingsPanel(model)
    qtbot.addWidget(panel)
    panel.resize(360, 420)
    panel.show()
    return panel, model, studies


def test_warning_line_is_shown_above_the_probabilities(qtbot, tmp_path):
    panel, model, studies = panel_with_two_studies(qtbot, tmp_path)
    assert model.current is studies[0]
    assert panel.warning_text() == f"\u26a0 {WARNING}"
    assert panel.warning.isVisible() and panel.warning.geometry().bottom() < panel.table.geometry().top()
    # The warning never hides the results: all eight findings are still listed.
    assert [r[0] for r in panel.rows()] == CLASSES and panel.rowCount() == 8


def test_warning_line_follows_the_current_study(qtbot, tmp_path):
    panel, model, studies = panel_with_two_studies(qtbot, tmp_path)
    model.set_current(studies[1])
    assert panel.warning_text() is None and not panel.warning.isVisible()
    assert len(panel.rows()) == 8
    model.set_current(studies[0])
    assert panel.warning_text() == f"\u26a0 {WARNING}"
    model.remove_studies(studies)
    assert panel.warning_text() is None and panel.rowCount() == 0


def test_window_warns_on_a_real_ct_slice_and_still_shows_its_findings(make_window, qtbot, weights):
    window = make_window(weights=weights)
    with qtbot.waitSignal(window.inference.study_done, timeout=INFERENCE_TIMEOUT_MS):
        window.open_paths([CT_SLICE], remember=False)
    # Before the prediction the eight rows are the findings to label; wait for the probabilities.
    qtbot.waitUntil(lambda: window.model.current.prediction is not None and window.findings.rows()[0][1] != "-",
                    timeout=INFERENCE_TIMEOUT_MS)
    assert window.model.current.prediction.warning == WARNING
    assert window.findings.warning_text() == f"\u26a0 {WARNING}"
