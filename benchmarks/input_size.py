"""A weights file at other test-time input sizes, nothing trained (issue #14 item 5).

The models train on random 256 px crops of images resized to 288, so a finding appears about
1.1x larger in training than in a 256 px test image; testing at a larger size matches the
training scale better (the "FixRes" effect) and gives finer maps (stride 16: 18 x 18 at 288,
20 x 20 at 320), which small findings may need. For each size this writes a copy of the file
with that input size, calibrates it on the selection layout as the shipped file was (its
location prior refitted at that size, the prior weights and flips given here, per-finding
thresholds at IoU>0.3 under --max-box-ratio) and scores it on both layouts as sr-core-eval
does. Include the shipped size (256) to compare like with like.

    python benchmarks/input_size.py --weights resources/weights/sr_efficientnet_lite0.safetensors \
        --sizes 256 288 320 --prior-weights 2 --data .data/layouts/select --report-data .data/layouts/report
    python benchmarks/input_size.py --weights resources/weights/sr_vmamba_nano_distilled.safetensors \
        --sizes 256 288 320 --prior-weights 0 --no-flip --data .data/layouts/select --report-data .data/layouts/report

Every choice is the selection layout's; the report layout is only scored. CPU: a few minutes a
size (the prior is refitted on the training images).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ensemble import COLUMNS, summary  # noqa: E402
from sr_core.checkpoint import load_weights, save_weights  # noqa: E402
from sr_core.data.datasets import LocalizationSet  # noqa: E402
from sr_core.predict import Predictor  # noqa: E402
from sr_core.train.calibrate import _stored_half, calibrate  # noqa: E402


def at_size(weights: Path, size: int, out: Path) -> Path:
    """A copy of `weights` whose metadata asks for `size` px inputs (tensors unchanged; the
    provenance records the change, the model config keeps the training size).

    Above the size the model was trained at (its config's), the copy also keeps larger images to
    that size's detail ("detail_size", sr_core.data.transforms.LimitDetail): every figure here
    is measured on 256 px copies enlarged to `size`, and a 1024 px film then reaches the model
    the same way instead of reduced straight to `size` (benchmarks/resolution.py)."""
    model, metadata = load_weights(weights)
    detail = metadata.get("detail_size") or metadata["model"].get("input_size") or metadata.get("input_size")
    provenance = {**(metadata.get("provenance") or {}),
                  "input_size_changed": {"from": metadata.get("input_size"), "to": size, "by": "benchmarks/input_size.py"}}
    changed = {key: value for key, value in metadata.items() if key != "detail_size"}
    changed |= {"input_size": size, "provenance": provenance} | ({"detail_size": int(detail)} if size > int(detail) else {})
    save_weights(model, out, changed, dtype=torch.float16 if _stored_half(weights) else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True, help="the selection layout (every choice)")
    parser.add_argument("--report-data", type=Path, required=True, help="the report layout (scored only)")
    parser.add_argument("--prior-weights", default="0,0.5,1,2", help="as sr-core-train calibrate's")
    parser.add_argument("--no-flip", action="store_true", help="as sr-core-train calibrate's")
    parser.add_argument("--max-box-ratio", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep each size's calibrated file here (<name>_<size>.safetensors)")
    args = parser.parse_args()
    prior_weights = [float(w) for w in args.prior_weights.split(",")]
    flips = (False,) if args.no_flip else (False, True)
    print(f"{args.weights.name}; calibrated on {args.data} (prior weights {prior_weights}, flips {list(flips)}, "
          f"boxes at most {args.max_box_ratio}x), scored on both layouts\n")
    print("| input px | map | chosen: flip, prior weight | selection, one threshold | selection "
          + " | selection ".join(COLUMNS) + " | report " + " | report ".join(COLUMNS) + " | seconds |")
    print("|---|---|---|---|" + "---|" * (2 * len(COLUMNS)) + "---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            start = time.perf_counter()
            copy = at_size(args.weights, size, Path(tmp) / f"size{size}.safetensors")
            calibrated = Path(tmp) / f"size{size}_cal.safetensors"
            record = calibrate(copy, args.data, calibrated, prior_weights=prior_weights, flips=flips,
                               device=args.device, max_box_ratio=args.max_box_ratio)
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(calibrated, args.keep / f"{args.weights.stem}_{size}.safetensors")
            predictor = Predictor.from_weights(calibrated, device=args.device)
            halves = [summary(predictor, LocalizationSet(root, split="test", class_names=predictor.class_names))
                      for root in (args.data, args.report_data)]
            chosen = record["chosen"]
            with torch.inference_mode():
                weight = next(predictor.model.parameters())
                maps = predictor.model.finding_maps(torch.zeros(1, 3, size, size, dtype=weight.dtype))[1]
            rows, cols = maps.shape[-2:]
            cells = [f"{v:.3f}" if isinstance(v, float) else "-" for half in halves for v in half.values()]
            print(f"| {size} | {rows}x{cols} | {chosen['test_time_flip']}, {chosen['prior_weight']:g} | "
                  f"{chosen['metric']:.3f} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
