#!/usr/bin/env bash
# The GPU check, one prepared script for a machine with an NVIDIA GPU: builds cifar-exp against
# PyTorch's libtorch, runs the device suite on CUDA (tests/device_test.cpp: fit, evaluation,
# augmentation against the CPU, bf16, divergence, checkpoints, model files, features), then the
# four notebook configurations for $EPOCHS epochs (seed 1) and `bench` for each on CUDA, and
# writes a short report to $OUT/REPORT.md (figures for BENCHMARKS.md).
#
#   scripts/gpu_check.sh [DATA_DIR]
#
# Environment:
#   OUT=gpu-check            where the build log, runs, bench JSON and REPORT.md go
#   BUILD_DIR=build-gpu      the build folder (against PyTorch's libtorch)
#   EPOCHS=10                epochs per configuration
#   TORCH_PYTHON             a Python whose torch has CUDA (default: .venv/bin/python, else python3)
#   CIFAR_EXP_DEPS_PREFIX    a folder with our C++ dependencies unpacked from Debian's .debs
#                            (dpkg -x) for machines without them (scripts/gpu_deps.sh makes one)
#   GPU_CHECK_ON_CPU=1       dry run of the whole script on the CPU (tiny data, 1 epoch), to check
#                            the script itself where there is no GPU
#
# Without the CIFAR-10 files (DATA_DIR, default $CIFAR10_DIR or data/cifar-10-batches-bin) it
# times on generated data of the real size and says so: accuracies are then meaningless. Without
# the Keras VGG16 weights the transfer configurations run on a random backbone, labelled as such
# (timing only, not transfer learning).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
EPOCHS=${EPOCHS:-10}
DATA_DIR=${1:-${CIFAR10_DIR:-data/cifar-10-batches-bin}}
WEIGHTS=weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
DEVICE=cuda
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "gpu_check: $*" | tee -a "$OUT/progress.log"; }

if [[ "${GPU_CHECK_ON_CPU:-0}" == 1 ]]; then
  DEVICE=cpu
  EPOCHS=1
  log "dry run on the CPU (GPU_CHECK_ON_CPU=1): 1 epoch on 2,000 images"
elif ! nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi -L lists none); GPU_CHECK_ON_CPU=1 tries the script on the CPU" >&2
  exit 2
fi

