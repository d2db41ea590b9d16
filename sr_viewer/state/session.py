"""Sessions: what a reader had open, as a JSON file, and how it is given back (no Qt).

A session file is a JSON object with a format name and a version:

    {"format": "sr-viewer-session", "version": 1,
     "weights": "/models/sr.safetensors" | null,
     "comparison_weights": "/models/ablation.safetensors" | null,   # model B, if one was open
     "ground_truth": ["/data/BBox_List_2017.csv", ...],
     "current": 0 | null,                       # index of the study on screen
     "studies": [{"path": "/data/a.png",
                  "finding": "Mass" | null,      # the one chosen (null: the top one)
                  "threshold": 0.42 | null,      # the one shown (null: not predicted yet)
                  "window": [center, width] | null,
                  "view_range": [x0, y0, x1, y1] | null,   # zoom and pan, image pixels
                  "drawn_boxes": [{"finding": "Mass", "box": [x0, y0, x1, y1]}],
                  "measurements": [{"start": [x, y], "end": [x, y]}]}]}

`session_of` reads one from the document, `write_session` writes it atomically (a temporary
file beside it, then os.replace: a kill never leaves half a file), `read_session` checks every
field and raises SessionError with one line naming the file and the problem (not JSON, another
format, another version, a wrong type). `SessionRestore` gives a study its state back: the
window and the reader's marks at once, the finding and threshold once the model has answered
for it (a threshold needs a map to cut); until then `session_of` still writes the pending
values, so an autosave made meanwhile loses nothing.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sr_viewer.state.document import ViewerModel
from sr_viewer.state.events import Event
from sr_viewer.state.study import Study

FORMAT = "sr-viewer-session"
VERSION = 1
SUFFIX = ".srsession"

Box = tuple[float, float, float, float]
Point = tuple[float, float]


class SessionError(ValueError):
    """A session file that cannot be used; the message is one line naming the file."""


@dataclass
class StudyState:
    """What a session keeps of one study (see the module docstring for the fields)."""

    path: Path
    finding: str | None = None
    threshold: float | None = None
    window: tuple[float, float] | None = None
    view_range: Box | None = None
    drawn_boxes: list[tuple[str, Box]] = field(default_factory=list)
    measurements: list[tuple[Point, Point]] = field(default_factory=list)


@dataclass
class Session:
    """The open studies and what they were read with."""

    studies: list[StudyState] = field(default_factory=list)
    current: int | None = None
    weights: Path | None = None
    ground_truth: list[Path] = field(default_factory=list)
    comparison_weights: Path | None = None  # model B (state/comparison.py); optional in the file


# --- from and to the document ----------------------------------------------------------------

def study_state(model: ViewerModel, study: Study) -> StudyState:
    """A study as it is now."""
    return StudyState(
        path=study.path.absolute(),  # not resolve(): no file system calls per study on every autosave
        finding=study.finding,
        threshold=model.shown_threshold(study),
        window=study.window,
        view_range=study.view_range,
        drawn_boxes=[(b.finding, b.box) for b in study.drawn_boxes],
        measurements=[(d.start, d.end) for d in study.measurements],
    )


def session_of(model: ViewerModel, restore: SessionRestore | None = None,
               comparison_weights: Path | None = None) -> Session:
    """The document as a session; a study still waiting for its restored finding and
    threshold (`restore`) is written with them; `comparison_weights` are model B's, if open
    (B's thresholds are the reader's per finding, kept with the settings, not per study)."""
    studies = []
    for study in model.studies:
        state = study_state(model, study)
        pending = restore.pending(study) if restore is not None else None
        if pending is not None:
            state.finding, state.threshold = pending.finding, pending.threshold
        studies.append(state)
    current = model.studies.index(model.current) if model.current in model.studies else None
    weights = model.model_status.weights
    return Session(studies, current, Path(weights).resolve() if weights else None,
                   [Path(p) for p in model.ground_truth.files],
                   Path(comparison_weights).resolve() if comparison_weights else None)


def changes(model: ViewerModel) -> list[Event]:
    """The document's events after which its session is different (what autosave watches)."""
    e = model.events
    return [e.studies_added, e.studies_removed, e.current_changed, e.finding_changed, e.threshold_changed,
            e.window_changed, e.measurements_changed, e.drawn_boxes_changed, e.model_changed,
            model.ground_truth.events.changed]


