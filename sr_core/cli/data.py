"""sr-core-data: build and check datasets in the NIH folder layout.

    sr-core-data import-nih --entries Data_Entry_2017.csv --boxes BBox_List_2017.csv \\
        --images DIR [DIR ...] --out ROOT [--size 256] [--val-fraction 0.2] [--seed 6] \\
        [--findings Atelectasis,...] [--box-frame 1024]
    sr-core-data phantoms --out ROOT [--per-class 8] [--size 64] [--seed 0]
    sr-core-data check ROOT

Exit status: 0 success, 1 the work failed (one line on stderr), 2 usage error; never a
traceback (sr_core.cli.common's contract).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sr_core.cli.common import ArgumentParser, UsageError, log_to_stderr, run_cli, show_progress, tool_parser
from sr_core.data.layout import NIH_BOX_FINDINGS

PROG = "sr-core-data"

IMPORT_HELP = """\
Splits: every image with a box of a selected finding goes to test/ (test_list.txt,
test_gt.txt); no patient with a box image appears in train/ or val/; the other images are
split into train/ and val/ by patient with --seed.
Multi-label policy: an image is copied into the folder of EACH of its selected findings
(one sample per image and finding; default the 8 box findings; 'No Finding' and other
findings only if --findings names them). The same image then appears under several labels,
so single-label softmax learns a soft target spread over its findings.
Boxes: test_gt.txt keeps BBox_List's frame (W H = --box-frame, default 1024 1024, xyxy in
its pixels) whatever --size is; readers scale to the image on disk. Data_Entry's
OriginalImage[Width,Height] columns are the scan size before NIH's 1024 px resize, not the
box frame, and are ignored.
--entries/--boxes take files, folders (searched for Data_Entry_2017*.csv /
BBox_List_2017*.csv) or glob patterns; images are matched by file stem (.png/.jpg)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _findings(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of findings")
    return names


def build_parser() -> ArgumentParser:
    parser = tool_parser(PROG, "Build and check datasets in the NIH folder layout.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every problem")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    nih = commands.add_parser(
        "import-nih", help="build the layout from NIH's official CSVs and images",
        description="Build ROOT/{train,val,test}/<Finding>/, test_list.txt, test_gt.txt and MANIFEST.md5 "
        "from Data_Entry_2017 and BBox_List_2017.", epilog=IMPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nih.add_argument("--entries", nargs="+", required=True,
                     help="Data_Entry_2017*.csv files, folders or globs")
    nih.add_argument("--boxes", nargs="+", required=True, help="BBox_List_2017*.csv files, folders or globs")
    nih.add_argument("--images", nargs="+", required=True,
                     help="folders holding the images (searched recursively)")
    nih.add_argument("--out", required=True, help="dataset root to create (absent or empty)")
    nih.add_argument("--size", type=_positive_int, default=256,
                     help="longer side of written images; 0 copies files (default 256)")
    nih.add_argument("--val-fraction", type=float, default=0.2,
                     help="fraction of non-box patients for val (default 0.2)")
    nih.add_argument("--seed", type=int, default=6, help="seed of the patient split (default 6)")
    nih.add_argument("--findings", type=_findings, default=list(NIH_BOX_FINDINGS),
                     help="comma-separated findings (default: the 8 box findings)")
    nih.add_argument("--box-frame", type=_positive_int, nargs="+", default=[1024], metavar="N",
                     help="BBox_List frame: N (square) or W H (default 1024)")

    phantoms = commands.add_parser("phantoms", help="write a synthetic phantom dataset (tests, smoke runs)")
    phantoms.add_argument("--out", required=True, help="dataset root to create")
    phantoms.add_argument("--per-class", type=_positive_int, default=8,
                          help="training images per class (default 8)")
    phantoms.add_argument("--val-per-class", type=_positive_int, default=0,
                          help="validation images per class (default 0)")
    phantoms.add_argument("--test-per-class", type=_positive_int, default=None, help="test images per class")
    phantoms.add_argument("--size", type=_positive_int, default=64, help="image side in pixels (default 64)")
    phantoms.add_argument("--seed", type=int, default=0)
    phantoms.add_argument("--findings", type=_findings, default=list(NIH_BOX_FINDINGS), help="class names")

    check = commands.add_parser("check", help="check a dataset root and print its problems")
    check.add_argument("root", help="dataset root")
    return parser


def _import_nih(args: argparse.Namespace) -> int:
    from sr_core.data.nih_import import import_nih

    frame = (args.box_frame[0], args.box_frame[-1])
    report = import_nih(
        args.entries, args.boxes, args.images, args.out, size=args.size, val_fraction=args.val_fraction,
        seed=args.seed, findings=args.findings, box_frame=frame, progress=show_progress(args.quiet),
    )
    print(report.table())
    if report.problems:
        print(f"{len(report.problems)} problems, listed in {args.out}/import_problems.txt")
    print(f"wrote {len(report.written)} files to {args.out} (MANIFEST.md5)")
    return 0


def _phantoms(args: argparse.Namespace) -> int:
    from sr_core.data.phantoms import write_phantom_dataset

    written = write_phantom_dataset(
        args.out, args.per_class, args.size, args.seed, args.findings,
        n_test_per_class=args.test_per_class, n_val_per_class=args.val_per_class,
    )
    print(", ".join(f"{split}: {n}" for split, n in written.items()) + f" images in {args.out}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from sr_core.data.layout import SPLITS, TEST_GT, TEST_LIST, read_test_gt, read_test_list, scan_split

    root = Path(args.root)
    problems: list[str] = []
    for split in SPLITS:
        if (root / split).is_dir():
            names, samples = scan_split(root, split)
            print(f"{split}: {len(samples)} images in {len(names)} classes")
    if (root / TEST_LIST).is_file():
        rows, found = read_test_list(root / TEST_LIST)
        problems += found
        print(f"{TEST_LIST}: {len(rows)} rows")
    if (root / TEST_GT).is_file():
        gt, found = read_test_gt(root / TEST_GT)
        problems += found
        print(f"{TEST_GT}: {sum(len(e.boxes) for e in gt.values())} boxes on {len(gt)} images")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


COMMANDS = {"import-nih": _import_nih, "phantoms": _phantoms, "check": _check}


def main(argv: Sequence[str] | None = None) -> int:
    """Run sr-core-data; returns the exit status."""
    def parse() -> tuple:
        args = build_parser().parse_args(argv)
        if args.command == "import-nih" and (len(args.box_frame) not in (1, 2) or 0 in args.box_frame):
            raise UsageError("--box-frame takes N or W H, positive")
        return (args,)

    def run(args: argparse.Namespace) -> int:
        log_to_stderr(logging.INFO if args.verbose else logging.WARNING)
        return COMMANDS[args.command](args)

    return run_cli(PROG, parse, run)


if __name__ == "__main__":
    sys.exit(main())
