#!/usr/bin/env bash
# Runs every configuration for N seeds, then prints the comparison table (cifar-exp compare) and
# draws plots when Python 3 with matplotlib is available. Locally the runs go one after another;
# with --slurm they are submitted as one Slurm job array plus a final `compare` job.
#
#   scripts/sweep.sh [--configs LIST] [--seeds N] [--data-dir DIR] [--output-dir DIR]
#                    [--slurm [--partition P] [--gpus-per-task N] [--cpus-per-task N]
#                             [--time T] [--sbatch-args "..."]]
#                    [extra cifar-exp options, e.g. --epochs 2 --threads 2]
#
# LIST: comma-separated config files or names of files in configs/ (default: the four notebook
# configs). Seeds are 1..N (default 1). Output: DIR (default runs/sweep) holds one folder per
# run, logs/ with each run's console output, comparison.md/.csv and plots/.
# A failed run is reported (and recorded in DIR/<name>-seed<S>-failed/failure.json so that the
# table shows it) and the sweep goes on; the exit status is 0 only if every run succeeded.
# Re-running with the same output folder skips runs already completed (their summary.json says
# status "completed" for that config name and seed); this holds for both paths.
# Needs: bash, a built cifar-exp (build/cifar-exp, or $CIFAR_EXP_BIN). Plots: /usr/bin/python3
# with python3-matplotlib (or $PLOT_PYTHON). --slurm: sbatch on PATH; DIR on a filesystem that
# the compute nodes share.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CIFAR_EXP_BIN:-$ROOT/build/cifar-exp}
CONFIGS="no_aug_no_tl,aug_no_tl,no_aug_tl,aug_tl"
SEEDS=1
OUT=runs/sweep
DATA_ARGS=()
EXTRA=()
SLURM=0
PARTITION="" GPUS="" CPUS=1 TIME_LIMIT="" SBATCH_ARGS=""

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --configs) CONFIGS=${2:?--configs needs a list}; shift 2 ;;
    --seeds) SEEDS=${2:?--seeds needs a number}; shift 2 ;;
    --data-dir) DATA_ARGS=(--data-dir "${2:?--data-dir needs a folder}"); shift 2 ;;
    --output-dir) OUT=${2:?--output-dir needs a folder}; shift 2 ;;
    --slurm) SLURM=1; shift ;;
    --partition) PARTITION=${2:?--partition needs a name}; shift 2 ;;
    --gpus-per-task) GPUS=${2:?--gpus-per-task needs a number}; shift 2 ;;
    --cpus-per-task) CPUS=${2:?--cpus-per-task needs a number}; shift 2 ;;
    --time) TIME_LIMIT=${2:?--time needs a limit}; shift 2 ;;
    --sbatch-args) SBATCH_ARGS=${2?--sbatch-args needs a string}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