# 1. Build against PyTorch's libtorch.
TORCH_PYTHON=${TORCH_PYTHON:-}
if [[ -z "$TORCH_PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then TORCH_PYTHON=.venv/bin/python; else TORCH_PYTHON=python3; fi
fi
TORCH=$("$TORCH_PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
log "PyTorch $("$TORCH_PYTHON" -c 'import torch; print(torch.__version__)') at $TORCH"
prefix="$TORCH/share/cmake;$TORCH"
extra=()
if [[ -n "${CIFAR_EXP_DEPS_PREFIX:-}" ]]; then
  deps=$(cd "$CIFAR_EXP_DEPS_PREFIX" && pwd)
  prefix="$prefix;$deps/usr"
  multiarch=$deps/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH="$multiarch:$multiarch/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  extra=("-DHDF5_ROOT=$multiarch/hdf5/serial")
fi
export PATH=$PATH:/usr/local/cuda/bin
BUILD=${BUILD_DIR:-build-gpu}
log "building into $BUILD (log: $OUT/build.log)"
{
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix" \
    "-DTorch_DIR=$TORCH/share/cmake/Torch" "${extra[@]}"
  cmake --build "$BUILD" -j "$(nproc)"
} > "$OUT/build.log" 2>&1 || {
  tail -30 "$OUT/build.log"
  exit 1
}
"$BUILD/cifar-exp" --version | tee "$OUT/version.txt"

# 2. The device suite (CPU, first GPU, last GPU) and the device report.
log "device suite"
suite_rc=0
"$BUILD/tests/cifar_exp_tests" --gtest_filter='Devices/OnDevice.*:Device.*:Training.*:Checkpoint.*' \
  > "$OUT/suite.log" 2>&1 || suite_rc=$?
suite_line=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ tests?[,.]' "$OUT/suite.log" | tr '\n' ' ')
log "suite: exit $suite_rc; $suite_line"

# 3. Data and weights.
data_note="CIFAR-10 ($DATA_DIR)"
if [[ "$DEVICE" == cpu ]]; then
  DATA_DIR=$OUT/data
  "$BUILD/tests/make_test_data" "$DATA_DIR" 2000 500 > /dev/null
  data_note="generated, 2,000 + 500 images (dry run)"
elif [[ ! -f "$DATA_DIR/test_batch.bin" ]]; then
  DATA_DIR=$OUT/data
  log "no CIFAR-10 files; generating 50,000 + 10,000 images of the same shape for timing"
  "$BUILD/tests/make_test_data" "$DATA_DIR" 50000 10000 > /dev/null
  data_note="generated, 50,000 + 10,000 images (no CIFAR-10 here): accuracies are not CIFAR-10's"
fi
mkdir -p "$OUT/configs"
for name in no_aug_no_tl aug_no_tl no_aug_tl aug_tl; do
  "$TORCH_PYTHON" - "$name" "$OUT/configs/$name.json" "$WEIGHTS" << 'EOF'
import json, os, sys
name, out, weights = sys.argv[1:]
config = json.load(open(f"configs/{name}.json"))
if config["model"]["type"] == "vgg16_transfer" and not os.path.exists(weights):
    # Timing only: never presented as transfer learning (the run itself warns too).
    config["model"]["weights"] = "random"
    config["name"] = name + "-random-backbone"
json.dump(config, open(out, "w"), indent=2)
EOF
done

# 4. The four configurations, then bench for each.
limits=()
if [[ "$DEVICE" == cpu ]]; then limits=(--train-limit 2000 --test-limit 500); fi
table="| configuration | test accuracy | training s | wall s | train images/s (bench) | eval images/s (bench) |
|---|---:|---:|---:|---:|---:|"
runs_total=0
for name in no_aug_no_tl aug_no_tl no_aug_tl aug_tl; do
  config=$OUT/configs/$name.json
  log "run $name ($EPOCHS epochs, seed 1, $DEVICE)"
  start=$(date +%s.%N)
  "$BUILD/cifar-exp" --config "$config" --data-dir "$DATA_DIR" --output-dir "$OUT/runs" \
    --epochs "$EPOCHS" --seed 1 --device "$DEVICE" "${limits[@]}" > "$OUT/run-$name.log" 2>&1 ||
    log "run $name failed: $(tail -1 "$OUT/run-$name.log")"
  wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
  runs_total=$(awk -v a="$runs_total" -v b="$wall" 'BEGIN { printf "%.1f", a + b }')
  run_dir=$(grep -o 'Run folder: .*' "$OUT/run-$name.log" | tail -1 | cut -d' ' -f3-)
  # The run as cifar-exp reads it (its summary.json among the rest).
  listing=$OUT/run-$name.runs.json
  { [[ -n $run_dir ]] &&
    "$BUILD/cifar-exp" compare --runs --format json "$run_dir" 2> /dev/null; } > "$listing" ||
    echo '[]' > "$listing"
  "$BUILD/cifar-exp" bench --config "$config" --data-dir "$DATA_DIR" --device "$DEVICE" \
    --format json > "$OUT/bench-$name.json" 2> "$OUT/bench-$name.err" ||
    log "bench $name failed: $(tail -1 "$OUT/bench-$name.err")"
  row=$("$TORCH_PYTHON" - "$name" "$listing" "$OUT/bench-$name.json" "$wall" << 'EOF'
import json, os, sys
name, listing, bench_path, wall = sys.argv[1:]
runs = json.load(open(listing))
summary = (runs[0].get("summary") if runs else None) or {}
bench = json.load(open(bench_path)) if os.path.getsize(bench_path) else {}
acc = summary.get("test_accuracy")
def num(v, fmt):
    return format(v, fmt) if isinstance(v, (int, float)) else "–"
print(f"| {summary.get('name', name)} | {num(acc * 100 if acc is not None else None, '.2f')}% "
      f"| {num(summary.get('train_seconds'), '.1f')} | {float(wall):.1f} "
      f"| {num(bench.get('train_images_per_second'), ',.0f')} "
      f"| {num(bench.get('eval_images_per_second'), ',.0f')} |")
EOF
  )
  table+=$'\n'"$row"
done
{
  echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  nvidia-smi -L 2> /dev/null || echo "no GPU (dry run on the CPU)"
  cat "$OUT/version.txt"
  echo '```'
  echo
  echo "Device suite: exit $suite_rc; $suite_line"
  echo
  echo "Data: $data_note. Device: $DEVICE. $EPOCHS epochs per configuration, seed 1; bench: 50 steps after 5 warm-up."
  echo
  echo "$table"
  echo
  echo "The four configurations' runs together (wall, with process start and data loading): $runs_total s."
} > "$OUT/REPORT.md"
cat "$OUT/REPORT.md"
exit "$suite_rc"
