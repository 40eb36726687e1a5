#!/usr/bin/env bash
# The GPU check, one prepared script for a machine with an NVIDIA GPU: checks the toolkit and the
# libraries first, builds cifar-exp against PyTorch's libtorch, runs the device suites on CUDA
# (tests/data/device_test.cpp, tests/training/device_training_test.cpp and
# tests/models/device_models_test.cpp: fit, evaluation, augmentation against the CPU, bf16,
# divergence, checkpoints, model files, features), then the four notebook configurations (seed 1)
# and `bench` for each on CUDA. Whatever happens, it writes $GPU_CHECK_DIR/REPORT.md (each step
# with its time and outcome, the failing step's last lines, the results table) and prints it.
#
#   scripts/gpu_check.sh [--epochs N] [--suite device|all] [DATA_DIR]
#
# --epochs 3 (default) is the first pass: it fits in about 8 minutes on one H200 with 16 cores,
# build included. `--epochs 10` is the full pass (the notebook's epochs); run it second, when
# the first has passed: the build folder is reused. --suite all runs the whole test suite
# (ctest, less the Slurm test, which installs packages) instead of the device suite.
#
# Environment:
#   GPU_CHECK_DIR=gpu-check  where the logs, runs, bench JSON and REPORT.md go (only there)
#   BUILD_DIR=build-gpu      the build folder (against PyTorch's libtorch)
#   TORCH_PYTHON             a Python whose torch has CUDA (default: .venv/bin/python, else python3)
#   CIFAR_EXP_DEPS_PREFIX    a folder with our C++ dependencies unpacked from Debian's .debs
#                            (dpkg -x) for machines without them (scripts/gpu_deps.sh makes one)
#   CUDA_HOME                the CUDA toolkit to build with (default: the first full toolkit among
#                            nvcc on PATH, /usr/local/cuda, /usr/local/cuda-*)
#   GPU_CHECK_ON_CPU=1       dry run of the whole script on the CPU (tiny data, 1 epoch), to check
#                            the script itself where there is no GPU
#
# Without the CIFAR-10 files (DATA_DIR, default $CIFAR10_DIR, else cifar-exp's default data folder:
# `cifar-exp --print-default data_dir`, data/cifar-10-batches-bin) it
# times on generated data of the real size and says so: accuracies are then meaningless. Without
# the Keras VGG16 weights the transfer configurations run on a random backbone, labelled as such
# (timing only, not transfer learning). Exit status: 0 when every step passed, else 1 (2: usage).
# shellcheck disable=SC2317  # functions run through `trap` and `step`
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
EPOCHS=3
SUITE=device
while (($#)); do
  case "$1" in
    --epochs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check: --epochs needs a positive whole number" >&2; exit 2; }
      EPOCHS=$2
      shift 2
      ;;
    --suite)
      [[ "${2:-}" == device || "${2:-}" == all ]] || { echo "gpu_check: --suite takes device or all" >&2; exit 2; }
      SUITE=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,/^# shellcheck/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
DATA_DIR=${1:-${CIFAR10_DIR:-}}  # empty: the built binary's default, asked after the build
WEIGHTS=weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
DEVICE=cuda
CHECK_DIR=${GPU_CHECK_DIR:-gpu-check}
BUILD=${BUILD_DIR:-build-gpu}
mkdir -p "$CHECK_DIR" || { echo "gpu_check: cannot create $CHECK_DIR" >&2; exit 2; }
CHECK_DIR=$(cd "$CHECK_DIR" && pwd)
rm -f "$CHECK_DIR/REPORT.md" "$CHECK_DIR/progress.log"
START=$(date +%s)

# The report's parts, filled in as the steps go; REPORT.md is written on every exit.
steps="| step | outcome | seconds |
|---|---|---:|"
failure=""
suite_line="not run"
table=""
data_note="not prepared"
failed=0
log() { echo "gpu_check: $*" | tee -a "$CHECK_DIR/progress.log"; }
write_report() {
  {
    echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ): $([[ $failed == 0 ]] && echo passed || echo FAILED)"
    echo
    echo '```'
    nvidia-smi -L 2> /dev/null || echo "no GPU (dry run on the CPU)"
    cat "$CHECK_DIR/version.txt" 2> /dev/null || echo "cifar-exp not built"
    echo '```'
    echo
    echo "$steps"
    if [[ -n "$failure" ]]; then
      echo
      echo "## What failed"
      echo
      echo '```'
      echo "$failure"
      echo '```'
    fi
    echo
    echo "Device suite: $suite_line"
    echo
    echo "Data: $data_note. Device: $DEVICE. $EPOCHS epochs per configuration, seed 1; bench: 50 steps after 5 warm-up."
    if [[ -n "$table" ]]; then
      echo
      echo "| configuration | test accuracy | training s | wall s | train images/s (bench) | eval images/s (bench) |"
      echo "|---|---:|---:|---:|---:|---:|"
      echo "$table"
    fi
    echo
    echo "Whole check: $(($(date +%s) - START)) s. Logs: $CHECK_DIR."
  } > "$CHECK_DIR/REPORT.md"
  echo
  cat "$CHECK_DIR/REPORT.md"
}
trap 'write_report' EXIT