if ! [[ "$SEEDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "sweep: --seeds: must be a positive integer, got '$SEEDS'" >&2; exit 2
fi
if [[ ! -x "$BIN" ]]; then
  echo "sweep: $BIN not found: build first (scripts/build.sh) or set CIFAR_EXP_BIN" >&2; exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# Resolve config names to files and read their names.
config_files=()
IFS=',' read -r -a items <<< "$CONFIGS"
for item in "${items[@]}"; do
  file=$item
  [[ -f "$file" ]] || file="$ROOT/configs/$item.json"
  if [[ ! -f "$file" ]]; then
    echo "sweep: --configs: no config '$item' (neither a file nor configs/$item.json)" >&2; exit 2
  fi
  config_files+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
done
# The config's top-level "name" (the first "name" key; cifar-exp validates the rest).
config_name() {
  grep -o '"name"[[:space:]]*:[[:space:]]*"[^"]*"' "$1" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'
}

mkdir -p "$OUT/logs" || { echo "sweep: cannot create $OUT" >&2; exit 5; }
OUT=$(cd "$OUT" && pwd)

# The folder of a completed run of config NAME with seed SEED, if any (the resume rule).
completed_run() {
  local name=$1 seed=$2 f
  for f in "$OUT"/*/summary.json; do
    [[ -f "$f" ]] || continue
    if grep -q "^  \"name\": \"$name\"," "$f" && grep -q "^  \"seed\": $seed," "$f" &&
       grep -q '^  "status": "completed"' "$f"; then
      dirname "$f"; return 0
    fi
  done
  return 1
}

# The task list, shared by both paths: one line per (config, seed), tab-separated, with the
# folder of the completed run where there is one.
tasks=()
for file in "${config_files[@]}"; do
  name=$(config_name "$file")
  if [[ ! "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
    echo "sweep: $file: no valid top-level \"name\"" >&2; exit 2
  fi
  for ((seed = 1; seed <= SEEDS; seed++)); do
    done_dir=$(completed_run "$name" "$seed") || done_dir=""
    tasks+=("$file"$'\t'"$name"$'\t'"$seed"$'\t'"$done_dir")
  done
done
total=${#tasks[@]}

compare_and_plot() {
  echo "Comparison ($OUT):"
  "$BIN" compare "$OUT" --out "$OUT/comparison.md" || return 1
  "$BIN" compare "$OUT" --format csv --out "$OUT/comparison.csv" > /dev/null || true
  local py=${PLOT_PYTHON:-/usr/bin/python3}
  if [[ -x "$py" ]] && "$py" -c 'import matplotlib, numpy' 2> /dev/null; then
    if "$py" "$ROOT/scripts/plot_runs.py" "$OUT" --out "$OUT/plots" > "$OUT/logs/plots.log" 2>&1; then
      echo "Plots: $OUT/plots/ ($(ls "$OUT/plots" | tr '\n' ' '))"
    else
      echo "Plots failed: see $OUT/logs/plots.log"
    fi
  else
    echo "Plots skipped: needs Python 3 with matplotlib (Debian: apt-get install python3-matplotlib)"
  fi
  echo "Table: $OUT/comparison.md"
}

if ((SLURM)); then
  command -v sbatch > /dev/null || { echo "sweep: --slurm: sbatch not found on PATH" >&2; exit 2; }
  SL="$OUT/slurm"
  mkdir -p "$SL/logs"
  : > "$SL/tasks.tsv"
  for t in "${tasks[@]}"; do
    IFS=$'\t' read -r file name seed done_dir <<< "$t"
    if [[ -n "$done_dir" ]]; then
      echo "$name seed $seed: already complete ($done_dir)"
    else
      printf '%s\t%s\t%s\n' "$file" "$name" "$seed" >> "$SL/tasks.tsv"
    fi
  done
  pending=$(wc -l < "$SL/tasks.tsv")
  if ((pending == 0)); then
    echo "Nothing to submit: all $total runs are complete."
    compare_and_plot
    exit
  fi
  # One array task per pending (config, seed); each writes only its own run folder and log.
  {
    echo '#!/usr/bin/env bash'
    echo "line=\$(sed -n \"\$((SLURM_ARRAY_TASK_ID + 1))p\" $(printf %q "$SL/tasks.tsv"))"
    echo 'IFS=$'"'"'\t'"'"' read -r file name seed <<< "$line"'
    echo "log=$(printf %q "$OUT/logs")/\${name}-seed\${seed}.log"
    printf 'exec %q %q %q "$file" "$name" "$seed" "$log"' "$ROOT/scripts/run_one.sh" "$BIN" "$OUT"
    for a in "${DATA_ARGS[@]}" "${EXTRA[@]}"; do printf ' %q' "$a"; done
    echo
  } > "$SL/task.sh"
  {
    echo '#!/usr/bin/env bash'
    printf '%q compare %q --out %q\n' "$BIN" "$OUT" "$OUT/comparison.md"
    printf '%q compare %q --format csv --out %q > /dev/null\n' "$BIN" "$OUT" "$OUT/comparison.csv"
  } > "$SL/compare.sh"
  chmod +x "$SL/task.sh" "$SL/compare.sh"
  opts=(--parsable --job-name cifar-exp-sweep --cpus-per-task "$CPUS")
  [[ -n "$PARTITION" ]] && opts+=(--partition "$PARTITION")
  [[ -n "$TIME_LIMIT" ]] && opts+=(--time "$TIME_LIMIT")
  read -r -a extra_sbatch <<< "$SBATCH_ARGS"
  task_opts=("${opts[@]}")
  [[ -n "$GPUS" ]] && task_opts+=(--gpus-per-task "$GPUS")
  array=$(sbatch "${task_opts[@]}" "${extra_sbatch[@]}" --array "0-$((pending - 1))" \
    --output "$SL/logs/task_%A_%a.log" "$SL/task.sh") || { echo "sweep: sbatch failed" >&2; exit 1; }
  array=${array%%;*}
  final=$(sbatch "${opts[@]}" "${extra_sbatch[@]}" --job-name cifar-exp-compare \
    --dependency "afterany:$array" --output "$SL/logs/compare_%j.log" "$SL/compare.sh") ||
    { echo "sweep: sbatch of the compare job failed" >&2; exit 1; }
  final=${final%%;*}
  echo "Submitted $pending run(s) as job array $array and the comparison as job $final (afterany)."
  echo "Watch: squeue -j $array,$final    Logs: $OUT/logs/ and $SL/logs/"
  echo "Table when done: $OUT/comparison.md (then: scripts/plot_runs.py $OUT --out $OUT/plots)"
  exit 0
fi

index=0
failed=0
start_all=$SECONDS
for t in "${tasks[@]}"; do
  IFS=$'\t' read -r file name seed done_dir <<< "$t"
  index=$((index + 1))
  tag="[$index/$total] $name seed $seed"
  if [[ -n "$done_dir" ]]; then
    echo "$tag: already complete ($done_dir)"
    continue
  fi
  log="$OUT/logs/$name-seed$seed.log"
  echo -n "$tag: running ... "
  start=$SECONDS
  "$ROOT/scripts/run_one.sh" "$BIN" "$OUT" "$file" "$name" "$seed" "$log" "${DATA_ARGS[@]}" "${EXTRA[@]}"
  code=$?
  if ((code == 0)); then
    dir=$(sed -n 's/.*Run folder: //p' "$log" | tail -n 1)
    acc=$(sed -n 's/.*Test accuracy \([0-9.]*%\).*/\1/p' "$log" | tail -n 1)
    echo "done in $((SECONDS - start)) s: test accuracy $acc ($dir)"
  else
    failed=$((failed + 1))
    echo "FAILED (exit $code): $(sed -n 's/.*"error": "\(.*\)", "log".*/\1/p' "$OUT/$name-seed$seed-failed/failure.json")"
    ((code == 4)) && echo "        weights missing? fetch them with: scripts/download_vgg16_weights.sh"
  fi
done
echo
echo "Sweep took $((SECONDS - start_all)) s."
compare_and_plot || failed=$((failed + 1))
if ((failed)); then
  echo "sweep: $failed run(s) failed" >&2
  exit 1
fi
