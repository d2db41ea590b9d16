"""Sessions in the window: save, close, open gives the same state back (studies, finding,
threshold, window/level, zoom and pan, GT, drawn boxes, measurements); a damaged, foreign or
other-version file is one line and an empty viewer; missing studies and weights are one line
each and the rest opens; the autosave follows changes, goes on a clean quit, and after the
viewer process is killed the next start offers it back with nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from sr_viewer.app import parse_args, start
from sr_viewer.settings import state_dir
from sr_viewer.state.session import FORMAT, VERSION, Session, StudyState, read_session, to_json

from ..conftest import FakePrediction
from ..state.conftest import blobs
from .test_measure import write_png

DEMO = Path(__file__).resolve().parents[3] / "resources" / "demo"
SMALLEST_DEMO = DEMO / "00000032_037.png"  # the smallest file of the demo study


def fake_prediction(study) -> FakePrediction:
    fpm = blobs((study.height, study.width))
    return FakePrediction({"Mass": fpm, "Nodule": fpm[::-1].copy()}, {"Mass": 0.7, "Nodule": 0.3})


def wait_image(qtbot, window, study=None) -> None:
    qtbot.waitUntil(lambda: (study or window.model.current) is not None
                    and (study or window.model.current).image is not None, timeout=20_000)


def session_window(make_window, model_name: str = "fake.safetensors"):
    """A window with a model name (thresholds are remembered per model) and no model: the
    tests hand studies FakePredictions, as the model would."""
    window = make_window()
    window.model.set_model_status(name=model_name)
    return window


def gt_file(folder: Path, name: str) -> Path:
    """A BBox_List CSV away from the images (so only the session can bring it back)."""
    folder.mkdir(exist_ok=True)
    path = folder / "BBox_List_2017.csv"
    path.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n" f"{name},Mass,100,100,200,150\n")
    return path


def test_session_round_trip_gives_the_same_state(make_window, qtbot, tmp_path):
    images = [write_png(tmp_path / f"study{i}.png", 400, 300) for i in range(2)]
    annotations = gt_file(tmp_path / "annotations", images[0].name)
    window = session_window(make_window)
    window.loader.load_ground_truth(annotations)
    window.open_paths(images, remember=False)
    a, b = window.model.studies
    wait_image(qtbot, window, a)
    window.model.set_prediction(a, fake_prediction(a))
    window.model.set_finding("Nodule")
    window.model.set_threshold(0.33)
    window.model.set_window((0.4, 0.7))
    window.canvas.zoom(2.0)
    window.canvas.view.translateBy(x=30, y=-20)
    QApplication.processEvents()
    shown = window.canvas.view.targetRect()  # what was asked for; the shown one follows the view's shape
    a.drawn_boxes.add("Nodule", (50, 60, 150, 160))
    a.measurements.add((10, 20), (110, 20))
    window.model.set_current(b)
    wait_image(qtbot, window, b)
    path = window.session.save_session(tmp_path / "reading")
    assert path == tmp_path / "reading.srsession"  # the suffix is added: never an image's name
    window.close()

    again = session_window(make_window)
    assert again.session.open_session(path)
    model = again.model
    assert [s.path for s in model.studies] == [p.resolve() for p in images]
    a2, b2 = model.studies
    assert model.current is b2
    assert annotations.resolve() in model.ground_truth.files
    assert a2.window == (0.4, 0.7)
    assert [(d.finding, d.box) for d in a2.drawn_boxes] == [("Nodule", (50, 60, 150, 160))]
    assert [(d.start, d.end) for d in a2.measurements] == [((10, 20), (110, 20))]
    assert not again.undo.history.can_undo()  # opening a session is not an edit
    wait_image(qtbot, again, a2)
    model.set_prediction(a2, fake_prediction(a2))  # the model answers for a, in the background
    assert a2.finding == "Nodule"
    model.set_current(a2)
    wait_image(qtbot, again)
    QApplication.processEvents()
    assert model.finding == "Nodule" and model.threshold == pytest.approx(0.33)
    assert again.overlay_panel.spin.value() == pytest.approx(0.33)
    assert a2.gt_boxes and a2.gt_boxes[0].finding == "Mass"
    rect = again.canvas.view.targetRect()
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == pytest.approx(
        (shown.left(), shown.top(), shown.right(), shown.bottom()), abs=1.0)
    assert set(again.canvas.drawn_boxes.items) == {d.id for d in a2.drawn_boxes}


@pytest.mark.parametrize("content, problem", [
    ("{\"format\": \"sr-viewer-session\", \"version\": 1, \"studies\": [", "not JSON"),
    (json.dumps({"format": FORMAT, "version": VERSION + 1, "studies": []}), "newer SR Viewer"),
    (json.dumps({"format": FORMAT, "version": VERSION - 1, "studies": []}), "older SR Viewer"),
    (json.dumps({"format": FORMAT, "version": VERSION, "studies": [{"path": ["a.png"]}]}), "must be a string"),
])
def test_a_bad_session_file_is_one_line_and_an_empty_viewer(make_window, qtbot, tmp_path, monkeypatch, content,
                                                            problem):
    monkeypatch.setattr("sr_viewer.app.default_weights", lambda: None)  # no model to load meanwhile
    path = tmp_path / "bad.srsession"
    path.write_text(content)
    window = make_window()
    start(window, [path], None)  # as `sr-viewer bad.srsession`: no demo study instead
    QApplication.processEvents()
    (message,) = window.notifier.errors
    assert message.startswith("cannot open session 'bad.srsession': ") and problem in message
    assert "\n" not in message and "Traceback" not in message
    assert window.model.studies == [] and window.model.current is None


def test_a_damaged_autosave_is_one_line_and_an_empty_viewer(make_window, qtbot, monkeypatch):
    monkeypatch.setattr("sr_viewer.app.default_weights", lambda: None)
    state_dir().mkdir(parents=True)
    (state_dir() / "autosave-0.srsession").write_text('{"format": "sr-viewer-session", "version": 1, "stud')
    window = make_window()
    asked = []
    window.session.ask = lambda text: asked.append(text) or True
    start(window, [], None, restore=True)
    assert asked == [] and window.model.studies == []  # not the demo study either
    (message,) = window.notifier.errors
    assert message.startswith("The autosaved session was not restored: cannot open session 'autosave-0.srsession'")
    assert not (state_dir() / "autosave-0.srsession").exists()


def test_missing_studies_and_weights_are_one_line_each_and_the_rest_opens(make_window, qtbot, tmp_path):
    here = write_png(tmp_path / "here.png")
    session = Session([StudyState(tmp_path / "gone.png"), StudyState(here, window=(0.5, 0.5))], current=1,
                      weights=tmp_path / "old_model.safetensors")
    path = tmp_path / "s.srsession"
    path.write_text(json.dumps(to_json(session)))
    window = make_window()
    assert window.session.open_session(path)
    assert [s.path for s in window.model.studies] == [here] and window.model.current.window == (0.5, 0.5)
    weights_line, studies_line = window.notifier.errors
    assert weights_line == "Session 's.srsession': weights 'old_model.safetensors' not found; keeping no model"
    assert studies_line == "Session 's.srsession': 1 of 2 studies not found, the others open: gone.png"
    assert window.model.model_status.weights is None


def test_weights_that_differ_are_loaded(make_window, qtbot, tmp_path, monkeypatch):
    weights = tmp_path / "other.safetensors"
    weights.write_bytes(b"not read here")
    path = tmp_path / "s.srsession"
    path.write_text(json.dumps(to_json(Session([StudyState(write_png(tmp_path / "a.png"))], weights=weights))))
    window = make_window()
    asked = []
    monkeypatch.setattr(window, "open_weights", asked.append)  # loading them is the model tests' business
    window.session.open_session(path)
    assert asked == [weights]


def test_autosave_follows_changes_and_a_clean_quit_removes_it(make_window, qtbot, tmp_path):
    window = session_window(make_window)
    window.open_paths([write_png(tmp_path / "a.png")], remember=False)
    wait_image(qtbot, window)
    autosave = window.session.autosave_path
    assert autosave.parent == state_dir() and tmp_path / "a.png" not in autosave.parents
    qtbot.waitUntil(autosave.is_file, timeout=5_000)
    study = window.model.current
    window.model.set_prediction(study, fake_prediction(study))
    window.model.set_threshold(0.61)
    qtbot.waitUntil(lambda: read_session(autosave).studies[0].threshold == pytest.approx(0.61), timeout=5_000)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.png"]  # nothing beside the study
    second = make_window()  # a second viewer takes its own slot
    assert second.session.autosave_path not in (None, autosave)
    assert second.session.leftover() is None  # the first one is running: not offered
    window.close()
    assert not autosave.exists()


def test_killed_viewer_process_is_restored_at_the_next_start(make_window, qtbot, tmp_path, config_dir, monkeypatch):
    session = Session([StudyState(SMALLEST_DEMO, finding="Nodule", threshold=0.37, window=(0.45, 0.6),
                                  view_range=(100.0, 150.0, 600.0, 650.0),
                                  drawn_boxes=[("Nodule", (200.0, 200.0, 400.0, 380.0))],
                                  measurements=[((100.0, 100.0), (400.0, 500.0))])], current=0)
    given = tmp_path / "given.srsession"
    given.write_text(json.dumps(to_json(session)))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SR_VIEWER_CONFIG_DIR": str(config_dir)}
    errors = (tmp_path / "stderr.txt").open("w+")  # a file, not a pipe: a full pipe would stall the viewer
    viewer = subprocess.Popen([sys.executable, "-m", "sr_viewer", "--no-restore", str(given)], env=env,
                              stdout=subprocess.DEVNULL, stderr=errors)
    autosaves = config_dir / "state"
    try:
        deadline = time.monotonic() + 60
        saved = None
        while saved is None and time.monotonic() < deadline and viewer.poll() is None:
            time.sleep(0.2)
            for candidate in autosaves.glob("autosave-*.srsession"):
                saved = read_session(candidate)  # written atomically: never half a file
        assert saved is not None, (tmp_path / "stderr.txt").read_text() or "no autosave within 60 s"
    finally:
        viewer.send_signal(signal.SIGKILL)
        viewer.wait(timeout=30)
        errors.close()
    assert viewer.returncode == -signal.SIGKILL
    assert saved.studies[0].measurements == [((100.0, 100.0), (400.0, 500.0))]

    window = make_window()
    requested = []
    window.open_weights = requested.append  # the killed viewer's model: no inference in this test
    monkeypatch.setattr("sr_viewer.app.default_weights", lambda: None)
    asked = []
    window.session.ask = lambda text: asked.append(text) or True
    start(window, [], None, restore=True)  # the next start, as sr-viewer without --no-restore
    assert len(asked) == 1 and "did not quit cleanly" in asked[0] and SMALLEST_DEMO.name in asked[0]
    assert requested == ([saved.weights] if saved.weights else [])
    model = window.model
    (study,) = model.studies
    assert study.path == SMALLEST_DEMO.resolve() and model.current is study
    assert study.window == (0.45, 0.6)
    assert [(d.finding, d.box) for d in study.drawn_boxes] == [("Nodule", (200, 200, 400, 380))]
    assert [(d.start, d.end) for d in study.measurements] == [((100, 100), (400, 500))]
    assert (DEMO / "BBox_List_2017.csv").resolve() in model.ground_truth.files
    wait_image(qtbot, window)
    QApplication.processEvents()
    rect = window.canvas.view.targetRect()
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == pytest.approx((100, 150, 600, 650), abs=0.5)
    shown = window.canvas.view.viewRect()  # widened on one axis to the view's shape, same centre
    assert shown.contains(rect.adjusted(1, 1, -1, -1)) and shown.center().x() == pytest.approx(350, abs=1)
    model.set_prediction(study, fake_prediction(study))
    assert model.finding == "Nodule" and model.threshold == pytest.approx(0.37)
    assert study.gt_boxes  # the demo's BBox_List row for this image
    assert read_session(window.session.autosave_now(wait=True)).studies[0].threshold == pytest.approx(0.37)
    assert list(DEMO.glob("*.srsession")) == [] and not list(DEMO.glob(".*tmp"))  # nothing written there


def test_no_restore_leaves_the_autosave_unoffered_for_a_later_start(make_window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr("sr_viewer.app.default_weights", lambda: None)
    leftover = state_dir() / "autosave-0.srsession"
    state_dir().mkdir(parents=True)
    leftover.write_text(json.dumps(to_json(Session([StudyState(write_png(tmp_path / "a.png"))], current=0))))
    assert parse_args(["--no-restore"]).no_restore and not parse_args([]).no_restore
    first = make_window()
    first.session.ask = lambda text: pytest.fail("asked with --no-restore")
    start(first, [tmp_path / "a.png"], None, restore=False)
    assert first.session.autosave_path != leftover  # its own slot: the leftover is not written over
    first.session.autosave_now(wait=True)
    first.close()  # a clean quit removes its own autosave only
    assert leftover.is_file()  # still there for the next start
    second = make_window()
    asked = []
    second.session.ask = lambda text: asked.append(text) or False  # declined
    start(second, [], None, restore=True)
    assert len(asked) == 1 and not leftover.exists()
    qtbot.waitUntil(lambda: len(second.model.studies) == 8, timeout=15_000)  # declined: the demo study
