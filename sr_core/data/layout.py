"""The NIH folder layout and its annotation files: parsers, writers and folder scans.

Layout (DESIGN.md, "Data formats")::

    ROOT/train/<Finding>/<image>.png     image-level labels from the folder names
    ROOT/val/<Finding>/<image>.png       optional, same form (written by the importer)
    ROOT/test/<Finding>/<image>.png
    ROOT/test_list.txt                   <Finding>/<file>;<Finding>
    ROOT/test_gt.txt                     <Finding>/<file> <W> <H>;<x0> <y0> <x1> <y1>

``test_gt.txt`` holds one box per line, xyxy in the pixels of the ORIGINAL image whose size
is W x H; an image stored on disk at another size (a resized copy) has its boxes scaled by
(width_on_disk / W, height_on_disk / H) when read (see ``datasets.LocalizationSet``).

A folder in NIH's official format (a BBox_List_2017*.csv beside the images, e.g. nih-val)
is read as a test split too, as ``sr-core-data import-nih`` would lay it out (see
``nih_import.read_official_rows``), without writing anything.

The parsers are tolerant: spaces around ';', blank lines and '#' comments are accepted, and
a malformed row is skipped and reported as ``"<file>:<line>: <why>"`` in the returned
``problems`` list (and logged as a warning); one bad row never raises. Class names are the
sorted folder names, so any dataset, with any findings, works. This module does not import
torch (the viewer loads ground truth from it); an image is what ``sr_core.io`` offers to read.
"""

from __future__ import annotations

import csv
import fnmatch
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sr_core.boxes import FloatBox
from sr_core.io import is_image_candidate

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
TEST_LIST = "test_list.txt"
TEST_GT = "test_gt.txt"
BOXES_PATTERN = "BBox_List_2017*.csv"
"""NIH's box files (matched without regard to case)."""


def split_files(split: str) -> tuple[str, str]:
    """Names of a boxed split's list and box files: "test" -> (test_list.txt, test_gt.txt)."""
    return f"{split}_list.txt", f"{split}_gt.txt"


NIH_BOX_FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
)
"""The 8 findings of NIH's BBox_List_2017 (spelled as in Data_Entry_2017)."""

FINDING_ALIASES = {"Infiltrate": "Infiltration"}
"""Spellings of BBox_List_2017 mapped to those of Data_Entry_2017."""


class LayoutError(ValueError):
    """A dataset folder that does not follow the layout (one-line message)."""


@dataclass(frozen=True)
class TestListRow:
    """One line of test_list.txt: the image ``<finding>/<file>`` and its class label."""

    __test__ = False  # not a pytest test class despite the name

    finding: str
    file: str
    label: str

    @property
    def relpath(self) -> str:
        return f"{self.finding}/{self.file}"


@dataclass
class GtEntry:
    """Ground truth of one test image: its original size and boxes in that frame."""

    width: int
    height: int
    boxes: list[FloatBox] = field(default_factory=list)

    def boxes_at(self, width: int, height: int) -> list[FloatBox]:
        """The boxes scaled to an image of ``width`` x ``height`` (e.g. a resized copy)."""
        sx, sy = width / self.width, height / self.height
        return [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in self.boxes]


@dataclass(frozen=True)
class BoxRow:
    """One row of BBox_List_2017.csv, box converted to xyxy in the CSV's (original) frame."""

    image: str
    finding: str
    box: FloatBox


def canonical_finding(name: str) -> str:
    """A finding name with surrounding spaces removed and NIH's box-file spelling mapped."""
    name = name.strip()
    return FINDING_ALIASES.get(name, name)


def _problem(problems: list[str], path: Path, line_no: int, why: str) -> None:
    message = f"{path}:{line_no}: {why}; row skipped"
    problems.append(message)
    log.warning("%s", message)


def _content_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(line number, stripped text) of the non-blank, non-comment lines of a text file."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line_no, line


def _split_relpath(text: str) -> tuple[str, str] | None:
    """'<Finding>/<file>' -> (finding, file), or None when it is not of that form."""
    finding, sep, file = text.strip().replace("\\", "/").partition("/")
    finding, file = finding.strip(), file.strip()
    if not sep or not finding or not file or "/" in file:
        return None
    return finding, file


def _finite_floats(parts: list[str]) -> list[float] | None:
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def read_test_list(path: str | Path) -> tuple[list[TestListRow], list[str]]:
    """Parse test_list.txt (``<Finding>/<file>;<Finding>`` per line).

    Returns:
        (rows in file order, problems). Duplicate rows are reported and kept once.
    """
    path = Path(path)
    rows: list[TestListRow] = []
    problems: list[str] = []
    seen: set[TestListRow] = set()
    for line_no, line in _content_lines(path):
        left, sep, label = line.partition(";")
        where = _split_relpath(left)
        label = label.strip()
        if not sep or where is None or not label or ";" in label:
            _problem(problems, path, line_no, f"expected '<Finding>/<file>;<Finding>', got {line!r}")
            continue
        row = TestListRow(where[0], where[1], label)
        if row in seen:
            _problem(problems, path, line_no, f"duplicate row {line!r}")
            continue
        seen.add(row)
        rows.append(row)
    return rows, problems


