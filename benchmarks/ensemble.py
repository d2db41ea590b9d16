"""Two weights files' maps mixed: is the ensemble better than either alone? (issue #14 item 5)

The two bundled files find different things on the report half (the default Lite0 some
atelectases, the distilled VMamba the heart's outline and more pneumonias;
sr_vmamba_nano_distilled.md), so their mixed maps may beat both. Nothing is trained: the mix
is sr_core.ensemble's (each file as shipped, each finding's map min-max normalised on the
finer grid, w * A + (1 - w) * B, the probabilities mixed alike).

Every w of sr_core.train.ensemble.MIXES gets its per-finding map thresholds on the selection
layout, as `sr-core-train ensemble` gives them (IoU>0.3, boxes at most --max-box-ratio x the
GT); the command's choice of w (the best selection-half class mean at one shared threshold)
is marked; then every w is scored on both layouts. w = 1 and w = 0 are the files alone with
thresholds chosen the same way.

    python benchmarks/ensemble.py --weights resources/weights/sr_efficientnet_lite0.safetensors \
        resources/weights/sr_vmamba_nano_distilled.safetensors \
        --data .data/layouts/select --report-data .data/layouts/report

CPU is fine: each file predicts each image once (about 2 x 351 images), the mixes reuse them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation import area_ratio  # noqa: E402
from sr_core.data.datasets import LocalizationSet  # noqa: E402
from sr_core.ensemble import EnsemblePredictor  # noqa: E402
from sr_core.evaluation.scoring import rows_from_predictor, score  # noqa: E402
from sr_core.predict import Predictor  # noqa: E402
from sr_core.train.ensemble import MIXES, best_trial, choose_mix  # noqa: E402

COLUMNS = ["IoU>0.1", "IoU>0.3", "IoU>0.5", "AUC", "box / GT area"]


def summary(predictor, data: LocalizationSet) -> dict[str, float | None]:
    """sr-core-eval's class means, the AUC and the box-size ratio of `predictor` on `data`."""
    rows, errors = rows_from_predictor(predictor, data)
    evaluation = score(rows, data.class_names, errors)
    iou = evaluation.report["gt_known"]["iou"]
    out = {f"IoU>{k}": iou[k]["class_mean"] for k in ("0.1", "0.3", "0.5")}
    out["AUC"] = (evaluation.report.get("classification") or {}).get("auc_mean")
    out["box / GT area"] = area_ratio((row["pred_boxes"], row["gt_boxes"]) for row in evaluation.rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs=2, type=Path, required=True, metavar=("A", "B"))
    parser.add_argument("--data", type=Path, required=True, help="the selection layout (every choice)")
    parser.add_argument("--report-data", type=Path, required=True, help="the report layout (scored only)")
    parser.add_argument("--iou", type=float, default=0.3)
    parser.add_argument("--max-box-ratio", type=float, default=2.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    start = time.perf_counter()
    base = EnsemblePredictor([Predictor.from_weights(w, device=args.device, batch_size=16) for w in args.weights],
                             (0.5, 0.5), keep=True)
    trials = choose_mix(base, args.data, MIXES, args.iou, args.max_box_ratio)
    chosen = best_trial(trials)[0]
    halves = {name: LocalizationSet(root, split="test", class_names=base.class_names)
              for name, root in (("selection", args.data), ("report", args.report_data))}
    results = []
    for mix, choice in trials:
        ens = base.with_mix(mix, choice["fpm_thresholds"], choice["default_threshold"])
        results.append((mix, choice["metric"], {name: summary(ens, data) for name, data in halves.items()}))

    print(f"\nA = {args.weights[0].name}, B = {args.weights[1].name}; map = w A + (1 - w) B; per-finding "
          f"thresholds on the selection half (IoU>{args.iou:g}, boxes at most {args.max_box_ratio:g}x the GT); "
          f"{time.perf_counter() - start:.0f} s on {args.device}\n")
    print(f"| w | selection IoU>{args.iou:g}, one threshold | selection IoU>0.1 / IoU>0.3 | report "
          + " | ".join(COLUMNS) + " |")
    print("|---|---|---|" + "---|" * len(COLUMNS))
    for mix, metric, scored in results:
        sel = " / ".join(f"{scored['selection'][c]:.3f}" for c in COLUMNS[:2])
        rep = " | ".join("-" if scored["report"][c] is None else f"{scored['report'][c]:.3f}" for c in COLUMNS)
        mark = " (chosen)" if mix == chosen else ""
        print(f"| {mix[0]:.2f}{mark} | {metric:.3f} | {sel} | {rep} |")


if __name__ == "__main__":
    main()
