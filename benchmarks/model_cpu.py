"""Parameter count and CPU forward latency of every registered model (batch 1, 256 px).

Run: python benchmarks/model_cpu.py [--repeats 10] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch 1, {args.size}x{args.size}, float32, eval, median of {args.repeats} after warm-up\n")
    print("| model | parameters | backbone | forward median (ms) | p95 (ms) |")
    print("|---|---:|---:|---:|---:|")
    x = torch.randn(1, 3, args.size, args.size)
    for name in list_models():
        torch.manual_seed(0)
        model = create_model(name).eval()
        total = sum(p.numel() for p in model.parameters())
        backbone = sum(p.numel() for p in model.backbone.parameters())
        with torch.inference_mode():
            stats = time_call(lambda: model(x), repeats=args.repeats, warmup=2)
        print(f"| {name} | {total / 1e6:.2f}M | {backbone / 1e6:.2f}M | {stats['median_ms']:.0f} | {stats['p95_ms']:.0f} |")


if __name__ == "__main__":
    main()
