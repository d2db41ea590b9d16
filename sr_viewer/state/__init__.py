"""The viewer's Qt-free document model: studies, findings, threshold and view settings.

Nothing here imports Qt or torch; the Qt layer (sr_viewer.qt) subscribes to the events and
forwards the reader's intent to the setters.
"""

from sr_viewer.state.compare import DEFAULT_IOU_THRESHOLD, BoxRow, compare_boxes
from sr_viewer.state.document import COLORMAPS, IMAGES_AHEAD, MODES, Overlay, ViewerModel
from sr_viewer.state.events import Event, Events
from sr_viewer.state.ground_truth import GroundTruth, GroundTruthError, is_annotation_file
from sr_viewer.state.model_status import NO_WEIGHTS_MESSAGE, ModelStatus
from sr_viewer.state.study import GtBox, Status, Study

__all__ = [
    "COLORMAPS",
    "DEFAULT_IOU_THRESHOLD",
    "IMAGES_AHEAD",
    "MODES",
    "NO_WEIGHTS_MESSAGE",
    "BoxRow",
    "Event",
    "Events",
    "GroundTruth",
    "GroundTruthError",
    "GtBox",
    "ModelStatus",
    "Overlay",
    "Status",
    "Study",
    "ViewerModel",
    "compare_boxes",
    "is_annotation_file",
]
