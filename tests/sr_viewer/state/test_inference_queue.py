"""sr_viewer.state.inference_queue: cancel, requeue and which decoded images stay in memory."""

from __future__ import annotations

from sr_viewer.state import IMAGES_AHEAD, Status

from ..conftest import FakePrediction
from .conftest import blobs, loaded_model


def test_cancel_and_requeue(tmp_path):
    model, studies = loaded_model(tmp_path)
    model.queue.requeue()
    assert [s.status for s in studies] == [Status.QUEUED] * 3
    assert model.queue.next_study() is studies[0]
    model.set_current(studies[2])
    assert model.queue.next_study() is studies[2]  # the shown study first
    model.queue.unqueue(Status.CANCELLED)
    assert model.queue.next_study() is None


def test_only_recent_images_stay_in_memory(tmp_path):
    model, studies = loaded_model(tmp_path, n=8)
    for study in studies:
        model.set_current(study)
    evict = model.queue.images_to_evict()
    assert studies[-1] not in evict and len(evict) == 8 - 5


def test_pixels_decoded_for_the_model_are_kept_until_it_ran(tmp_path):
    """The next IMAGES_AHEAD studies the model takes, and the running one, keep their image
    (evicting them would mean decoding them twice); done studies make room."""
    model, studies = loaded_model(tmp_path, n=10)
    model.queue.requeue()
    running = studies[0]
    model.set_status(running, Status.RUNNING)
    model.set_current(studies[7])  # shown first: it goes to the front of the queue
    ahead = model.queue.ahead(IMAGES_AHEAD)
    assert ahead == [studies[7], studies[1]] and model.queue.next_study() is studies[7]
    evict = model.queue.images_to_evict()
    assert set(evict) == set(studies) - {running, *ahead}
    model.set_prediction(studies[1], FakePrediction({"Mass": blobs()}, {"Mass": 1.0}))
    assert studies[1] in model.queue.images_to_evict() and studies[2] not in model.queue.images_to_evict()
    assert model.queue.unqueue(Status.CANCELLED) == [s for s in studies if s not in (running, studies[1])]
    assert model.queue.unqueue(Status.CANCELLED) == []  # nothing left to cancel
