"""sr-core-infer: run a model on X-ray files and folders, one result line per image.

    sr-core-infer [--weights W] [--threshold T] [--json] [--device auto|cpu|cuda] PATH ...

With --json each input gives one JSON line
    {"image", "width", "height", "findings": [{"label", "probability", "boxes": [[x0,y0,x1,y1]]}],
     "warning", "ood_ratio", "error"}
(findings sorted by probability; boxes in image pixels, exclusive ends, at the weights'
threshold for each finding unless --threshold is given; numbers to 6 significant digits).
"warning" is one line when the picture does not look like a frontal chest film (its DICOM header,
or its distance from the films the weights were calibrated on: "ood_ratio" > 1), else null; the
findings are given either way. A bad
input gets its own line with "error" and the others still run. A path that does not exist, or a
folder without a readable image, is named in one line on stderr. On a terminal a progress bar
runs on stderr unless --quiet (stdout keeps only the result lines). Exit status: 0 all good, 1 some input
failed, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from sr_core.boxes import MODES
from sr_core.cli.common import (
    ArgumentParser, UsageError, check_threshold, fail, rounded, run_cli, show_progress, tool_parser, weights_or_default,
)
from sr_core.io.image import one_line

PROG = "sr-core-infer"


def build_parser() -> ArgumentParser:
    parser = tool_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (walked recursively)")
    parser.add_argument("--weights", help="weights file (.safetensors); default: the bundled weights")
    parser.add_argument("--threshold", type=float, help="FPM threshold in [0, 1]; default: the weights' own")
    parser.add_argument("--mode", choices=MODES, default="largest", help="boxes of the largest or all components")
    parser.add_argument("--json", action="store_true", help="one JSON line per input (default: a readable line)")
    parser.add_argument("--output", help="also write the JSON lines to this file")
    parser.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=8)
    return parser


@dataclass
class Inputs:
    """The command line's paths, expanded.

    Attributes:
        files: files as given and the image files of folders (sorted per folder).
        folder_of: for each file, the folder argument it was found in (None: given as a file).
        folders: every folder argument, in the command line's order.
        missing: paths that do not exist.
    """

    files: list[Path] = field(default_factory=list)
    folder_of: list[Path | None] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def expand_inputs(paths: Sequence[str]) -> Inputs:
    """Files as given, folders walked for image files (sorted), missing paths set aside."""
    from sr_core.io import iter_image_files

    inputs = Inputs()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inputs.folders.append(path)
            for file in iter_image_files(path):
                inputs.files.append(file)
                inputs.folder_of.append(path)
        elif path.exists():
            inputs.files.append(path)
            inputs.folder_of.append(None)
        else:
            inputs.missing.append(path)
    return inputs


def folders_without_images(inputs: Inputs, readable: Sequence[bool]) -> list[str]:
    """One line for each folder argument in which no image could be read."""
    lines = []
    for folder in inputs.folders:
        found = [ok for ok, where in zip(readable, inputs.folder_of) if where == folder]
        if not any(found):
            why = "no image file there" if not found else f"{len(found)} image file(s), none readable"
            lines.append(f"no readable image found in {folder} ({why})")
    return lines


def result_record(path: Path, prediction, threshold: float | None, mode: str) -> dict:
    findings = []
    for label in prediction.findings:
        t = prediction.threshold_for(label) if threshold is None else threshold
        boxes = [list(map(int, b)) for b in prediction.boxes(t, label, mode)]
        findings.append({"label": label, "probability": prediction.probabilities[label],
                         "threshold": t, "boxes": boxes})
    return {"image": str(path), "width": prediction.width, "height": prediction.height,
            "findings": findings, "warning": prediction.warning, "ood_ratio": prediction.ood_ratio, "error": None}


def error_record(path: Path, message: str) -> dict:
    return {"image": str(path), "width": None, "height": None, "findings": [], "warning": None, "ood_ratio": None,
            "error": message}


def main(argv: Sequence[str] | None = None) -> int:
    def parse() -> tuple:
        args = build_parser().parse_args(argv)
        check_threshold(args.threshold)
        if args.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        return args, weights_or_default(args.weights)

    return run_cli(PROG, parse, run)


def run(args, weights: Path) -> int:
    """Predict every input; under torchrun each rank takes rank::world of the inputs and
    rank 0 prints all results in input order."""
    from sr_core import distributed
    from sr_core.checkpoint import WeightsError
    from sr_core.predict import Predictor

    rank, world = distributed.rank_and_world()
    device = args.device
    if world > 1:
        device = distributed.local_device(prefer_cuda=args.device != "cpu")
        distributed.init(device)
    try:
        predictor = Predictor.from_weights(weights, device=device, batch_size=args.batch_size)
    except ValueError as exc:  # a WeightsError fails (1); any other names a wrong argument (2)
        if isinstance(exc, WeightsError):
            raise
        raise UsageError(one_line(exc)) from None
    inputs = expand_inputs(args.paths)
    paths = inputs.files
    out_file = open(args.output, "w", encoding="utf-8") if args.output and rank == 0 else None
    readable: list[bool] = []
    bar = tqdm(total=len(paths), desc="infer", unit="img", disable=rank > 0 or not show_progress(args.quiet))
    try:
        if world == 1:
            records: Iterator[dict] | list[dict] = predict_records(predictor, paths, args, bar)
        else:
            # Each rank takes whole batches; rank 0 prints every record in input order.
            mine = distributed.shard(len(paths), args.batch_size)
            bar.total = len(mine)
            predicted = predict_records(predictor, [paths[i] for i in mine], args, bar)
            records = distributed.gather_in_order(list(zip(mine, predicted))) or []
        for record in records:
            readable.append(record["error"] is None)
            emit(record, args.json, out_file)
    finally:
        bar.close()
        if out_file:
            out_file.close()
        distributed.shutdown()
    if rank > 0:
        return 0
    problems = [f"{path}: no such file or folder" for path in inputs.missing]
    problems += folders_without_images(inputs, readable)
    for line in problems:
        fail(PROG, line)
    return 1 if problems or not all(readable) else 0


def predict_records(predictor, paths: Sequence[Path], args, bar: tqdm | None = None) -> Iterator[dict]:
    """One record per path, in order, predicting in batches; unreadable files and failed
    batches become error records and the rest go on. `bar` advances once per record."""
    from sr_core.io import ImageReadError, read_image

    pending: list[tuple[Path, object]] = []

    def flush() -> Iterator[dict]:
        readable = [(p, img) for p, img in pending if not isinstance(img, str)]
        try:
            predictions = iter(predictor.predict_batch([img for _, img in readable]))
            results = {id(img): result_record(p, next(predictions), args.threshold, args.mode) for p, img in readable}
        except Exception as exc:  # inference failure: report each image, keep going
            message = f"inference failed: {one_line(exc)}"
            results = {id(img): error_record(p, message) for p, img in readable}
        for path, img in pending:
            if bar is not None:
                bar.update(1)
            yield error_record(path, img) if isinstance(img, str) else results[id(img)]
        pending.clear()

    for path in paths:
        try:
            pending.append((path, read_image(path)))
        except ImageReadError as exc:
            pending.append((path, str(exc)))
        if len(pending) >= args.batch_size:
            yield from flush()
    yield from flush()


def emit(record: dict, as_json: bool, out_file) -> None:
    line = json.dumps(rounded(record))
    if out_file is not None:
        out_file.write(line + "\n")
    if not as_json:
        if record["error"]:
            line = f"{record['image']}: error: {record['error']}"
        else:
            top = record["findings"][0]
            boxes = "; ".join(" ".join(map(str, b)) for b in top["boxes"]) or "no box"
            line = f"{record['image']}: {top['label']} {top['probability']:.3f} [{boxes}]"
            if record["warning"]:
                line += f"  warning: {record['warning']}"
    # Through tqdm: on a terminal the bar (stderr) is lifted off while the line is written.
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
