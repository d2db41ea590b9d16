#!/usr/bin/env bash
# Issue #17 on one GPU in one call: the plane kernels' GPU tests, then the kernel and model
# timings, with Triton's compiles done first in parallel processes so that the timed runs do
# not spend the call compiling (kernels.py compiles every shape and variant it times).
#
#   bash benchmarks/scan_gpu.sh OUT_DIR [kernels.py options ...]
#
# Writes OUT_DIR/{pytest_plane,warm,ncu_stage1,kernels,profile,model,grads}.log (seven files: the
# device tool returns at most eight); each step has its own timeout (SCAN_GPU_T_* seconds) so one
# slow step cannot eat the others. In session 21 the three test processes beside the compiles
# took up to 253 s, and the kernel timings, the profile and model_grads together about 75 s, so
# the whole fits one 600 s device command. pytest must be
# importable (carry wheels and set PYTHONPATH where it is not installed). Extra arguments go
# to every kernels.py run, e.g. --plane-variant bwd_col_mode=transpose --plane-variant dt_grad=gemm;
# SCAN_GPU_MODEL_ARGS to model_gpu.py (e.g. "--plane-variant bwd_col_mode=transpose").
# SCAN_GPU_TESTS names the tests to run (default the plane kernels' file, in three processes);
# SCAN_GPU_T_NCU=120 adds ncu on stage 1's forward launches (off by default).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scan_gpu.sh OUT_DIR [kernels.py options]}
shift
mkdir -p "$out"
export PYTHONUNBUFFERED=1
stages=${SCAN_GPU_STAGES:-1,2,3,4}
dtypes=${SCAN_GPU_DTYPES:-bf16}

# 1. Compile: one process per stage runs each path once (kernels.py --once), beside the GPU
#    tests (which compile the fp32 and bf16 stage shapes for themselves).
#    The plane kernels' tests take over 270 s in one process: three, by name (session 21; in
#    session 22 the third, then with the odd maps, ran past 255 s: they moved to the first; session
#    23's 16 x 16 backward cases went with them, its fp16 stage shapes to the second).
tests=${SCAN_GPU_TESTS:-tests/sr_core/kernels/test_triton_plane.py}
i=0
for k in "test_plane_stage_shapes_cuda or odd_map" "stage_shapes and not test_plane_stage_shapes_cuda" \
         "not stage_shapes and not odd_map"; do
  i=$((i + 1))
  # shellcheck disable=SC2086  # SCAN_GPU_TESTS is a list of words
  timeout "${SCAN_GPU_T_TEST:-280}" python3 -m pytest $tests -q -rfEs -k "$k" > "$out/pytest_$i.log" 2>&1 &
done
for s in ${stages//,/ }; do
  timeout "${SCAN_GPU_T_WARM:-240}" python3 benchmarks/kernels.py --once --dtypes "$dtypes" --stages "$s" "$@" \
    > "$out/warm_stage$s.log" 2>&1 &
done
wait
for s in ${stages//,/ }; do echo "== stage $s"; cat "$out/warm_stage$s.log"; rm -f "$out/warm_stage$s.log"; done \
  > "$out/warm.log"
cat "$out"/pytest_?.log > "$out/pytest_plane.log" && rm -f "$out"/pytest_?.log

# 2. Where the stage-1 plane kernels spend their time (hardware counters, where ncu can read them).
if [ "${SCAN_GPU_T_NCU:-0}" != 0 ] && command -v ncu > /dev/null; then
  timeout "${SCAN_GPU_T_NCU}" ncu --clock-control none -k regex:_plane_ --launch-count 2 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
    python3 benchmarks/kernels.py --once --dtypes bf16 --stages 1 --backends triton_plane \
    > "$out/ncu_stage1.log" 2>&1
fi

# 3. Timings, one process at a time (the GPU to itself).
#    Interleaved rounds (SCAN_GPU_ROUNDS, default 3): the card's speed drifted by up to 40% between
#    invocations of one call in session 20, so each time is the median of the rounds, with their range.
#    --graph: each repeat replays a CUDA graph of the chained calls, the GPU's time without the host's
#    (which set stages 3-4's times without it: session 21).
timeout "${SCAN_GPU_T_KERNELS:-150}" python3 benchmarks/kernels.py --graph --dtypes "$dtypes" --stages "$stages" \
  --repeats "${SCAN_GPU_REPEATS:-10}" --rounds "${SCAN_GPU_ROUNDS:-3}" "$@" > "$out/kernels.log" 2>&1
# Every kernel of a stage-1 and stage-2 forward and forward+backward, and the operator behind it.
timeout "${SCAN_GPU_T_PROFILE:-60}" python3 benchmarks/kernels.py --profile --dtypes bf16 --stages 1,2 \
  --backends triton_plane --no-torch "$@" > "$out/profile.log" 2>&1
# What sr-core-train runs (the full SR model, eager) and the viewer's case (a 1024 px film, file to
# heatmap), on the plane kernels; the compiled backbone + linear of the issue's targets instead by
# SCAN_GPU_MODEL_ARGS="--modes reduce-overhead --kinds backbone+linear" (later options win) with a
# larger SCAN_GPU_T_MODEL (about 130 s of set-up).
# shellcheck disable=SC2086  # SCAN_GPU_MODEL_ARGS is a list of words
timeout "${SCAN_GPU_T_MODEL:-150}" python3 benchmarks/model_gpu.py --backend triton_plane --modes eager \
  --kinds "full SR" --cases models,viewer ${SCAN_GPU_MODEL_ARGS:-} > "$out/model.log" 2>&1
# One fp32 training step's gradients on "auto" against the PyTorch scan (what the full-model
# GPU test bounds), and between two runs; beside them the forward's reverse scans (mirror=0:
# 0.30% against the default's 0.65% in session 21, both repeatable).
timeout "${SCAN_GPU_T_GRADS:-100}" python3 benchmarks/model_grads.py --plane-variant mirror=0 > "$out/grads.log" 2>&1
tail -n 3 "$out"/*.log
