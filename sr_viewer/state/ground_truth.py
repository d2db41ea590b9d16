"""Ground-truth boxes from test_gt.txt or NIH's BBox_List_2017*.csv, looked up per image.

Annotation files are found next to the images or up to two folders above them (the NIH
layout keeps test_gt.txt at ROOT while the images sit in ROOT/test/<Finding>/), or chosen
by the reader. Boxes come back scaled to the image's actual size:

* test_gt.txt gives the original W x H of each entry (GtEntry.boxes_at scales them);
* BBox_List_2017 boxes are in NIH's 1024 x 1024 frame, whatever size the file on disk has.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sr_core.data.layout import GtEntry, read_bbox_list_csv, read_test_gt

from sr_viewer.state.events import Events
from sr_viewer.state.study import GtBox

log = logging.getLogger(__name__)

TEST_GT_NAME = "test_gt.txt"
BBOX_LIST_PATTERN = "bbox_list_2017*.csv"  # compared in lower case
NIH_FRAME = 1024.0
SEARCH_DEPTH = 2  # folders above the image's own folder


class GroundTruthError(ValueError):
    """An annotation file that cannot be used (one-line message naming the file)."""


def is_annotation_file(path: Path) -> bool:
    """True for a file named like test_gt.txt or BBox_List_2017*.csv."""
    name = path.name.lower()
    return name == TEST_GT_NAME or fnmatch.fnmatch(name, BBOX_LIST_PATTERN)


@dataclass
class _Source:
    """One parsed annotation file."""

    path: Path
    test_gt: dict[tuple[str, str], GtEntry] = field(default_factory=dict)
    bbox_rows: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def box_count(self) -> int:
        return sum(len(e.boxes) for e in self.test_gt.values()) + sum(len(v) for v in self.bbox_rows.values())


class GroundTruth:
    """The annotation files in use and the boxes they give each image.

    Events:
        changed(): a file was added (studies should look their boxes up again).
    """

    def __init__(self) -> None:
        self.events = Events("changed")
        self._sources: dict[Path, _Source] = {}
        self._searched: set[Path] = set()

    @property
    def files(self) -> list[Path]:
        return list(self._sources)

    @property
    def problems(self) -> list[str]:
        return [p for source in self._sources.values() for p in source.problems]

    def add_file(self, path: str | Path) -> int:
        """Parse an annotation file (kept once per path) and return its number of boxes.

        The format is chosen by the name: ``*.csv`` is BBox_List, anything else test_gt.

        Raises:
            GroundTruthError: The file cannot be read or holds no usable box.
        """
        path = Path(path).resolve()
        if path in self._sources:
            return self._sources[path].box_count
        source = _Source(path)
        try:
            if path.suffix.lower() == ".csv":
                rows, source.problems = read_bbox_list_csv(path)
                for row in rows:
                    source.bbox_rows.setdefault(row.image, []).append((row.finding, row.box))
            else:
                source.test_gt, source.problems = read_test_gt(path)
        except (OSError, UnicodeError, ValueError) as exc:
            raise GroundTruthError(f"cannot read annotations {path.name!r}: {exc}") from None
        if source.box_count == 0:
            raise GroundTruthError(f"no usable box in {path.name!r} (expected test_gt.txt or BBox_List_2017 CSV rows)")
        self._sources[path] = source
        log.info("ground truth: %s (%d boxes, %d rows skipped)", path.name, source.box_count, len(source.problems))
        self.events.changed.emit()
        return source.box_count

    def discover(self, image_path: str | Path) -> list[Path]:
        """Add the annotation files beside an image or up to SEARCH_DEPTH folders above it.

        Each folder is searched once; unreadable files are logged and skipped.

        Returns:
            The files newly added.
        """
        added = []
        folder = Path(image_path).resolve().parent
        for _ in range(SEARCH_DEPTH + 1):
            if folder not in self._searched:
                self._searched.add(folder)
                try:
                    candidates = sorted(p for p in folder.iterdir() if p.is_file() and is_annotation_file(p))
                except OSError:
                    candidates = []
                for candidate in candidates:
                    try:
                        self.add_file(candidate)
                        added.append(candidate)
                    except GroundTruthError as exc:
                        log.warning("%s", exc)
            if folder.parent == folder:
                break
            folder = folder.parent
        return added

    def boxes_for(self, image_path: str | Path, width: int, height: int) -> list[GtBox]:
        """The ground-truth boxes of an image, scaled to its size (width x height).

        test_gt entries match on (finding folder, file name), or on the file name alone
        when the image is not inside a finding folder; BBox_List rows on the file name.
        """
        image_path = Path(image_path)
        name, folder = image_path.name, image_path.parent.name
        boxes: list[GtBox] = []
        for source in self._sources.values():
            label = source.path.name
            entries = [(f, e) for (f, n), e in source.test_gt.items() if n == name]
            exact = [(f, e) for f, e in entries if f == folder]
            for finding, entry in exact or entries:
                boxes += [GtBox(finding, _tuple(b), label) for b in entry.boxes_at(width, height)]
            sx, sy = width / NIH_FRAME, height / NIH_FRAME
            for finding, (x0, y0, x1, y1) in source.bbox_rows.get(name, []):
                boxes.append(GtBox(finding, (x0 * sx, y0 * sy, x1 * sx, y1 * sy), label))
        return boxes


def _tuple(box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return (x0, y0, x1, y1)