class SessionRestore:
    """Gives studies the state a session had for them (see the module docstring).

    Args:
        model: The document the studies are in.
        quiet: A context manager factory whose changes are not undo steps (UndoHistory.quiet).
    """

    def __init__(self, model: ViewerModel, quiet=None) -> None:
        self.model = model
        self._quiet = quiet
        self._pending: dict[Study, StudyState] = {}
        model.events.study_changed.connect(self._study_changed)
        model.events.studies_removed.connect(lambda studies: [self._pending.pop(s, None) for s in studies])

    def pending(self, study: Study) -> StudyState | None:
        """The state still to be given to a study once it is predicted (None: nothing)."""
        return self._pending.get(study)

    def apply(self, study: Study, state: StudyState) -> None:
        """Give a study its window, view range and marks now, its finding and threshold
        once it has a prediction (at once if it has one)."""
        with self._quietly():
            self.model.set_window(state.window, study)
            study.view_range = state.view_range
            for finding, box in state.drawn_boxes:
                study.drawn_boxes.add(finding, box)
            for start, end in state.measurements:
                study.measurements.add(start, end)
            for marks in (study.drawn_boxes, study.measurements):
                marks.select(None)
        if state.finding is not None or state.threshold is not None:
            self._pending[study] = state
            self._study_changed(study)

    def _study_changed(self, study: Study) -> None:
        state = self._pending.get(study)
        if state is None or study.prediction is None:
            return
        del self._pending[study]
        model = self.model
        with self._quietly():
            if state.finding in study.prediction.probabilities:
                if study is model.current:
                    model.set_finding(state.finding)
                else:
                    study.finding = state.finding
            if state.threshold is not None:
                if study is model.current:
                    model.set_threshold(state.threshold)
                elif model.model_status.name:
                    # What the study opens with: the reader's threshold for its model and finding.
                    model.threshold_memory.setdefault(model.model_status.name, {})[study.shown_finding] = state.threshold

    def _quietly(self):
        return self._quiet() if self._quiet is not None else nullcontext()


# --- the file ----------------------------------------------------------------------------------

def to_json(session: Session) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "weights": str(session.weights) if session.weights else None,
        "comparison_weights": str(session.comparison_weights) if session.comparison_weights else None,
        "ground_truth": [str(p) for p in session.ground_truth],
        "current": session.current,
        "studies": [{
            "path": str(s.path),
            "finding": s.finding,
            "threshold": s.threshold,
            "window": list(s.window) if s.window is not None else None,
            "view_range": list(s.view_range) if s.view_range is not None else None,
            "drawn_boxes": [{"finding": f, "box": list(b)} for f, b in s.drawn_boxes],
            "measurements": [{"start": list(a), "end": list(b)} for a, b in s.measurements],
        } for s in session.studies],
    }


