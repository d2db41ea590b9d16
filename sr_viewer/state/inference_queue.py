"""Which studies wait for the model, in which order, and which decoded images may go.

The model takes the shown study first, then the list order; the loader decodes the next
IMAGES_AHEAD of them ahead of it, and every other decoded image but the IMAGES_KEPT most
recently shown is dropped (a 2k DICOM is 16 MB+ of pixels; a study list may hold hundreds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sr_viewer.state.study import Status, Study

if TYPE_CHECKING:  # the document owns its queue; only the type is needed here
    from sr_viewer.state.document import ViewerModel

IMAGES_KEPT = 4  # decoded images kept in memory besides the shown one (a 2k DICOM is 16 MB+)
IMAGES_AHEAD = 2  # queued studies decoded ahead of the model: the one it takes next, and one more


class InferenceQueue:
    """The document's studies seen as the model's work list (`ViewerModel.queue`).

    Args:
        document: The ViewerModel whose studies, current study and history it reads; status
            changes go through it, so its views hear of them.
    """

    def __init__(self, document: ViewerModel) -> None:
        self._document = document

    def requeue(self, studies: Iterable[Study] | None = None, forget: bool = True) -> list[Study]:
        """Queue readable studies for the model again (a new model, or after cancel).

        Args:
            studies: Which ones (default: every readable study not already queued/running).
            forget: Drop existing predictions (they came from another model).

        Returns:
            The studies queued.
        """
        document = self._document
        queued = []
        for study in document.studies if studies is None else studies:
            if not study.readable or study.status in (Status.QUEUED, Status.RUNNING):
                continue
            if study.status is Status.DONE and not forget:
                continue
            if forget:
                document.forget_prediction(study)
            study.status, study.error = Status.QUEUED, None
            queued.append(study)
            document.events.study_changed.emit(study)
        return queued

    def unqueue(self, status: Status, keep: Study | None = None) -> list[Study]:
        """Queued studies become `status` (OPENED when the model is gone, CANCELLED on cancel).

        Args:
            status: The new status.
            keep: A queued study that stays queued (the one about to enter the model).

        Returns:
            The studies that were unqueued (empty when none was).
        """
        unqueued = [s for s in self._document.studies if s.status is Status.QUEUED and s is not keep]
        for study in unqueued:
            self._document.set_status(study, status)
        return unqueued

    def ahead(self, limit: int | None = None) -> list[Study]:
        """Queued studies in the order the model takes them: the shown one first, then list order."""
        current = self._document.current
        queued = [s for s in self._document.studies if s.status is Status.QUEUED]
        if current in queued:
            queued.remove(current)
            queued.insert(0, current)
        return queued[:limit]

    def next_study(self) -> Study | None:
        """The queued study to run next (see ahead)."""
        queued = self.ahead(1)
        return queued[0] if queued else None

    def images_to_evict(self) -> list[Study]:
        """Studies whose decoded image can be dropped: all but the IMAGES_KEPT most recently
        shown, the running study and the IMAGES_AHEAD the model takes next (their pixels were
        decoded for it: dropping them would mean decoding them twice)."""
        document = self._document
        current = document.current
        keep = set(document.recent[: IMAGES_KEPT + 1]) | ({current} if current else set())
        keep.update(s for s in document.studies if s.status is Status.RUNNING)
        keep.update(self.ahead(IMAGES_AHEAD))
        return [s for s in document.studies if s.image is not None and s not in keep]