def read_test_gt(path: str | Path) -> tuple[dict[tuple[str, str], GtEntry], list[str]]:
    """Parse test_gt.txt (``<Finding>/<file> <W> <H>;<x0> <y0> <x1> <y1>``, one box a line).

    Boxes are clipped to the W x H frame; a box that is empty after clipping, a size that
    disagrees with an earlier line of the same image, or an unparsable line is a problem.

    Returns:
        ({(finding, file): GtEntry}, problems).
    """
    path = Path(path)
    entries: dict[tuple[str, str], GtEntry] = {}
    problems: list[str] = []
    expected = "expected '<Finding>/<file> <W> <H>;<x0> <y0> <x1> <y1>'"
    for line_no, line in _content_lines(path):
        left, sep, right = line.partition(";")
        head = left.rsplit(None, 2)
        if not sep or len(head) != 3:
            _problem(problems, path, line_no, f"{expected}, got {line!r}")
            continue
        where = _split_relpath(head[0])
        size = _finite_floats(head[1:])
        coords = _finite_floats(right.split())
        if where is None or size is None or coords is None or len(coords) != 4:
            _problem(problems, path, line_no, f"{expected}, got {line!r}")
            continue
        width, height = size
        if width < 1 or height < 1 or width != int(width) or height != int(height):
            why = f"image size must be positive integers, got {width:g} x {height:g}"
            _problem(problems, path, line_no, why)
            continue
        width, height = int(width), int(height)
        x0, y0, x1, y1 = coords
        x0, x1 = max(0.0, min(x0, x1)), min(float(width), max(x0, x1))
        y0, y1 = max(0.0, min(y0, y1)), min(float(height), max(y0, y1))
        if x1 <= x0 or y1 <= y0:
            _problem(problems, path, line_no, f"empty box {coords} in a {width} x {height} image")
            continue
        entry = entries.get(where)
        if entry is None:
            entry = entries[where] = GtEntry(width, height)
        elif (entry.width, entry.height) != (width, height):
            why = f"size {width} x {height} disagrees with {entry.width} x {entry.height} given earlier"
            _problem(problems, path, line_no, why)
            continue
        entry.boxes.append((x0, y0, x1, y1))
    return entries, problems


def read_bbox_list_csv(path: str | Path) -> tuple[list[BoxRow], list[str]]:
    """Parse NIH's BBox_List_2017.csv: ``Image Index, Finding Label, x, y, w, h``.

    The official header ("Image Index,Finding Label,Bbox [x,y,w,h],,,") spans extra
    columns; header lines (first cell "Image Index") anywhere are skipped, as are blank
    lines; trailing stray columns are ignored. Boxes are converted from top-left xywh to
    xyxy in the file's frame (1024 x 1024 for NIH); 'Infiltrate' becomes 'Infiltration'.

    Returns:
        (rows in file order, problems).
    """
    path = Path(path)
    rows: list[BoxRow] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        for line_no, cells in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if cells[0].lower() == "image index":
                continue
            values = _finite_floats(cells[2:6]) if len(cells) >= 6 else None
            if not cells[0] or len(cells) < 2 or not cells[1] or values is None:
                why = f"expected 'image,finding,x,y,w,h', got {','.join(cells)!r}"
                _problem(problems, path, line_no, why)
                continue
            x, y, w, h = values
            if w <= 0 or h <= 0:
                why = f"box width and height must be positive, got w={w:g} h={h:g}"
                _problem(problems, path, line_no, why)
                continue
            rows.append(BoxRow(cells[0], canonical_finding(cells[1]), (x, y, x + w, y + h)))
    return rows, problems


def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def write_test_list(path: str | Path, rows: Iterable[TestListRow]) -> None:
    """Write test_list.txt, one ``<Finding>/<file>;<Finding>`` line per row."""
    lines = [f"{row.relpath};{row.label}\n" for row in rows]
    Path(path).write_text("".join(lines), encoding="utf-8")