def write_session(session: Session, path: str | Path) -> Path:
    """Write a session file atomically; returns the path written.

    Raises:
        OSError: The folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(to_json(session), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_session(path: str | Path) -> Session:
    """Read and check a session file.

    Raises:
        SessionError: One line naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise SessionError(f"cannot open session {path.name!r}: {_reason(exc)}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SessionError(f"cannot open session {path.name!r}: not JSON ({exc})") from None
    try:
        return from_json(data)
    except _Invalid as exc:
        raise SessionError(f"cannot open session {path.name!r}: {exc}") from None


class _Invalid(ValueError):
    pass


def from_json(data: Any) -> Session:
    """A session from parsed JSON (raises _Invalid with what is wrong, without the file name)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _Invalid(f"not an SR Viewer session (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Invalid(f"version must be a whole number, got {version!r}")
    if version > VERSION:
        raise _Invalid(f"written by a newer SR Viewer (session version {version}; this one reads {VERSION})")
    if version < VERSION:
        raise _Invalid(f"from an older SR Viewer (session version {version}; this one reads {VERSION})")
    studies = [_study(s, f"studies[{i}]") for i, s in enumerate(_list(data.get("studies", []), "studies"))]
    current = _optional(data.get("current"), "current", int)
    if current is not None and not 0 <= current < len(studies):
        raise _Invalid(f"current must be a study index below {len(studies)}, got {current}")
    weights = _optional(data.get("weights"), "weights", str)
    comparison = _optional(data.get("comparison_weights"), "comparison_weights", str)
    ground_truth = [Path(_typed(p, f"ground_truth[{i}]", str))
                    for i, p in enumerate(_list(data.get("ground_truth", []), "ground_truth"))]
    return Session(studies, current, Path(weights) if weights else None, ground_truth,
                   Path(comparison) if comparison else None)


def _study(data: Any, where: str) -> StudyState:
    if not isinstance(data, dict):
        raise _Invalid(f"{where} must be an object")
    path = _typed(data.get("path"), f"{where}.path", str)
    if not path:
        raise _Invalid(f"{where}.path is empty")
    threshold = _optional(data.get("threshold"), f"{where}.threshold", float)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise _Invalid(f"{where}.threshold must be between 0 and 1, got {threshold}")
    window = _numbers(data.get("window"), f"{where}.window", 2, optional=True)
    if window is not None and window[1] <= 0:
        raise _Invalid(f"{where}.window width must be positive, got {window[1]}")
    boxes = []
    for i, box in enumerate(_list(data.get("drawn_boxes", []), f"{where}.drawn_boxes")):
        at = f"{where}.drawn_boxes[{i}]"
        if not isinstance(box, dict):
            raise _Invalid(f"{at} must be an object")
        finding = _typed(box.get("finding"), f"{at}.finding", str)
        if not finding:
            raise _Invalid(f"{at}.finding is empty")
        boxes.append((finding, _numbers(box.get("box"), f"{at}.box", 4)))
    measurements = []
    for i, distance in enumerate(_list(data.get("measurements", []), f"{where}.measurements")):
        at = f"{where}.measurements[{i}]"
        if not isinstance(distance, dict):
            raise _Invalid(f"{at} must be an object")
        measurements.append((_numbers(distance.get("start"), f"{at}.start", 2),
                             _numbers(distance.get("end"), f"{at}.end", 2)))
    return StudyState(Path(path), _optional(data.get("finding"), f"{where}.finding", str), threshold, window,
                      _numbers(data.get("view_range"), f"{where}.view_range", 4, optional=True), boxes, measurements)


def _typed(value: Any, where: str, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Invalid(f"{where} must be {_NAMES[kind]}, got {_json_name(value)}")
    if kind is float and not math.isfinite(value):
        raise _Invalid(f"{where} must be a finite number, got {value}")
    return value


def _optional(value: Any, where: str, kind: type) -> Any:
    return None if value is None else _typed(value, where, kind)


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise _Invalid(f"{where} must be a list, got {_json_name(value)}")
    return value


def _numbers(value: Any, where: str, count: int, optional: bool = False) -> tuple | None:
    if value is None and optional:
        return None
    if not isinstance(value, list) or len(value) != count:
        raise _Invalid(f"{where} must be a list of {count} numbers, got {_json_name(value)}")
    return tuple(_typed(v, f"{where}[{i}]", float) for i, v in enumerate(value))


_NAMES = {str: "a string", int: "a whole number", float: "a number"}


def _json_name(value: Any) -> str:
    """How a JSON value is called in a message (its type, and the value when short)."""
    kind = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = json.dumps(value) if not isinstance(value, dict) else ""
    return f"{kind} {text}" if text and len(text) <= 20 else kind


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
