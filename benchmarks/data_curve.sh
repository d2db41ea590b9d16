#!/usr/bin/env bash
# Issue #14, what bounds the AUC: learning curves of the two bundled recipes on one GPU, a
# recipe a call (CURVE_RECIPES, below). The default's recipe (Lite0 from ImageNet, plain CAM, the No Finding images; the preset's
# 18 epochs) and the distilled VMamba's (the full SR head from the distilled backbone, 12
# epochs) are each trained on about a quarter, a half and all of the training patients
# (data.train_fraction, subset_seed 0: nested subsets, every epoch as long as the full data's, so
# the same steps at every share), 3 seeds each: 9 runs a recipe, all at once. Each run is
# chosen, calibrated and scored by benchmarks/ablation.py, the report half scored once. The linear probe's curve on
# frozen features (benchmarks/linear_probe.py --fractions, CPU) is its counterpart.
#
#   python benchmarks/nih_layouts.py --out .data/layouts --link-duplicates --unlabeled .data/unlabeled
#   bash benchmarks/data_curve.sh OUT_DIR
#
# Carry .data/layouts and, for the lite0 recipe, .data/cache (the ImageNet file, converted), for
# the nano recipe .data/distilled (the distilled backbone, benchmarks/ablation.py DISTILLED).
# All three (68 MB) exceed one call's 64 MiB: CURVE_RECIPES="lite0" or "nano" runs one of them
# (default both, where the carry allows). Everything worth keeping (logs, the tables, each run's
# metrics and eval reports; no weights) ends up in ONE archive, OUT_DIR/curve.tar. CURVE_SEEDS
# (default 6,7,8) and CURVE_TIMEOUT (seconds, default 540) bound the call.
set -uo pipefail
cd "$(dirname "$0")/.."
final=${1:?usage: data_curve.sh OUT_DIR}
out=$(mktemp -d)/curve
mkdir -p "$out" "$final"
export PYTHONUNBUFFERED=1
common=(--suite pretrained --data .data/layouts/select --report-data .data/layouts/report
        --seeds "${CURVE_SEEDS:-6,7,8}" --workers 0 --parallel 9 --calibrate --max-box-ratio 2
        --set data.device_augment=true --set train.channels_last=true)
pids=()
for recipe in ${CURVE_RECIPES:-lite0 nano}; do
  case $recipe in
    lite0) args=(--variants cam,cam_f0.5,cam_f0.25) ;;  # the preset's 18 epochs
    nano) args=(--epochs 12 --variants nano_distill_sr,nano_distill_sr_f0.5,nano_distill_sr_f0.25) ;;
    *) echo "data_curve.sh: unknown recipe $recipe (lite0, nano)" >&2; exit 2 ;;
  esac
  timeout "${CURVE_TIMEOUT:-540}" python3 benchmarks/ablation.py "${common[@]}" "${args[@]}" --out "$out/$recipe" \
    > "$out/$recipe.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
find "$out" -path '*/checkpoints' -prune -exec rm -rf {} +
find "$out" -name '*.safetensors' -delete
tar -C "$(dirname "$out")" -cf "$final/curve.tar" curve
tail -n 14 "$out"/*/ablation_eval_cal_report.md
ls -l "$final"