# step NAME LOG COMMAND...: runs one step with its output in LOG, records its time and outcome;
# on failure keeps the last lines of LOG for the report. Returns the command's status.
step() {
  local name=$1 logfile=$2 t0 rc=0
  shift 2
  log "$name"
  t0=$(date +%s)
  "$@" > "$logfile" 2>&1 || rc=$?
  if ((rc == 0)); then
    steps+=$'\n'"| $name | ok | $(($(date +%s) - t0)) |"
  else
    failed=1
    steps+=$'\n'"| $name | FAILED (exit $rc; $(basename "$logfile")) | $(($(date +%s) - t0)) |"
    failure+="== $name (exit $rc), last lines of $logfile:"$'\n'"$(tail -n 25 "$logfile")"$'\n'
    log "$name failed (exit $rc): $(tail -n 1 "$logfile")"
  fi
  return $rc
}
# The whole check stops at a failed step that later steps depend on.
stop() {
  log "stopping: $*"
  exit 1
}

if [[ "${GPU_CHECK_ON_CPU:-0}" == 1 ]]; then
  DEVICE=cpu
  EPOCHS=1
  log "dry run on the CPU (GPU_CHECK_ON_CPU=1): 1 epoch on 2,000 images"
elif ! nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
  failed=1
  failure="no NVIDIA GPU here (nvidia-smi -L lists none); GPU_CHECK_ON_CPU=1 tries the script on the CPU"
  echo "gpu_check: $failure" >&2
  exit 2
fi

