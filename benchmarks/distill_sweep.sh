#!/usr/bin/env bash
# Issue #14 item 2 on one GPU in one call: what a label-free pretrained start is worth to a pure
# VMamba. sr_vmamba_nano is trained from scratch (plain CAM and the SR head, 3 seeds) while
# `sr-core-train distill` distils EfficientNet-Lite0's ImageNet features into it on every image
# we have without labels (nih-train, nih-extra and the No Finding / other-findings images, the
# selection half's pixels, cxr-unlabeled; never the report half); then the same two recipes start
# from the distilled backbone. Each run is chosen, calibrated and scored by benchmarks/ablation.py.
#
#   python benchmarks/nih_layouts.py --out .data/layouts --link-duplicates --unlabeled .data/unlabeled
#   bash benchmarks/distill_sweep.sh OUT_DIR
#
# Needs the converted ImageNet cache (SR_VIEWER_CACHE). The records (the logs, the tables
# {scratch,distilled}/ablation_*.md, each run's metrics.jsonl and eval reports) end up in ONE
# archive, OUT_DIR/sweep.tar, and the weights beside it: the distilled backbone as
# OUT_DIR/sr_vmamba_nano.safetensors and, with SWEEP_KEEP=N, the N best calibrated distilled runs
# by the selection half in OUT_DIR/keep. A device call returns at most 8 files of 16 MiB each
# (session 8 lost its kept weights to the count; the backbone alone is 14 MB, too big to share
# the archive). Calibration bounds the boxes at 2x the GT area, as the bundled files are. The
# distilled file is written after every epoch, so DISTILL_TIMEOUT leaves the last finished one
# (its metadata says which). SWEEP_SCRATCH=0 leaves the scratch runs out; SWEEP_DISTILLED names
# the variants fine-tuned from the distilled backbone, SWEEP_SEEDS their seeds, SWEEP_PARALLEL
# how many run at once (default 6).
set -uo pipefail
cd "$(dirname "$0")/.."
final=${1:?usage: distill_sweep.sh OUT_DIR}
out=$(mktemp -d)/sweep  # the work folder; only the archive goes to OUT_DIR
mkdir -p "$out" "$final"
export PYTHONUNBUFFERED=1
distilled=.data/distilled/sr_vmamba_nano.safetensors  # benchmarks/ablation.py DISTILLED
common=(--suite pretrained --data .data/layouts/select --report-data .data/layouts/report
        --seeds "${SWEEP_SEEDS:-6,7,8}" --epochs "${SWEEP_EPOCHS:-12}" --workers 0 --parallel "${SWEEP_PARALLEL:-6}"
        --set data.device_augment=true --set train.channels_last=true --calibrate --max-box-ratio 2)

scratch=
if [ "${SWEEP_SCRATCH:-1}" = 1 ]; then  # 0: the distillation alone on the GPU, then its runs
  python3 benchmarks/ablation.py "${common[@]}" --variants nano_cam,nano_sr --out "$out/scratch" \
    > "$out/scratch.log" 2>&1 &
  scratch=$!
fi
start=$(date +%s)
timeout "${DISTILL_TIMEOUT:-300}" python3 -m sr_core.cli.train distill --images .data/layouts/select/train \
  .data/layouts/select/normal .data/layouts/select/other .data/layouts/select/test .data/unlabeled \
  --out "$distilled" --epochs "${DISTILL_EPOCHS:-50}" --seed 0 > "$out/distill.log" 2>&1
echo "distill: exit $? after $(( $(date +%s) - start )) s" >> "$out/distill.log"
if [ -f "$distilled" ]; then
  cp "$distilled" "$final/"
  keep=()
  [ "${SWEEP_KEEP:-0}" -gt 0 ] && keep=(--keep-best "$SWEEP_KEEP" --keep-to "$final/keep")
  python3 benchmarks/ablation.py "${common[@]}" --variants "${SWEEP_DISTILLED:-nano_distill_cam,nano_distill_sr}" \
    --out "$out/distilled" "${keep[@]}" > "$out/distilled.log" 2>&1
fi
[ -n "$scratch" ] && wait "$scratch"
# Keep each run's record (metrics, eval reports), not its checkpoints.
find "$out" -path '*/checkpoints' -prune -exec rm -rf {} +
find "$out" -name '*.safetensors' -delete
tar -C "$(dirname "$out")" -cf "$final/sweep.tar" sweep
tail -n 12 "$out"/*/ablation_eval_cal_report.md "$out/distill.log"
ls -l "$final"
