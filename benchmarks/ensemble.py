"""Two weights files' maps averaged: is the ensemble better than either alone? (issue #14 item 5)

The two bundled files find different things on the report half (the default Lite0 some
atelectases, the distilled VMamba the heart's outline and more pneumonias;
sr_vmamba_nano_distilled.md), so their mean map may beat both. Nothing is trained: each file
runs as shipped (its own refinement, input size and normalisation), each finding's small map
is min-max normalised and brought to the finer of the two grids (sr_core.boxes.upsample_fpm),
and the ensemble's map is w * A + (1 - w) * B, its probabilities the same mix of both.

The mixing weight w and the per-finding map thresholds are chosen on the selection layout
(GT-known IoU>0.3 class mean, thresholds under the box-size bound as `sr-core-train calibrate
--max-box-ratio` chooses them); the table then scores every w on the report layout, the
chosen one marked. w = 1 and w = 0 are the two files alone with thresholds chosen the same way.

    python benchmarks/ensemble.py --weights resources/weights/sr_efficientnet_lite0.safetensors \
        resources/weights/sr_vmamba_nano_distilled.safetensors \
        --data .data/layouts/select --report-data .data/layouts/report

CPU is fine: each file predicts each image once (about 2 x 351 images), the mixes reuse them.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation import area_ratio  # noqa: E402
from sr_core.boxes import upsample_fpm  # noqa: E402
from sr_core.data.datasets import LocalizationSet  # noqa: E402
from sr_core.evaluation.scoring import operating_choice, rows_from_predictor, score  # noqa: E402
from sr_core.io import XrayImage  # noqa: E402
from sr_core.predict import Predictor  # noqa: E402
from sr_core.prediction import Prediction  # noqa: E402

WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)


class Ensemble:
    """Enough of a Predictor for sr_core.evaluation.scoring: the mix of two files' predictions,
    each computed once per image and kept (by path) for every mix and threshold."""

    def __init__(self, a: Predictor, b: Predictor, w: float = 0.5) -> None:
        if list(a.class_names) != list(b.class_names):
            sys.exit(f"the two files know different findings: {a.class_names} and {b.class_names}")
        self.a, self.b, self.w = a, b, w
        self.class_names = list(a.class_names)
        self.batch_size = a.batch_size
        self.thresholds: dict[str, float] = {}
        self.default_threshold = 0.5
        self._seen: dict[str, tuple[Prediction, Prediction]] = {}

    def predict_batch(self, images: list[XrayImage]) -> list[Prediction]:
        todo = [im for im in images if str(im.path) not in self._seen]
        if todo:
            for im, pa, pb in zip(todo, self.a.predict_batch(todo), self.b.predict_batch(todo)):
                self._seen[str(im.path)] = (pa, pb)
        return [self._mix(*self._seen[str(im.path)]) for im in images]

    def _mix(self, pa: Prediction, pb: Prediction) -> Prediction:
        maps = {}
        for name in self.class_names:
            ma, mb = pa.small_maps[name], pb.small_maps[name]
            grid = max(ma.shape, mb.shape)
            maps[name] = self.w * upsample_fpm(ma, grid) + (1 - self.w) * upsample_fpm(mb, grid)
        probs = {c: self.w * pa.probabilities[c] + (1 - self.w) * pb.probabilities[c] for c in self.class_names}
        return replace(pa, probabilities=probs, small_maps=maps, thresholds=dict(self.thresholds),
                       default_threshold=self.default_threshold, _cache={})


def summary(evaluation) -> dict[str, float | None]:
    report = evaluation.report
    iou = report["gt_known"]["iou"]
    out = {f"IoU>{k}": iou[k]["class_mean"] for k in ("0.1", "0.3", "0.5")}
    out["AUC"] = (report.get("classification") or {}).get("auc_mean")
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
    a, b = (Predictor.from_weights(w, device=args.device, batch_size=16) for w in args.weights)
    ens = Ensemble(a, b)
    halves = {name: LocalizationSet(root, split="test", class_names=ens.class_names)
              for name, root in (("selection", args.data), ("report", args.report_data))}
    results = []
    for w in WEIGHTS:
        ens.w, ens.thresholds, ens.default_threshold = w, {}, 0.5
        rows, errors = rows_from_predictor(ens, halves["selection"])
        choice = operating_choice(score(rows, ens.class_names, errors), args.iou, ens.class_names, 0.5,
                                  args.max_box_ratio)
        ens.thresholds, ens.default_threshold = choice["fpm_thresholds"], choice["default_threshold"]
        scored = {}
        for name, data in halves.items():
            rows, errors = rows_from_predictor(ens, data)
            scored[name] = summary(score(rows, ens.class_names, errors))
        results.append((w, scored))
        print(f"w {w:.2f}: selection IoU>{args.iou:g} {scored['selection'][f'IoU>{args.iou:g}']:.3f}, "
              f"report {scored['report'][f'IoU>{args.iou:g}']:.3f}", flush=True)
    key = f"IoU>{args.iou:g}"
    chosen = max(results, key=lambda r: r[1]["selection"][key])[0]

    cols = ["IoU>0.1", "IoU>0.3", "IoU>0.5", "AUC", "box / GT area"]
    print(f"\nA = {args.weights[0].name}, B = {args.weights[1].name}; map = w A + (1 - w) B, thresholds "
          f"per finding on the selection half (IoU>{args.iou:g}, boxes at most {args.max_box_ratio:g}x the GT); "
          f"{time.perf_counter() - start:.0f} s on {args.device}\n")
    print("| w | selection " + " / ".join(cols[:2]) + " | report " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for w, scored in results:
        sel = " / ".join(f"{scored['selection'][c]:.3f}" for c in cols[:2])
        rep = " | ".join("-" if scored["report"][c] is None else f"{scored['report'][c]:.3f}" for c in cols)
        mark = " (chosen)" if w == chosen else ""
        print(f"| {w:.2f}{mark} | {sel} | {rep} |")


if __name__ == "__main__":
    main()