def write_test_gt(path: str | Path, entries: Mapping[tuple[str, str], GtEntry]) -> None:
    """Write test_gt.txt, one box a line, in the entries' original W x H frame."""
    lines = []
    for (finding, file), entry in entries.items():
        for box in entry.boxes:
            coords = " ".join(_fmt(v) for v in box)
            lines.append(f"{finding}/{file} {entry.width} {entry.height};{coords}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def find_class_names(root: str | Path, split: str = "train") -> list[str]:
    """Sorted names of the finding folders of ``ROOT/<split>``.

    Raises:
        LayoutError: the split folder is missing or has no finding folders.
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise LayoutError(f"{folder} is not a folder: expected ROOT/{split}/<Finding>/<image>")
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise LayoutError(f"{folder} has no finding folders: expected ROOT/{split}/<Finding>/<image>")
    return names


def scan_split(
    root: str | Path, split: str, class_names: list[str] | None = None
) -> tuple[list[str], list[tuple[Path, int]]]:
    """List the images of ``ROOT/<split>/<Finding>/`` with their class index.

    Args:
        root: dataset root.
        split: "train", "val" or "test".
        class_names: the class order; default: the folders of ROOT/train (so every split
            shares one order), or of the split itself when there is no train folder.

    Returns:
        (class names, [(image path, class index)] sorted by finding then file name).

    Raises:
        LayoutError: a missing split folder, or a finding folder unknown to class_names.
    """
    root = Path(root)
    if class_names is None:
        source = "train" if (root / "train").is_dir() else split
        class_names = find_class_names(root, source)
    present = find_class_names(root, split)
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise LayoutError(
            f"{root / split} has finding folders not among the classes {class_names}: {', '.join(unknown)}"
        )
    samples = []
    for index, name in enumerate(class_names):
        folder = root / split / name
        if folder.is_dir():
            samples += [(p, index) for p in sorted(folder.iterdir()) if p.is_file() and is_image_candidate(p)]
    return list(class_names), samples


@dataclass
class LocalizationRows:
    """The scorable rows of a split with boxes (``read_localization_rows``).

    Attributes:
        root: dataset root.
        split: the split; images are ``ROOT/<split>/<Finding>/<file>``.
        class_names: the class order.
        rows: the usable rows of the list file, in file order.
        gt: ``{(finding folder, file): GtEntry}`` of the box file.
        problems: one line per skipped row (the parsers' problems included).
        files: ``{(finding folder, file): image}`` where images are not laid out as
            ``ROOT/<split>/<Finding>/<file>`` (an official NIH folder); empty otherwise.
    """

    root: Path
    split: str
    class_names: list[str]
    rows: list[TestListRow]
    gt: dict[tuple[str, str], GtEntry]
    problems: list[str]
    files: dict[tuple[str, str], Path] = field(default_factory=dict)

    def image_path(self, row: TestListRow) -> Path:
        return self.files.get((row.finding, row.file)) or self.root / self.split / row.finding / row.file


def official_box_files(folder: str | Path) -> list[Path]:
    """The BBox_List_2017*.csv files directly in `folder`: there, it is in NIH's official
    format (boxes beside the images) rather than the layout; [] when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = BOXES_PATTERN.lower()
    return sorted(p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatch(p.name.lower(), pattern))


def read_localization_rows(
    root: str | Path, split: str = "test", class_names: list[str] | None = None
) -> LocalizationRows:
    """The rows of ``<split>_list.txt`` that can be scored against ``<split>_gt.txt``.

    A row whose image is missing, whose label is not a class, or that has no GT box is
    skipped and described in ``problems``. Images are not read (no torch, no decoding).
    A folder without the list file but with a BBox_List_2017*.csv (NIH's official format)
    gives the rows its import would give (``nih_import.read_official_rows``).

    Args:
        root: dataset root.
        split: "test" (test_list.txt, test_gt.txt, ROOT/test/) or another split laid out alike.
        class_names: class order; default the folders of ROOT/train, else the labels of the list.

    Raises:
        LayoutError: the list or box file is missing, or no row is usable.
    """
    root = Path(root)
    list_name, gt_name = split_files(split)
    if not (root / list_name).is_file() and official_box_files(root):
        from sr_core.data.nih_import import read_official_rows  # it imports this module

        if split != "test":
            raise LayoutError(f"{root} is an official NIH folder (BBox_List CSV beside the images): "
                              f"it has one split, test, not {split!r}")
        return read_official_rows(root, class_names)
    for name in (list_name, gt_name):
        if not (root / name).is_file():
            raise LayoutError(f"{root / name} not found: a localization set needs {list_name} and {gt_name} "
                              f"(the NIH layout) or a {BOXES_PATTERN} beside the images (NIH's official format)")
    listed, problems = read_test_list(root / list_name)
    gt, gt_problems = read_test_gt(root / gt_name)
    problems += gt_problems
    if class_names is None:
        has_train = (root / "train").is_dir()
        class_names = find_class_names(root, "train") if has_train else sorted({r.label for r in listed})
    found = LocalizationRows(root, split, list(class_names), [], gt, problems)
    return keep_usable_rows(found, listed, list_name, gt_name)


def keep_usable_rows(found: LocalizationRows, listed: Iterable[TestListRow], list_name: str,
                     gt_name: str) -> LocalizationRows:
    """Append to ``found.rows`` the listed rows that can be scored: image present, label a
    class, a GT box; each other row is one line in ``found.problems``.

    Args:
        list_name, gt_name: the files the rows and the boxes come from, for the messages.

    Raises:
        LayoutError: no row is usable.
    """
    for row in listed:
        why = None
        if not found.image_path(row).is_file():
            why = "image not found"
        elif row.label not in found.class_names:
            why = f"label {row.label!r} is not one of the classes"
        elif not found.gt.get((row.finding, row.file), GtEntry(1, 1)).boxes:
            why = f"no box in {gt_name}"
        if why:
            message = f"{list_name}: {found.split}/{row.relpath}: {why}; row skipped"
            found.problems.append(message)
            log.warning("%s", message)
        else:
            found.rows.append(row)
    if not found.rows:
        raise LayoutError(f"{found.root}: no usable {found.split} image (see problems: {len(found.problems)})")
    return found
