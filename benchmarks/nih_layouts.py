"""Build the two NIH layouts of honest model selection (issue #14): one to select on, one to report on.

    python benchmarks/nih_layouts.py --data ../shared/data --out .data/layouts [--link-duplicates]
        [--unlabeled .data/unlabeled]

nih-val's 295 patients are split in two halves with a fixed seed (the importer's own
patient split, sr_core.data.nih_import.split_patients, fraction 0.5, seed 6):
    OUT/select   train/ = nih-train + nih-extra (image-level labels only); test/ = half A's box
                 images: checkpoints, thresholds and every setting are chosen here
    OUT/report   test/ = half B's box images: the figure the model card reports, touched once
    OUT/select-no-extra  select without nih-extra (what those 809 images are worth)
    OUT/select/normal/No Finding/      nih-train's and nih-extra's No Finding images, and
    OUT/select/other/Other findings/   those with none of the 8 box findings but others: the
                 negative splits of issue #14 item 3 (data.negative_splits), never box images
No patient is in both halves, and no nih-train or nih-extra patient has a box image (data
README). nih-val's labels are not trained on. Images are copied unchanged (--size 0): the
256 px JPEG/PNG copies and nih-extra's 64 px PNGs; the loader resizes them.

--unlabeled DIR writes cxr-unlabeled's 356 films (longest side 512) as grey JPEGs with the
longest side 256 (quality 85) and their SOURCES.csv (the licences ask for it beside anything
derived): label-free input for `sr-core-train distill`, small enough to carry to a GPU with
the layouts (the distillation resizes to its input size anyway).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_core.data.nih_import import import_nih, split_patients  # noqa: E402

SPLIT_SEED = 6


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, [row for row in reader if row]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def halves(data: Path) -> tuple[set[str], set[str]]:
    """(half A, half B): the image names of nih-val's two patient-disjoint halves."""
    _, rows = _rows(data / "nih-val" / "labels.csv")
    patient = {row[0]: row[2] for row in rows}
    half_b = split_patients(patient.values(), 0.5, SPLIT_SEED)
    b = {img for img, p in patient.items() if p in half_b}
    return set(patient) - b, b


def build(data: Path, out: Path) -> dict[str, Path]:
    """Write OUT/select, OUT/select-no-extra and OUT/report; returns their paths."""
    a, b = halves(data)
    val_header, val_rows = _rows(data / "nih-val" / "labels.csv")
    box_header, box_rows = _rows(data / "nih-val" / "BBox_List_2017_val.csv")
    roots = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, half in (("select", a), ("select-no-extra", a), ("report", b)):
            entries = [_write(tmp / f"{name}_val_entries.csv", val_header, [r for r in val_rows if r[0] in half])]
            boxes = _write(tmp / f"BBox_List_2017_{name}.csv", box_header, [r for r in box_rows if r[0] in half])
            images = [data / "nih-val" / "images"]
            if name.startswith("select"):
                entries.append(data / "nih-train" / "labels.csv")
                images.insert(0, data / "nih-train" / "images")  # first found wins: the 256 px copies
                if name == "select":
                    entries.append(data / "nih-extra" / "labels.csv")
                    images.append(data / "nih-extra" / "images")
            roots[name] = out / name
            report = import_nih([str(e) for e in entries], [str(boxes)], [str(i) for i in images], roots[name],
                                size=0, val_fraction=0.0, seed=SPLIT_SEED)
            print(f"{name}: {report.table()}")
    for split, count in write_negatives(data, roots["select"]).items():
        print(f"select/{split}: {count} negative images")
    return roots


NEGATIVE_SPLITS = {"normal": "No Finding", "other": "Other findings"}
"""Split -> folder of the images without a box finding: 'No Finding' alone, or other findings only."""


def write_negatives(data: Path, root: Path) -> dict[str, int]:
    """Copy nih-train's and nih-extra's images that show none of the 8 box findings into
    ROOT/normal/No Finding/ and ROOT/other/Other findings/; returns the count per split."""
    import shutil

    from sr_core.data.layout import NIH_BOX_FINDINGS

    counts = dict.fromkeys(NEGATIVE_SPLITS, 0)
    for source in ("nih-train", "nih-extra"):
        _, rows = _rows(data / source / "labels.csv")
        for row in rows:
            labels = set(row[1].split("|"))
            if labels & set(NIH_BOX_FINDINGS):
                continue
            split = "normal" if labels == {"No Finding"} else "other"
            folder = root / split / NEGATIVE_SPLITS[split]
            folder.mkdir(parents=True, exist_ok=True)
            stem = Path(row[0]).stem  # the labels name the 1024 px PNGs; nih-train holds JPEG copies
            image = next((data / source / "images").glob(f"{stem}.*"))
            shutil.copy2(image, folder / image.name)
            counts[split] += 1
    return counts


def link_duplicates(out: Path) -> int:
    """Replace every file whose bytes an earlier file has by a relative symbolic link to it
    (a multi-label image is written once per finding); returns the bytes saved."""
    import hashlib
    import os

    first: dict[str, Path] = {}
    saved = 0
    for path in sorted(p for p in out.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest not in first:
            first[digest] = path
            continue
        saved += path.stat().st_size
        path.unlink()
        path.symlink_to(os.path.relpath(first[digest], path.parent))
    return saved


def write_unlabeled(source: Path, out: Path, size: int = 256) -> int:
    """cxr-unlabeled's images, grey, longest side `size`, as JPEGs under out/images, with SOURCES.csv."""
    import shutil

    import cv2

    (out / "images").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "SOURCES.csv", out / "SOURCES.csv")
    count = 0
    for path in sorted((source / "images").iterdir()):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            print(f"skipped {path.name}: not a readable image")
            continue
        scale = size / max(image.shape)
        if scale < 1:
            image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / "images" / f"{path.stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--out", default=".data/layouts")
    parser.add_argument("--link-duplicates", action="store_true",
                        help="store each image once, the copies as symbolic links (to carry the layouts)")
    parser.add_argument("--unlabeled", metavar="DIR",
                        help="also write cxr-unlabeled at 256 px here (for sr-core-train distill)")
    args = parser.parse_args()
    build(Path(args.data), Path(args.out))
    if args.unlabeled:
        print(f"unlabeled films at 256 px: {write_unlabeled(Path(args.data) / 'cxr-unlabeled', Path(args.unlabeled))}")
    if args.link_duplicates:
        print(f"linked duplicates: {link_duplicates(Path(args.out)) / 1e6:.1f} MB saved")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
