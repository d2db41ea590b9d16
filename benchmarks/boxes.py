"""FPM -> boxes on a 1024x1024 study: the viewer's threshold drag budget is one frame (16 ms).

Times fpm_to_boxes / threshold_regions on two realistic maps (an upsampled 8x8 random map, as
the model produces, and a map of several Gaussian blobs), beside the plain
connectedComponentsWithStats route they replace, then upsample_fpm, one MaxBoxAccV2 sweep, and
what an evaluation (and the trainer's validation) sweeps: MaxBoxAccV2 plus the GT-known curves
at IoU 0.1/0.3/0.5, as four separate sweeps and as the one shared sweep score() runs.
Median and p95 of REPEATS calls after WARMUP, printed as a Markdown table with the CPU.

Run: python benchmarks/boxes.py [--repeats 200] [--records 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name, time_call  # noqa: E402

from sr_core.boxes import fpm_to_boxes, threshold_regions, upsample_fpm  # noqa: E402
from sr_core.evaluation.metrics import FpmRecord, gt_known_curve, max_box_acc_v2, sweep_metrics  # noqa: E402
from sr_core.evaluation.scoring import CURVE_IOUS  # noqa: E402

SIZE = (1024, 1024)
WARMUP = 20
REPEATS = 200


def smooth_map(seed: int = 0) -> np.ndarray:
    """The model's 8x8 map, min-max normalised and upsampled: broad, few components."""
    return upsample_fpm(np.random.default_rng(seed).random((8, 8)), SIZE)


def blob_map(seed: int = 1, blobs: int = 6) -> np.ndarray:
    """Several Gaussian blobs of different sizes and heights: many separate components."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float32)
    fpm = np.zeros(SIZE, np.float32)
    for _ in range(blobs):
        cy, cx = rng.uniform(100, 924, 2)
        sigma = rng.uniform(20, 90)
        fpm += rng.uniform(0.5, 1.0) * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * sigma**2))
    return fpm / fpm.max()


def cc_stats_boxes(fpm: np.ndarray, threshold: float) -> list[tuple[int, int, int, int]]:
    """The straightforward route: labelling with statistics, largest component's box."""
    mask = np.greater_equal(fpm, np.float32(threshold)).view(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return []
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, 4]))]
    return [(int(x), int(y), int(x + w), int(y + h))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--records", type=int, default=300, help="256x256 maps in the MaxBoxAccV2 sweep")
    args = parser.parse_args()

    print(f"CPU: {cpu_name()}; OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads")
    print(f"median / p95 of {args.repeats} calls after {WARMUP} warm-up calls, {SIZE[1]}x{SIZE[0]} map\n")
    print("| map | threshold | call | components | median ms | p95 ms |")
    print("|---|---:|---|---:|---:|---:|")
    maps = {"upsampled 8x8 random": smooth_map(), "6 Gaussian blobs": blob_map()}
    for name, fpm in maps.items():
        for threshold in (0.5, 0.83):
            components = len(fpm_to_boxes(fpm, threshold, mode="all"))
            assert cc_stats_boxes(fpm, threshold) == fpm_to_boxes(fpm, threshold)
            calls = {
                'fpm_to_boxes "largest"': lambda: fpm_to_boxes(fpm, threshold),
                'fpm_to_boxes "all"': lambda: fpm_to_boxes(fpm, threshold, mode="all"),
                "threshold_regions (boxes+contours+mask)": lambda: threshold_regions(fpm, threshold),
                "baseline: connectedComponentsWithStats": lambda: cc_stats_boxes(fpm, threshold),
            }
            for label, call in calls.items():
                t = time_call(call, repeats=args.repeats, warmup=WARMUP)
                print(
                    f"| {name} | {threshold} | {label} | {components} "
                    f"| {t['median_ms']:.2f} | {t['p95_ms']:.2f} |"
                )
    small = np.random.default_rng(2).random((8, 8))
    t = time_call(lambda: upsample_fpm(small, SIZE), repeats=args.repeats, warmup=WARMUP)
    print(f"| 8x8 -> 1024x1024 | - | upsample_fpm | - | {t['median_ms']:.2f} | {t['p95_ms']:.2f} |")

    rng = np.random.default_rng(3)
    records = [
        FpmRecord(f"{k}.png", "Mass", upsample_fpm(rng.random((8, 8)), (256, 256)), [(60, 70, 150, 200)],
                  image_size=(1024, 1024))
        for k in range(args.records)
    ]  # fmt: skip
    start = time.perf_counter()
    result = max_box_acc_v2(records)
    seconds = time.perf_counter() - start
    print(
        f"\nMaxBoxAccV2: {args.records} maps of 256x256 x 100 thresholds in {seconds:.2f} s "
        f"(mean {result['mean']:.3f} on random maps)"
    )
    start = time.perf_counter()
    separate = [max_box_acc_v2(records)] + [gt_known_curve(records, iou_threshold=t) for t in CURVE_IOUS]
    separate_s = time.perf_counter() - start
    start = time.perf_counter()
    shared, curves = sweep_metrics(records, CURVE_IOUS)
    shared_s = time.perf_counter() - start
    assert shared == separate[0] and all(
        np.array_equal(a["class_mean"], b["class_mean"]) for a, b in zip(curves, separate[1:]))
    print(f"MaxBoxAccV2 + GT-known curves at IoU {'/'.join(f'{t:g}' for t in CURVE_IOUS)}: "
          f"{separate_s:.2f} s as four sweeps, {shared_s:.2f} s as one (sweep_metrics, same results)")


if __name__ == "__main__":
    main()
