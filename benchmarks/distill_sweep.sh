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
# Needs the converted ImageNet cache (SR_VIEWER_CACHE). Everything worth keeping (the logs, the
# tables {scratch,distilled}/ablation_*.md, each run's metrics.jsonl and eval reports, the
# distilled backbone and, with SWEEP_KEEP=N, the N best calibrated distilled runs' weights by the
# selection half) ends up in ONE archive, OUT_DIR/sweep.tar: a device call returns only a few
# files of its output folder (8 in session 8, which lost the kept weights). The distilled file
# is written after every epoch, so DISTILL_TIMEOUT leaves the last finished one (its metadata
# says which). SWEEP_SCRATCH=0 leaves the scratch runs out.
set -uo pipefail
cd "$(dirname "$0")/.."
final=${1:?usage: distill_sweep.sh OUT_DIR}
out=$(mktemp -d)/sweep  # the work folder; only the archive goes to OUT_DIR
mkdir -p "$out" "$final"
export PYTHONUNBUFFERED=1
distilled=.data/distilled/sr_vmamba_nano.safetensors  # benchmarks/ablation.py DISTILLED
common=(--suite pretrained --data .data/layouts/select --report-data .data/layouts/report
        --seeds "${SWEEP_SEEDS:-6,7,8}" --epochs "${SWEEP_EPOCHS:-12}" --workers 0 --parallel 6
        --set data.device_augment=true --set train.channels_last=true --calibrate)

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
  cp "$distilled" "$out/"
  keep=()
  [ "${SWEEP_KEEP:-0}" -gt 0 ] && keep=(--keep-best "$SWEEP_KEEP" --keep-to "$out/keep")
  python3 benchmarks/ablation.py "${common[@]}" --variants "${SWEEP_DISTILLED:-nano_distill_cam,nano_distill_sr}" \
    --out "$out/distilled" "${keep[@]}" > "$out/distilled.log" 2>&1
fi
[ -n "$scratch" ] && wait "$scratch"
# Keep each run's record (metrics, eval reports), not its checkpoints.
find "$out" -path '*/checkpoints' -prune -exec rm -rf {} +
find "$out" -mindepth 3 -name '*.safetensors' -not -path "$out/keep/*" -delete
tar -C "$(dirname "$out")" -cf "$final/sweep.tar" sweep
tail -n 12 "$out"/*/ablation_eval_cal_report.md "$out/distill.log"
ls -l "$final"
