"""One door for pixels: the study loader alone decodes an opened file, and the model is
given the image it decoded (issue #13, item 8)."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

from sr_viewer import jobs
from sr_viewer.state import Status

from ..conftest import INFERENCE_TIMEOUT_MS
from .conftest import drop

DEMO = ("00000032_037.png", "00000150_002.png", "00000830_000.png")


@pytest.fixture
def decodes(monkeypatch) -> Counter:
    """Counts jobs.read_image calls per file name (the decode every opened file goes through)."""
    counts: Counter = Counter()
    lock = threading.Lock()
    real = jobs.read_image

    def counting(path, *args, **kwargs):
        with lock:
            counts[Path(path).name] += 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(jobs, "read_image", counting)
    return counts


@pytest.fixture
def three(tmp_path, nih_demo) -> Path:
    """A folder of three real NIH X-rays."""
    folder = tmp_path / "three"
    folder.mkdir()
    for name in DEMO:
        shutil.copy(nih_demo / name, folder / name)
    return folder


def warm_window(make_window, qtbot, weights):
    """A window whose model is ready (files are dropped on a warm viewer)."""
    window = make_window(weights=weights)
    qtbot.waitUntil(lambda: window.model.model_status.ready, timeout=INFERENCE_TIMEOUT_MS)
    return window


def settle(qtbot, window, count: int) -> None:
    """Wait until `count` studies are open and done or failed, and no worker is busy."""
    def check():
        studies = window.model.studies
        assert len(studies) == count and not window.loader.walks
        assert all(s.status in (Status.DONE, Status.ERROR) for s in studies)
        assert not window.loader.runner.busy and not window.inference.runner.busy

    qtbot.waitUntil(check, timeout=INFERENCE_TIMEOUT_MS)


def test_a_dropped_file_is_decoded_once(make_window, qtbot, weights, nih_demo, decodes):
    window = warm_window(make_window, qtbot, weights)
    drop(window, nih_demo / DEMO[0])
    settle(qtbot, window, 1)
    (study,) = window.model.studies
    assert study.prediction is not None and study.thumbnail is not None
    assert decodes == {DEMO[0]: 1}


def test_a_dropped_folder_of_three_is_decoded_once_per_file(make_window, qtbot, weights, three, decodes):
    window = warm_window(make_window, qtbot, weights)
    drop(window, three)
    settle(qtbot, window, 3)
    assert all(s.status is Status.DONE and s.thumbnail is not None for s in window.model.studies)
    assert decodes == {name: 1 for name in DEMO}


def test_a_file_that_cannot_be_decoded_is_tried_once_and_named_once(make_window, qtbot, weights, nih_demo,
                                                                    tmp_path, decodes):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    shutil.copy(nih_demo / DEMO[0], folder / DEMO[0])
    window = warm_window(make_window, qtbot, weights)
    drop(window, folder)
    settle(qtbot, window, 2)
    broken = window.model.study_for(folder / "broken.png")
    assert broken.status is Status.ERROR and window.model.study_for(folder / DEMO[0]).status is Status.DONE
    assert decodes == {"broken.png": 1, DEMO[0]: 1}
    assert len([e for e in window.notifier.errors if "broken.png" in e]) == 1  # no "Inference failed" too
    assert "\n" not in window.notifier.errors[0]


def test_evicted_pixels_are_read_again_through_the_loader(make_window, qtbot, weights, three, decodes):
    window = warm_window(make_window, qtbot, weights)
    window.open_paths([three])
    settle(qtbot, window, 3)
    shown, *background = window.model.studies
    assert shown.image is not None and all(s.image is None for s in background)  # done: pixels dropped
    window.inference.run_again(list(window.model.studies))  # as after a change of weights
    settle(qtbot, window, 3)
    assert all(s.status is Status.DONE for s in window.model.studies)
    assert decodes == {shown.name: 1, **{s.name: 2 for s in background}}  # one read per missing image
