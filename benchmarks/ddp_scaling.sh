#!/usr/bin/env bash
# DDP scaling on one machine (issue #8): the training step on 1, 2, 4 ... all GPUs in one call
# (GPU-resident batches, so the loader is not the limit), then a short real-data run on all
# GPUs whose metrics.jsonl "timing" records say what validation and checkpoints cost.
#
#   bash benchmarks/ddp_scaling.sh [DATA_DIR] [OUT_DIR]
#
# Prints markdown tables; efficiency(N) = img/s(N) / (N x img/s(1)). Extrapolated NIH epoch:
# 112,120 images / img/s. Keep NVLink multicast off (NCCL_NVLS_ENABLE=0).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-}
out=${2:-runs/ddp-scaling}
gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
mkdir -p "$out"
rm -f "$out/steps.md"
echo "| model | GPUs | SS2D backend | mode | batch per GPU | img/s total | img/s per GPU | peak GiB |"
echo "|---|---|---|---|---:|---:|---:|---:|"
for n in 1 2 4 8; do
  [ "$n" -le "$gpus" ] || break
  torchrun --standalone --nproc_per_node="$n" benchmarks/train_speed.py --model sr_vmamba_tiny --batch 64 \
    | grep '^| sr_' | tee -a "$out/steps.md"
done
python3 - "$out/steps.md" <<'PY'
import sys
rows = [line.strip("|\n").split("|") for line in open(sys.argv[1]) if line.startswith("| sr_")]
one = next(float(r[5]) for r in rows if r[1].strip().endswith("x 1"))
print("\n| GPUs | img/s | efficiency | NIH epoch (112,120 images) |\n|---:|---:|---:|---:|")
for r in rows:
    n, total = int(r[1].split("x")[-1]), float(r[5])
    print(f"| {n} | {total:.0f} | {100 * total / (n * one):.1f}% | {112120 / total:.0f} s |")
PY
if [ -n "$data" ]; then
  torchrun --standalone --nproc_per_node="$gpus" -m sr_core.cli.train --config nih-tiny --data "$data" \
    --out "$out/real" --set train.epochs=4 --set eval.every_epochs=2 --set output.progress=false
  python3 - "$out/real/metrics.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
print("\n| epoch | train s | img/s | validation s | checkpoint s |\n|---:|---:|---:|---:|---:|")
timing = {r["epoch"]: r for r in records if r["kind"] == "timing"}
for r in (r for r in records if r["kind"] == "epoch"):
    t = timing.get(r["epoch"], {})
    print(f"| {r['epoch']} | {r['seconds']:.1f} | {r['images_per_s']:.0f} | "
          f"{t.get('validation_seconds', 0):.1f} | {t.get('checkpoint_seconds', 0):.1f} |")
PY
fi
