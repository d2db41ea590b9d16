"""Build the NIH folder layout from NIH's official files (Data_Entry_2017 + BBox_List_2017).

Splits
    * test: every image with a box of a selected finding (BBox_List_2017), placed under
      test/<Finding>/ once per box finding, listed in test_list.txt, boxes in test_gt.txt.
    * No patient with a box image (of any finding) appears in train or val: that patient's
      other images are left out entirely.
    * train / val: the remaining images, split by PATIENT with a fixed seed: the patients
      that have at least one image found on disk are sorted, shuffled with
      numpy.random.default_rng(seed), and the first round(val_fraction x n) go to val.

Multi-label policy
    Training is single-label softmax over folder classes (the SR paper's), while NIH images
    are multi-label. An image enters the folder of EACH of its selected findings: one sample
    per (image, finding) pair. The 8 box findings are selected by default; 'No Finding' and
    the other findings are left out unless --findings names them. Consequence: the same
    image appears under several labels, so softmax cross-entropy sees it with each label in
    turn, i.e. it is trained towards a soft target spread evenly over its findings (and its
    top-1 "accuracy" can never be 1 for such images). The summary counts samples (image,
    finding pairs) per folder, and unique images and patients per split.

Box coordinates
    BBox_List_2017 boxes are top-left x, y, w, h in the frame of NIH's released 1024 x 1024
    PNGs. test_gt.txt keeps that ORIGINAL frame: W H = the box frame (1024 1024 by default,
    --box-frame) and xyxy in its pixels, whatever size the images are written at, so that
    readers scale boxes by (width on disk / W, height on disk / H), as
    datasets.LocalizationSet does. The images found on disk may already be smaller copies
    (e.g. 256 px): their real size is read, and only used to resize them; the box frame is
    never inferred from them. Data_Entry's 'OriginalImage[Width,Height]' columns are NOT the
    box frame: they give the size of the source scan before NIH resized it to 1024 x 1024,
    so they are ignored.

Images are matched to the CSVs by file stem (.png or .jpg, in any sub-folder of the image
folders), written as 8-bit PNG resized so the longer side is --size (or copied unchanged
with --size 0). Missing and unreadable images are reported, counted and skipped.
MANIFEST.md5 lists the md5 of every written file; import_summary.json records the options
and counts; import_problems.txt lists every problem (when there is one).

Reading in place
    ``read_official_rows`` reads a folder with a BBox_List_2017*.csv beside its images (as
    nih-val) as the test split the import would write, rows and boxes alike, without
    writing anything: sr-core-eval evaluates such a folder directly.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from sr_core.data.layout import (
    BOXES_PATTERN,
    NIH_BOX_FINDINGS,
    TEST_GT,
    TEST_LIST,
    BoxRow,
    GtEntry,
    LayoutError,
    LocalizationRows,
    TestListRow,
    canonical_finding,
    keep_usable_rows,
    official_box_files,
    read_bbox_list_csv,
    write_test_gt,
    write_test_list,
)
from sr_core.io import ImageReadError, read_image

log = logging.getLogger(__name__)

ENTRIES_PATTERN = "Data_Entry_2017*.csv"
NIH_BOX_FRAME = (1024, 1024)
"""The frame of BBox_List_2017's coordinates: NIH's released 1024 x 1024 PNGs."""
SOURCE_SUFFIXES = (".png", ".jpg", ".jpeg")
MANIFEST = "MANIFEST.md5"
SUMMARY = "import_summary.json"
PROBLEMS = "import_problems.txt"


class NihImportError(ValueError):
    """The import cannot run (missing inputs, non-empty output ...); one-line message."""


@dataclass(frozen=True)
class EntryRow:
    """One Data_Entry_2017 row: the image, its findings ('|'-split) and its patient."""

    image: str
    findings: tuple[str, ...]
    patient: str


@dataclass
class ImportReport:
    """What an import wrote and skipped."""

    findings: list[str] = field(default_factory=list)
    samples: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    images: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    patients: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    excluded_box_patient: int = 0
    excluded_no_finding: int = 0
    problems: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # relative path -> md5

    def table(self) -> str:
        """The summary as a plain-text table (samples per split per finding, then totals)."""
        findings = self.findings
        splits = ("train", "val", "test")
        width = max([len(f) for f in findings] + [len("samples (image, finding)")])
        lines = [f"{'finding':<{width}} " + " ".join(f"{s:>7}" for s in splits)]
        for finding in findings:
            lines.append(f"{finding:<{width}} " + " ".join(f"{self.samples[s][finding]:>7}" for s in splits))
        totals = {
            "samples (image, finding)": [sum(self.samples[s].values()) for s in splits],
            "images": [len(self.images[s]) for s in splits],
            "patients": [len(self.patients[s]) for s in splits],
        }
        for name, values in totals.items():
            lines.append(f"{name:<{width}} " + " ".join(f"{v:>7}" for v in values))
        lines.append(f"missing images: {len(self.missing)}; unreadable images: {len(self.unreadable)}")
        lines.append(
            f"left out: {self.excluded_box_patient} images of patients with a box image, "
            f"{self.excluded_no_finding} images without a selected finding"
        )
        return "\n".join(lines)


def expand_inputs(specs: Iterable[str | Path], pattern: str) -> list[Path]:
    """Files named by each spec: a file, a folder (searched for ``pattern``) or a glob.

    Raises:
        NihImportError: a spec matches no file.
    """
    found: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(path.glob(pattern))
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file())
        if not matches:
            where = f"no {pattern} in {spec}" if path.is_dir() else f"{spec}: no such file"
            raise NihImportError(where)
        found += [m for m in matches if m not in found]
    return found


def patient_from_name(image: str) -> str:
    """NIH names images <patient>_<follow-up>.png; the fallback when no Patient ID is given."""
    return image.split("_", 1)[0]


def read_data_entry_csv(path: str | Path) -> tuple[list[EntryRow], list[str]]:
    """Parse a Data_Entry_2017 CSV (columns found by header name).

    'Image Index' and 'Finding Labels' are required; without 'Patient ID' the patient is
    the image name's prefix before '_' (NIH's naming).

    Raises:
        NihImportError: the required columns are missing.
    """
    path = Path(path)
    rows: list[EntryRow] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        header = [c.strip().lower() for c in next(reader, [])]
        try:
            col_image, col_labels = header.index("image index"), header.index("finding labels")
        except ValueError:
            raise NihImportError(
                f"{path}: not a Data_Entry_2017 file (no 'Image Index' and 'Finding Labels' columns)"
            ) from None
        col_patient = header.index("patient id") if "patient id" in header else None
        for line_no, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) <= max(col_image, col_labels, col_patient or 0) or not cells[col_image].strip():
                message = f"{path}:{line_no}: too few columns; row skipped"
                problems.append(message)
                log.warning("%s", message)
                continue
            image = cells[col_image].strip()
            findings = tuple(canonical_finding(f) for f in cells[col_labels].split("|") if f.strip())
            patient = cells[col_patient].strip() if col_patient is not None else ""
            rows.append(EntryRow(image, findings, patient or patient_from_name(image)))
    return rows, problems


def split_patients(patients: Iterable[str], val_fraction: float, seed: int) -> set[str]:
    """The validation patients: round(val_fraction x n) of them, chosen with ``seed``."""
    ordered = sorted(set(patients), key=lambda p: (len(p), p))
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_val = int(round(val_fraction * len(ordered)))
    return {ordered[i] for i in order[:n_val]}


def index_images(folders: Iterable[str | Path]) -> tuple[dict[str, Path], list[str]]:
    """Map image stem -> file over the folders (recursively); first found wins."""
    index: dict[str, Path] = {}
    problems: list[str] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise NihImportError(f"{folder}: not a folder of images")
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in SOURCE_SUFFIXES or not path.is_file():
                continue
            if path.stem in index:
                problems.append(f"{path}: same name as {index[path.stem]}; the first is used")
                continue
            index[path.stem] = path
    return index, problems


def _encoded_image(source: Path, size: int) -> tuple[bytes, str, tuple[int, int]]:
    """(file bytes, suffix, (width, height) of the source) of the image as it is written."""
    if size <= 0:
        data = source.read_bytes()
        image = read_image(source)  # still decoded: an unreadable file must be caught here
        return data, source.suffix.lower(), (image.width, image.height)
    image = read_image(source)
    scale = size / max(image.width, image.height)
    new_w, new_h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    pixels = cv2.resize(image.pixels, (new_w, new_h), interpolation=interpolation)
    ok, encoded = cv2.imencode(".png", np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    if not ok:
        raise ImageReadError(source, "could not be re-encoded as PNG")
    return encoded.tobytes(), ".png", (image.width, image.height)


def _safe_folder(finding: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", finding).strip("._") or "unnamed"


def import_nih(
    entries: Sequence[str | Path],
    boxes: Sequence[str | Path],
    image_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    size: int = 256,
    val_fraction: float = 0.2,
    seed: int = 6,
    findings: Sequence[str] | None = None,
    box_frame: tuple[int, int] = NIH_BOX_FRAME,
    progress: bool = False,
) -> ImportReport:
    """Build ROOT/{train,val,test}/<Finding>/, test_list.txt, test_gt.txt and MANIFEST.md5.

    Args:
        entries: Data_Entry_2017 CSV files, folders or globs.
        boxes: BBox_List_2017 CSV files, folders or globs.
        image_dirs: folders searched (recursively) for the images, matched by stem.
        out: the dataset root to create (must be absent or empty).
        size: longer side of the written images; 0 copies the files unchanged.
        val_fraction: fraction of the non-box patients put in val.
        seed: seed of the patient split.
        findings: selected findings (default the 8 box findings).
        box_frame: (width, height) of the frame of BBox_List's coordinates.
        progress: show a progress bar on stderr.

    Returns:
        The report (also written as import_summary.json).

    Raises:
        NihImportError: unusable arguments or inputs, with a one-line message.
    """
    out = Path(out)
    selected = [canonical_finding(f) for f in (findings or NIH_BOX_FINDINGS)]
    if not selected or len(set(selected)) != len(selected):
        raise NihImportError(f"findings must be distinct and non-empty, got {selected}")
    if not 0.0 <= val_fraction < 1.0:
        raise NihImportError(f"val fraction must be in [0, 1), got {val_fraction}")
    if size != 0 and size < 16:
        raise NihImportError(f"size must be 0 (keep) or at least 16 px, got {size}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise NihImportError(f"{out} exists and is not an empty folder")
    folders = {f: _safe_folder(f) for f in selected}
    if len(set(folders.values())) != len(folders):
        raise NihImportError(f"findings {selected} give clashing folder names")

    report = ImportReport(findings=selected)
    entry_rows, box_rows, index = _read_inputs(entries, boxes, image_dirs, report)
    plan = _plan_splits(entry_rows, box_rows, index, folders, val_fraction, seed, report)
    if not plan:
        raise NihImportError("no image of a selected finding was found in the image folders")
    out.mkdir(parents=True, exist_ok=True)
    test_rows, gt = _write_images(
        out, plan, index, box_rows, entry_rows, folders, size, box_frame, progress, report
    )
    options = dict(
        size=size, val_fraction=val_fraction, seed=seed, findings=selected, box_frame=list(box_frame)
    )
    _write_tables(out, report, test_rows, gt, options)
    return report


def _patient_of(stem: str, entry_rows: dict[str, EntryRow]) -> str:
    row = entry_rows.get(stem)
    return row.patient if row else patient_from_name(stem)


def _read_inputs(entries, boxes, image_dirs, report: ImportReport):
    """({stem: EntryRow}, {stem: [BoxRow]}, {stem: image path}); problems go to the report."""
    entry_rows: dict[str, EntryRow] = {}
    for path in expand_inputs(entries, ENTRIES_PATTERN):
        rows, problems = read_data_entry_csv(path)
        report.problems += problems
        for row in rows:
            entry_rows.setdefault(Path(row.image).stem, row)
    box_rows: dict[str, list[BoxRow]] = defaultdict(list)
    for path in expand_inputs(boxes, BOXES_PATTERN):
        rows, problems = read_bbox_list_csv(path)
        report.problems += problems
        for row in rows:
            box_rows[Path(row.image).stem].append(row)
    index, problems = index_images(image_dirs)
    report.problems += problems
    return entry_rows, box_rows, index


def _plan_splits(
    entry_rows, box_rows, index, folders, val_fraction, seed, report
) -> dict[str, list[tuple[str, str]]]:
    """{stem: [(split, finding)]} for every image found on disk (see the module docstring)."""
    box_patients = {_patient_of(stem, entry_rows) for stem in box_rows}
    plan = {stem: [("test", f) for f in chosen] for stem, chosen in _test_plan(box_rows, folders).items()}
    candidates: dict[str, list[str]] = {}
    for stem, row in sorted(entry_rows.items()):
        if stem in box_rows:
            continue
        if row.patient in box_patients:
            report.excluded_box_patient += 1
            continue
        chosen = [f for f in dict.fromkeys(row.findings) if f in folders]
        if not chosen:
            report.excluded_no_finding += 1
            continue
        candidates[stem] = chosen
    report.missing = [stem for stem in sorted(set(plan) | set(candidates)) if stem not in index]
    if report.missing:
        report.problems.append(
            f"{len(report.missing)} images listed in the CSVs were not found, e.g. {report.missing[:3]}"
        )
    present = {s: f for s, f in candidates.items() if s in index}
    val_patients = split_patients((entry_rows[s].patient for s in present), val_fraction, seed)
    for stem, chosen in present.items():
        split = "val" if entry_rows[stem].patient in val_patients else "train"
        plan[stem] = [(split, f) for f in chosen]
    return {s: p for s, p in sorted(plan.items()) if s in index}


def _test_plan(box_rows: dict[str, list[BoxRow]], folders) -> dict[str, list[str]]:
    """{stem: its selected box findings, in the box file's order} of every image with a box of
    a selected finding, sorted by stem: the test split."""
    plan = {}
    for stem in sorted(box_rows):
        chosen = list(dict.fromkeys(r.finding for r in box_rows[stem] if r.finding in folders))
        if chosen:
            plan[stem] = chosen
    return plan


def read_official_rows(folder: str | Path, class_names: list[str] | None = None,
                       findings: Sequence[str] | None = None) -> LocalizationRows:
    """The test split that import_nih would make of an official NIH folder, read in place.

    The folder holds BBox_List_2017*.csv files and, in it or any sub-folder, the images
    (matched by stem); a Data_Entry labels CSV may sit beside them (the test rows come from
    the boxes alone, as in the import). Rows, order and boxes are the import's: one row per
    (image, selected box finding), boxes in NIH's 1024 x 1024 frame (scaled to the image on
    disk when read), so the scores equal those of the imported layout.

    Args:
        folder: the official folder (e.g. nih-val).
        class_names: class order; default the findings of the rows, sorted.
        findings: the selected findings (default the 8 box findings).

    Raises:
        LayoutError: no box file, or no usable row.
    """
    folder = Path(folder)
    box_files = official_box_files(folder)
    if not box_files:
        raise LayoutError(f"{folder}: no {BOXES_PATTERN} file (NIH's official box list)")
    folders = {f: _safe_folder(f) for f in (canonical_finding(f) for f in (findings or NIH_BOX_FINDINGS))}
    problems: list[str] = []
    box_rows: dict[str, list[BoxRow]] = defaultdict(list)
    for path in box_files:
        rows, row_problems = read_bbox_list_csv(path)
        problems += row_problems
        for row in rows:
            box_rows[Path(row.image).stem].append(row)
    index, index_problems = index_images([folder])
    problems += index_problems
    listed: list[TestListRow] = []
    gt: dict[tuple[str, str], GtEntry] = {}
    files: dict[tuple[str, str], Path] = {}
    for stem, chosen in _test_plan(box_rows, folders).items():
        file = index[stem].name if stem in index else box_rows[stem][0].image
        for finding in chosen:
            key = (folders[finding], file)
            listed.append(TestListRow(*key, folders[finding]))
            gt[key] = GtEntry(*NIH_BOX_FRAME, _clipped_boxes(box_rows[stem], finding, NIH_BOX_FRAME))
            if stem in index:
                files[key] = index[stem]
    # The import writes (and so lists) only the images it finds: their findings are the classes.
    names = list(class_names) if class_names is not None else sorted({r.label for r in listed if
                                                                      (r.finding, r.file) in files})
    found = LocalizationRows(folder, "test", names, [], gt, problems, files)
    return keep_usable_rows(found, listed, box_files[0].name, box_files[0].name)


def _write_images(out, plan, index, box_rows, entry_rows, folders, size, box_frame, progress, report):
    """Write every planned image once per (split, finding); returns (test_list rows, test_gt)."""
    frame_w, frame_h = box_frame
    test_rows: list[TestListRow] = []
    gt: dict[tuple[str, str], GtEntry] = {}
    for stem in tqdm(plan, desc="import-nih", unit="img", disable=not progress):
        try:
            data, suffix, (src_w, src_h) = _encoded_image(index[stem], size)
        except ImageReadError as error:
            report.unreadable.append(stem)
            report.problems.append(str(error))
            log.warning("%s", error)
            continue
        digest = hashlib.md5(data).hexdigest()
        file = stem + suffix
        if plan[stem][0][0] == "test" and abs(src_w * frame_h - src_h * frame_w) > 0.02 * frame_w * frame_h:
            report.problems.append(f"{index[stem]}: {src_w} x {src_h} px, not the shape of the box frame")
        for split, finding in plan[stem]:
            folder = folders[finding]
            relpath = f"{split}/{folder}/{file}"
            (out / relpath).parent.mkdir(parents=True, exist_ok=True)
            (out / relpath).write_bytes(data)
            report.written[relpath] = digest
            report.samples[split][finding] += 1
            report.images[split].add(stem)
            report.patients[split].add(_patient_of(stem, entry_rows))
            if split == "test":
                test_rows.append(TestListRow(folder, file, folder))
                boxes = _clipped_boxes(box_rows[stem], finding, box_frame)
                gt[(folder, file)] = GtEntry(frame_w, frame_h, boxes)
    return test_rows, gt


def _clipped_boxes(rows: list[BoxRow], finding: str, frame: tuple[int, int]) -> list:
    """The finding's boxes clipped to the frame (a box wholly outside it is dropped)."""
    boxes = []
    for row in rows:
        x0, y0, x1, y1 = row.box
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(frame[0]), x1), min(float(frame[1]), y1)
        if row.finding == finding and x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def _write_tables(out, report, test_rows, gt, options) -> None:
    """test_list, test_gt, summary, problems, then the manifest of everything written."""
    write_test_list(out / TEST_LIST, test_rows)
    write_test_gt(out / TEST_GT, gt)
    summary = {
        "options": options,
        "samples": {s: {f: report.samples[s][f] for f in report.findings} for s in ("train", "val", "test")},
        "images": {s: len(report.images[s]) for s in ("train", "val", "test")},
        "patients": {s: len(report.patients[s]) for s in ("train", "val", "test")},
        "missing_images": len(report.missing),
        "unreadable_images": len(report.unreadable),
        "excluded_box_patient_images": report.excluded_box_patient,
        "excluded_no_selected_finding_images": report.excluded_no_finding,
        "problems": len(report.problems),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    names = [TEST_LIST, TEST_GT, SUMMARY]
    if report.problems:
        (out / PROBLEMS).write_text("".join(p + "\n" for p in report.problems), encoding="utf-8")
        names.append(PROBLEMS)
    for name in names:
        report.written[name] = hashlib.md5((out / name).read_bytes()).hexdigest()
    lines = [f"{digest}  {rel}\n" for rel, digest in sorted(report.written.items())]
    (out / MANIFEST).write_text("".join(lines), encoding="utf-8")

