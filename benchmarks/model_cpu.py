"""CPU speed of every registered model: parameters and forward latency (batch 1, 256 px),
then the Predictor end to end on a real 1024 px X-ray (preprocessing, the model with one map
per finding, the top finding's map at image size and its boxes).

Run: python benchmarks/model_cpu.py [--repeats 10] [--threads N] [--models NAME ... | --bundled-only] [--malloc default]

Memory as the viewer and the sr-core-* tools run (sr_core.runtime.keep_freed_memory: glibc
keeps freed memory for the next call); --malloc default measures glibc's own behaviour.

Threads as in the viewer: everything that runs torch (building the models, both tables) runs
on one worker thread, as the viewer loads and runs its model on its one "model" thread and
never runs torch on its UI thread. `--torch-thread main` runs it all on the main thread;
`--torch-thread split` builds the models and times the forward table on the main thread and
the Predictor on a worker. Split is slower on few cores: torch's OpenMP runtime (GNU libgomp)
keeps a pool of threads for each thread that has run a parallel region, and once there are
more of them than cores it stops spin-waiting between regions, so every parallel operation
pays for waking its threads (RESULTS.md, session 15).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name, time_call  # noqa: E402

from sr_core.models import create_model, list_models  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", choices=list_models(), metavar="NAME",
                        help="only these registered models (default: all of them and the bundled weights as shipped)")
    parser.add_argument("--bundled-only", action="store_true",
                        help="only the bundled default weights as shipped, in the Predictor")
    parser.add_argument("--malloc", choices=("keep", "default"), default="keep",
                        help="keep: freed memory is reused, as in the viewer and the tools (default); "
                             "default: glibc's defaults")
    parser.add_argument("--torch-thread", choices=("worker", "main", "split"), default="worker",
                        help="where torch runs: one worker thread, as in the viewer (default); the main "
                             "thread; or split: the models and the forward table on the main thread, the "
                             "Predictor on a worker")
    args = parser.parse_args()
    names = [] if args.bundled_only else args.models or list_models()
    malloc = "glibc's defaults"
    if args.malloc == "keep":
        from sr_core.runtime import keep_freed_memory

        malloc = "freed memory kept for reuse" if keep_freed_memory() else "glibc's defaults (keeping not available)"
    if args.torch_thread == "worker":
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(run, args, names, malloc).result()
    else:
        run(args, names, malloc)


def run(args: argparse.Namespace, names: list[str], malloc: str) -> None:
    """Both tables, on the calling thread (the Predictor's on a worker where --torch-thread is split)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    # Other work on the machine moves these medians by 10-30% on 2 cores: the load average
    # before and after says how quiet the run was.
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch 1, {args.size}x{args.size}, float32, eval, median of {args.repeats} after warm-up; "
          f"malloc: {malloc}; torch on {THREADS[args.torch_thread]}; load average {_load()}\n")
    if names:
        print("| model | parameters | backbone | forward median (ms) | p95 (ms) |")
        print("|---|---:|---:|---:|---:|")
    x = torch.randn(1, 3, args.size, args.size)
    for name in names:
        torch.manual_seed(0)
        model = create_model(name).eval()
        total = sum(p.numel() for p in model.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        with torch.inference_mode():
            stats = time_call(lambda: model(x), repeats=args.repeats, warmup=2)
        print(f"| {name} | {total / 1e6:.2f}M | {backbone / 1e6:.2f}M | {stats['median_ms']:.0f} | {stats['p95_ms']:.0f} |")
    predictor_table(args.repeats, names, shipped=args.models is None or args.bundled_only,
                    split=args.torch_thread == "split", threads=args.threads)
    print(f"\nload average after: {_load()}")


THREADS = {"worker": "one worker thread (as in the viewer)", "main": "the main thread",
           "split": "the main thread, the Predictor on a worker"}


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def predictor_table(repeats: int, names: list[str], shipped: bool = True, split: bool = False,
                    threads: int | None = None) -> None:
    from sr_core.bundled import demo_study
    from sr_core.io import read_image
    from sr_core.predict import Predictor

    demo = demo_study()
    if demo is None:
        return
    image = read_image(sorted(demo.glob("*.png"))[0])
    print(f"\nPredictor on {image.width}x{image.height} {image.path.name}: predict + top finding's map at "
          f"image size + its boxes (median of {repeats} after warm-up)\n")

    def timed(fn):
        """Median and p95 ms, and the minor page faults of one call (after the timed ones)."""

        def measure():
            stats = time_call(fn, repeats=repeats, warmup=2)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            fn()
            return {**stats, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}

        if not split:
            return measure()

        def on_worker():
            if threads:
                torch.set_num_threads(threads)  # OpenMP's thread count is the calling thread's
            return measure()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(on_worker).result()

    print("| model | predict median (ms) | p95 (ms) | page faults a call |")
    print("|---|---:|---:|---:|")
    for name in names:
        torch.manual_seed(0)
        model = create_model(name)
        predictor = Predictor(model, {"class_names": [f"c{i}" for i in range(8)], "input_size": 256}, device="cpu")

        def run():
            pred = predictor.predict(image)
            pred.boxes(0.5, pred.top_finding)

        stats = timed(run)
        print(f"| {name} | {stats['median_ms']:.0f} | {stats['p95_ms']:.0f} | {stats['faults']} |")
    from sr_core.bundled import default_weights

    weights = default_weights() if shipped else None
    if weights is not None:  # as shipped: its test-time flip doubles the forward passes
        predictor = Predictor.from_weights(weights, device="cpu")

        def shipped():
            pred = predictor.predict(image)
            pred.boxes(None, pred.top_finding)

        stats = timed(shipped)
        print(f"| {weights.name} (bundled, as shipped) | {stats['median_ms']:.0f} | {stats['p95_ms']:.0f} | {stats['faults']} |")


if __name__ == "__main__":
    main()
