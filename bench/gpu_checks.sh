#!/usr/bin/env bash
# One pass of every GPU check, for a machine with a CUDA GPU and the pinned torch installed for
# python3 (the device machine): configure and build with CUDA, run the [cuda] tests and the GPU
# benchmarks, and write every log under ${OUT:-gpu-results}/. Each step's failure is recorded and
# the next one still runs; the exit code is the number of failed steps.
#
#     OUT=/tmp/gpu bench/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
PY=${PY:-python3}
BUILD=${BUILD:-build-gpu}
failed=0
step() {  # step NAME COMMAND...: runs COMMAND, logs to $OUT/NAME.log, counts failures
  local name=$1; shift
  echo "== $name"
  if ! "$@" > "$OUT/$name.log" 2>&1; then
    echo "   failed (see $OUT/$name.log)"; failed=$((failed + 1))
  fi
  tail -n 5 "$OUT/$name.log"
}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSDS_PYTHON=ON \
  -DSDS_CUDA_ARCHITECTURES=native -DPython_EXECUTABLE="$(command -v "$PY")" \
  -DCMAKE_PREFIX_PATH="$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
step build cmake --build "$BUILD" -j "$(nproc)"
step cuda_tests bash -c "cd '$BUILD' && ctest -R 'CUDA|cuda' --output-on-failure -j 4"
export PYTHONPATH="$PWD/$BUILD/python:$PWD/python/tests" SDS_SOURCE_DIR="$PWD"
step python_cuda "$PY" -m pytest -q -k "cuda or device" python/tests
step gsplat_compare "$PY" bench/gsplat_compare.py
step unet_vs_diffusers "$PY" bench/sd_unet_compare.py --config sd21-base --device cuda \
  --dtype float16 --size 64 --batch 2 --repeats 20
step sds_step_split "$PY" bench/sd_step_breakdown.py --pipeline sd21-base --device cuda \
  --resolution 512 --render 256 --steps 10
for bench in bench_gaussian_raster bench_trilinear_sample bench_composite_rays bench_hash_grid; do
  step "$bench" "$BUILD/bench/$bench"
done
echo "failed steps: $failed"
exit "$failed"
