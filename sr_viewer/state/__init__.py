"""The viewer's Qt-free document model: studies, findings, threshold and view settings.

Nothing here imports Qt or torch; the Qt layer (sr_viewer.qt) subscribes to the events and
forwards the reader's intent to the setters.

    document.py         ViewerModel: the studies and the selection (study, finding, threshold)
    view.py             ViewSettings: how the overlay looks, each setting with its default
    inference_queue.py  InferenceQueue: what the model takes next, which images may go
    overlay.py          Overlay: what is drawn over a study at a threshold
    threshold.py        ThresholdChoice: the shown threshold and the reader's remembered ones
    comparison.py       Comparison: a second model's answers, threshold, overlay and table
    measure.py          Scale (pixel size and its source), Measurements (distances drawn)
    drawn_boxes.py      DrawnBoxes: the ground-truth boxes the reader drew
    items.py            EditableItems: the evented id-keyed list both are built on
    events.py           Event, Events and the Evented base the settings are built on
    session.py          Session files: the open studies and their state, read, written, restored
    undo.py             UndoHistory: the reader's edits of each study, undone and redone
"""

from sr_viewer.state.compare import BoxRow, compare_boxes
from sr_viewer.state.document import ViewerModel
from sr_viewer.state.drawn_boxes import DRAWN_SOURCE, DrawnBox, DrawnBoxes
from sr_viewer.state.events import Event, Evented, Events
from sr_viewer.state.ground_truth import GroundTruth, GroundTruthError, is_annotation_file
from sr_viewer.state.inference_queue import IMAGES_AHEAD, InferenceQueue
from sr_viewer.state.measure import Distance, Measurements, Scale
from sr_viewer.state.model_status import NO_WEIGHTS_MESSAGE, ModelStatus
from sr_viewer.state.overlay import Overlay
from sr_viewer.state.study import GtBox, Status, Study
from sr_viewer.state.view import COLORMAPS, ViewSettings

__all__ = [
    "DRAWN_SOURCE",
    "COLORMAPS",
    "IMAGES_AHEAD",
    "NO_WEIGHTS_MESSAGE",
    "BoxRow",
    "Distance",
    "DrawnBox",
    "DrawnBoxes",
    "Event",
    "Evented",
    "Events",
    "GroundTruth",
    "GroundTruthError",
    "GtBox",
    "InferenceQueue",
    "Measurements",
    "ModelStatus",
    "Overlay",
    "Scale",
    "Status",
    "Study",
    "ViewSettings",
    "ViewerModel",
    "compare_boxes",
    "is_annotation_file",
]