# 1. What the build needs, checked before spending minutes on it.
TORCH_PYTHON=${TORCH_PYTHON:-}
if [[ -z "$TORCH_PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then TORCH_PYTHON=.venv/bin/python; else TORCH_PYTHON=python3; fi
fi
# Our libraries' folder is only for our binaries and the build, never for the Python.
ORIGINAL_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}
py() { LD_LIBRARY_PATH=$ORIGINAL_LD_LIBRARY_PATH "$TORCH_PYTHON" "$@"; }

# A full CUDA toolkit: nvcc, the runtime's headers and the cuBLAS/cuSPARSE/cuSOLVER headers that
# ATen/cuda/CUDAContext.h includes.
full_toolkit() {
  local root=$1 include
  [[ -x "$root/bin/nvcc" ]] || return 1
  for include in "$root/include" "$root/targets/x86_64-linux/include"; do
    [[ -f "$include/cuda_runtime_api.h" && -f "$include/cublas_v2.h" && -f "$include/cusparse.h" &&
      -f "$include/cusolverDn.h" ]] && return 0
  done
  return 1
}
check_requirements() {
  local problems=() candidates=() c torch_lib missing
  command -v cmake > /dev/null || problems+=("no cmake on PATH")
  command -v c++ > /dev/null || command -v g++ > /dev/null || problems+=("no C++ compiler (c++/g++) on PATH")
  # stdout only: importing torch may warn on stderr (e.g. without numpy).
  if ! TORCH=$(py -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2> "$CHECK_DIR/torch-import.log"); then
    problems+=("$TORCH_PYTHON cannot import torch: $(tail -n 1 "$CHECK_DIR/torch-import.log")")
    TORCH=""
  else
    echo "PyTorch $(py -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2> /dev/null) at $TORCH"
  fi
  if [[ -n "${CUDA_HOME:-}" ]]; then
    candidates=("$CUDA_HOME")
  else
    if command -v nvcc > /dev/null; then candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"); fi
    candidates+=(/usr/local/cuda /usr/local/cuda-*)
  fi
  CUDA_HOME=""
  for c in "${candidates[@]}"; do
    if full_toolkit "$c"; then CUDA_HOME=$c; break; fi
  done
  if [[ -z "$CUDA_HOME" ]]; then
    problems+=("no full CUDA toolkit (nvcc with the cuda_runtime_api.h, cublas_v2.h, cusparse.h, cusolverDn.h headers) in: ${candidates[*]}; set CUDA_HOME")
  else
    echo "CUDA toolkit: $CUDA_HOME ($("$CUDA_HOME/bin/nvcc" --version | tail -n 1))"
  fi
  if [[ -n "${CIFAR_EXP_DEPS_PREFIX:-}" ]]; then
    if [[ ! -d "$CIFAR_EXP_DEPS_PREFIX/usr/lib/x86_64-linux-gnu" ]]; then
      problems+=("CIFAR_EXP_DEPS_PREFIX=$CIFAR_EXP_DEPS_PREFIX has no usr/lib/x86_64-linux-gnu (make it with scripts/gpu_deps.sh)")
    else
      missing=$(find "$CIFAR_EXP_DEPS_PREFIX/usr/lib" -name 'lib*.so.*' -type f -print0 |
        xargs -0 -r ldd 2> /dev/null | grep 'not found' | sort -u | tr -s ' \t' ' ')
      [[ -z "$missing" ]] || problems+=("libraries in $CIFAR_EXP_DEPS_PREFIX need what is not here:$missing")
    fi
  fi
  if [[ -n "$TORCH" ]]; then
    for torch_lib in "$TORCH"/lib/libtorch_cpu.so "$TORCH"/lib/libtorch_cuda.so; do
      [[ -f "$torch_lib" ]] || continue
      # PyTorch finds its CUDA wheels through its own runpath; ldd follows it.
      missing=$(ldd "$torch_lib" 2> /dev/null | grep 'not found' | sort -u | tr -s ' \t' ' ')
      [[ -z "$missing" ]] || problems+=("$torch_lib needs what is not here:$missing")
    done
  fi
  if ((${#problems[@]})); then
    printf 'gpu_check: %s\n' "${problems[@]}"
    return 1
  fi
}
if [[ -n "${CIFAR_EXP_DEPS_PREFIX:-}" ]]; then
  CIFAR_EXP_DEPS_PREFIX=$(cd "$CIFAR_EXP_DEPS_PREFIX" 2> /dev/null && pwd) ||
    stop "CIFAR_EXP_DEPS_PREFIX is not a folder"
  multiarch=$CIFAR_EXP_DEPS_PREFIX/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH="$multiarch:$multiarch/hdf5/serial${ORIGINAL_LD_LIBRARY_PATH:+:$ORIGINAL_LD_LIBRARY_PATH}"
  # Debian's multiarch headers (libjpeg's jconfig.h), which the compiler searches only under /usr.
  export CPATH="$CIFAR_EXP_DEPS_PREFIX/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
fi
# Run in this shell (not through step) so that TORCH and CUDA_HOME stay set.
log "requirements"
t0=$(date +%s)
if check_requirements > "$CHECK_DIR/requirements.log" 2>&1; then
  steps+=$'\n'"| requirements (toolkit, torch, libraries) | ok | $(($(date +%s) - t0)) |"
  cat "$CHECK_DIR/requirements.log"
else
  failed=1
  steps+=$'\n'"| requirements (toolkit, torch, libraries) | FAILED | $(($(date +%s) - t0)) |"
  failure+="== requirements:"$'\n'"$(cat "$CHECK_DIR/requirements.log")"$'\n'
  stop "$(tail -n 1 "$CHECK_DIR/requirements.log")"
fi
export PATH=$CUDA_HOME/bin:$PATH CUDA_HOME CUDAToolkit_ROOT=$CUDA_HOME

# 2. Build against PyTorch's libtorch.
prefix="$TORCH/share/cmake;$TORCH"
extra=()
if [[ -n "${CIFAR_EXP_DEPS_PREFIX:-}" ]]; then
  prefix="$prefix;$CIFAR_EXP_DEPS_PREFIX/usr"
  extra=("-DHDF5_ROOT=$multiarch/hdf5/serial")
fi
build() {
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$prefix" \
    "-DTorch_DIR=$TORCH/share/cmake/Torch" "${extra[@]}" &&
    cmake --build "$BUILD" -j "$(nproc)" &&
    "$BUILD/cifar-exp" --version > "$CHECK_DIR/version.txt"
}
step "build into $BUILD" "$CHECK_DIR/build.log" build || stop "the build failed"
missing=$(ldd "$BUILD/cifar-exp" "$BUILD/tests/cifar_exp_tests" | grep 'not found' | sort -u)
if [[ -n "$missing" ]]; then
  failed=1
  failure+="== built binaries miss libraries:"$'\n'"$missing"$'\n'
  stop "the built binaries miss libraries"
fi
cat "$CHECK_DIR/version.txt"

# 3. The device suite (CPU, first GPU, last GPU), or the whole suite.
if [[ "$SUITE" == device ]]; then
  step "device suite" "$CHECK_DIR/suite.log" "$BUILD/tests/cifar_exp_tests" \
    --gtest_filter='Devices/*:Device.*:Training.*:Checkpoint.*'
  suite_line=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ tests?[,.]' "$CHECK_DIR/suite.log" | tr '\n' ' ' || true)
else
  step "whole suite" "$CHECK_DIR/suite.log" ctest --test-dir "$BUILD" --output-on-failure \
    -j "$(nproc)" -E '^slurm_sweep$'
  suite_line=$(grep -E 'tests passed, [0-9]+ tests failed' "$CHECK_DIR/suite.log" || true)
fi
suite_line=${suite_line:-"no summary line (crashed? see suite.log)"}

# 4. Data and configurations: the default data folder and the notebook configurations as the
# binary defines them.
notebook_configs=()
prepare_data() {
  [[ -n "$DATA_DIR" ]] || DATA_DIR=$("$BUILD/cifar-exp" --print-default data_dir) || return
  mapfile -t notebook_configs < <("$BUILD/cifar-exp" --print-default notebook_configs)
  ((${#notebook_configs[@]})) || { echo "cifar-exp --print-default notebook_configs: none"; return 1; }
  if [[ "$DEVICE" == cpu ]]; then
    DATA_DIR=$CHECK_DIR/data
    data_note="generated, 2,000 + 500 images (dry run)"
    "$BUILD/tests/make_test_data" "$DATA_DIR" 2000 500
  elif [[ ! -f "$DATA_DIR/test_batch.bin" ]]; then
    DATA_DIR=$CHECK_DIR/data
    data_note="generated, 50,000 + 10,000 images (no CIFAR-10 here): accuracies are not CIFAR-10's"
    "$BUILD/tests/make_test_data" "$DATA_DIR" 50000 10000
  else
    data_note="CIFAR-10 ($DATA_DIR)"
  fi
}
log "data"
prepare_data > "$CHECK_DIR/data.log" 2>&1 || stop "making the data failed: $(tail -n 1 "$CHECK_DIR/data.log")"
mkdir -p "$CHECK_DIR/configs"
for name in "${notebook_configs[@]}"; do
  py - "$name" "$CHECK_DIR/configs/$name.json" "$WEIGHTS" << 'EOF' || stop "writing the configs failed"
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

# 5. The four configurations, then bench for each. Each run has an output folder of its own, so
# the run is read back through `compare --runs` (no log scraping).
bench_json() {
  "$BUILD/cifar-exp" bench --config "$1" --data-dir "$DATA_DIR" --device "$DEVICE" --format json > "$2"
}
limits=()
if [[ "$DEVICE" == cpu ]]; then limits=(--train-limit 2000 --test-limit 500); fi
runs_total=0
for name in "${notebook_configs[@]}"; do
  config=$CHECK_DIR/configs/$name.json
  start=$(date +%s.%N)
  rm -rf "$CHECK_DIR/runs/$name"
  step "run $name ($EPOCHS epochs)" "$CHECK_DIR/run-$name.log" \
    "$BUILD/cifar-exp" --config "$config" --data-dir "$DATA_DIR" --output-dir "$CHECK_DIR/runs/$name" \
    --epochs "$EPOCHS" --seed 1 --device "$DEVICE" "${limits[@]}"
  wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
  runs_total=$(awk -v a="$runs_total" -v b="$wall" 'BEGIN { printf "%.1f", a + b }')
  listing=$CHECK_DIR/run-$name.runs.json
  "$BUILD/cifar-exp" compare --runs --format json "$CHECK_DIR/runs/$name" > "$listing" 2> /dev/null ||
    echo '[]' > "$listing"
  step "bench $name" "$CHECK_DIR/bench-$name.log" bench_json "$config" "$CHECK_DIR/bench-$name.json"
  row=$(py - "$name" "$listing" "$CHECK_DIR/bench-$name.json" "$wall" << 'EOF'
import json, os, sys
name, listing, bench_path, wall = sys.argv[1:]
def load(path, empty):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return empty
runs = load(listing, [])
summary = (runs[0].get("summary") if runs else None) or {}
bench = load(bench_path, {})
acc = summary.get("test_accuracy")
def num(v, fmt):
    return format(v, fmt) if isinstance(v, (int, float)) else "–"
print(f"| {summary.get('name', name)} | {num(acc * 100 if acc is not None else None, '.2f')}% "
      f"| {num(summary.get('train_seconds'), '.1f')} | {float(wall):.1f} "
      f"| {num(bench.get('train_images_per_second'), ',.0f')} "
      f"| {num(bench.get('eval_images_per_second'), ',.0f')} |")
EOF
  ) || row="| $name | (could not read its results) | | | | |"
  table+="${table:+$'\n'}$row"
done
table+=$'\n'"| the four runs together (wall, with process start and data loading) | | | $runs_total | | |"
exit "$failed"
