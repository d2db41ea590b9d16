"""What keeping freed memory (sr_core.runtime.keep_freed_memory) is worth to the viewer's CPU
predictions: each row is a fresh process, as a viewer is, predicting one 1024 px demo film on a
worker thread, as the viewer does; glibc's defaults and kept memory alternate, so the machine's
load touches both alike. In a long process that has already freed large blocks (model_cpu.py's
tables come after every model's forward passes) glibc raises its own mmap threshold and the
difference shrinks: that is not the viewer's case.

Run: python benchmarks/predict_memory.py [--rounds 2] [--repeats 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# One process: the weights' Predictor on a worker thread; median ms and page faults a call.
CHILD = """
import json, resource, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor
import torch
mode, model_name, repeats, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
if mode == "keep":
    from sr_core.runtime import keep_freed_memory
    assert keep_freed_memory(), "glibc refused"
from sr_core.bundled import default_weights, demo_study
from sr_core.io import read_image
from sr_core.models import create_model
from sr_core.predict import Predictor
image = read_image(sorted(demo_study().glob("*.png"))[0])
if model_name == "bundled":
    predictor = Predictor.from_weights(default_weights(), device="cpu")
else:
    torch.manual_seed(0)
    predictor = Predictor(create_model(model_name), {"class_names": [f"c{i}" for i in range(8)], "input_size": 256},
                          device="cpu")
def call():
    pred = predictor.predict(image)
    pred.boxes(None, pred.top_finding)
def measure():
    for _ in range(3):
        call()
    times, faults = [], []
    for _ in range(repeats):
        before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"ms": statistics.median(times), "faults": statistics.median(faults)}
with ThreadPoolExecutor(max_workers=1) as pool:
    print(json.dumps(pool.submit(measure).result()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["bundled", "sr_vmamba_nano"],
                        help="'bundled' (the default weights as shipped) and registered model names")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"CPU: {cpu_name()}; {args.threads} threads; a fresh process a row, the Predictor on a worker "
          f"thread, median of {args.repeats} after 3 warm-up; load average {load}\n")
    print("| weights | malloc | round | predict median (ms) | page faults a call |")
    print("|---|---|---:|---:|---:|")
    for model in args.models:
        for round_ in range(1, args.rounds + 1):
            for mode in ("default", "keep"):
                out = subprocess.run([sys.executable, "-c", CHILD, mode, model, str(args.repeats), str(args.threads)],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"| {model} | {mode} | {round_} | failed: {out.stderr.strip().splitlines()[-1:]} | |")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                label = "glibc's defaults" if mode == "default" else "kept (sr_core.runtime)"
                print(f"| {model} | {label} | {round_} | {r['ms']:.0f} | {r['faults']:.0f} |", flush=True)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
