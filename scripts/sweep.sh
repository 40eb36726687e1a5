#!/usr/bin/env bash
# Runs every configuration (at every grid point) for N seeds, then prints the comparison table
# (cifar-exp compare) and draws plots when Python 3 with matplotlib is available. Locally the runs
# go one after another; with --slurm they are submitted as one Slurm job array plus a final
# `compare` job.
#
#   scripts/sweep.sh [--configs LIST] [--seeds N] [--grid KEY=V1,V2,...]... [--data-dir DIR]
#                    [--output-dir DIR]
#                    [--slurm [--partition P] [--gpus-per-task N] [--cpus-per-task N]
#                             [--time T] [--sbatch-args "..."]]
#                    [extra cifar-exp options, e.g. --epochs 2 --threads 2 --set KEY=VALUE]
#
# LIST: comma-separated config files or names of files in configs/ (default: the four notebook
# configs). Seeds are 1..N (default 1). --grid (repeatable) runs the cross product of the values
# (JSON, as for cifar-exp --set; commas inside [...] {...} "..." do not split) for each config;
# a grid point's run is named <config name>+KEY=VALUE+... `cifar-exp sweep --plan` plans it (and
# resolves every config and grid point before anything runs: an error stops the sweep, exit 2).
# Output: DIR (default runs/sweep) holds one folder per run, logs/ with each run's console
# output, sweep.json (the sweep's order, for compare), comparison.md/.csv and plots/.
# A failed run is reported (and recorded in DIR/<name>-seed<S>-failed/failure.json so that the
# table shows it) and the sweep goes on; the exit status is 0 only if every run succeeded.
# Re-running with the same output folder skips runs already completed (the plan lists a completed
# run of that name and seed in DIR); this holds for both paths.
# Needs: bash 4.4+, a built cifar-exp (build/cifar-exp, or $CIFAR_EXP_BIN). Plots: /usr/bin/python3
# with python3-matplotlib (or $PLOT_PYTHON). --slurm: sbatch on PATH; DIR on a filesystem that
# the compute nodes share.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The binary: $CIFAR_EXP_BIN, else the checkout's build, else the installed one beside these
# scripts (share/cifar-exp/scripts -> bin/cifar-exp), else cifar-exp on PATH.
if [[ -n "${CIFAR_EXP_BIN:-}" ]]; then
  BIN=$CIFAR_EXP_BIN
elif [[ -x "$ROOT/build/cifar-exp" ]]; then
  BIN=$ROOT/build/cifar-exp
elif [[ -x "$ROOT/../../bin/cifar-exp" ]]; then
  BIN=$ROOT/../../bin/cifar-exp
else
  BIN=$(command -v cifar-exp || echo "$ROOT/build/cifar-exp")
fi
CONFIGS=""
OUT=runs/sweep
DATA_ARGS=()
EXTRA=()
SLURM=0
PLAN_ARGS=()  # what `cifar-exp sweep --plan` reads: --configs, --seeds, --grid, and the run options
US=$'\x1f'   # joins a task's --set values in the plan's TSV (values may hold spaces and commas)
PARTITION="" GPUS="" CPUS=1 TIME_LIMIT="" SBATCH_ARGS=""

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --configs) CONFIGS=${2:?--configs needs a list}; shift 2 ;;
    --seeds) PLAN_ARGS+=(--seeds "${2:?--seeds needs a number}"); shift 2 ;;
    --grid) PLAN_ARGS+=(--grid "${2:?--grid needs KEY=V1,V2,...}"); shift 2 ;;
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
if [[ ! -x "$BIN" ]]; then
  echo "sweep: $BIN not found: build first (scripts/build.sh) or set CIFAR_EXP_BIN" >&2; exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# The plan, from cifar-exp (one place for config lookup, the grid grammar, run names and what is
# complete already): every config at every grid point is resolved before anything is created, so
# that a refused sweep leaves no folder behind; then the folder, logs/ and sweep.json (the sweep's
# order, for compare) are made. One TSV line per task: index, status, seed, name, config, the
# completed run's folder ("-" when pending), and the task's --set values joined by $US.
PLAN_ARGS+=(--output-dir "$OUT" "${DATA_ARGS[@]}" "${EXTRA[@]}")
[[ -n $CONFIGS ]] && PLAN_ARGS+=(--configs "$CONFIGS")
# Its "Sweep: ... runs" line (stderr) is part of this script's report (stdout); its errors stay
# on stderr.
said=$(mktemp) || exit
plan=$("$BIN" sweep --plan --prepare --format tsv "${PLAN_ARGS[@]}" 2> "$said")
code=$?
if ((code != 0)); then cat "$said" >&2; rm -f "$said"; exit "$code"; fi
cat "$said"
rm -f "$said"
OUT=$(cd "$OUT" && pwd)
task_file=() task_name=() task_seed=() task_sets=() task_done=()
while IFS=$'\t' read -r _index status seed name file run_dir sets; do
  task_file+=("$file") task_name+=("$name") task_seed+=("$seed") task_sets+=("$sets")
  if [[ $status == completed ]]; then task_done+=("$run_dir"); else task_done+=(""); fi
done < <(printf '%s\n' "$plan" | tail -n +2)
total=${#task_file[@]}
pending=0
for d in "${task_done[@]}"; do [[ -n $d ]] || pending=$((pending + 1)); done

# The --set arguments of a task's settings ($US-joined; empty for none) into the array `set_args`.
set_args_of() {
  local kv
  set_args=()
  [[ -n $1 ]] || return 0
  IFS=$US read -r -a kvs <<< "$1"
  for kv in "${kvs[@]}"; do set_args+=(--set "$kv"); done
}

compare_and_plot() {
  echo "Comparison ($OUT):"
  "$BIN" compare "$OUT" --out "$OUT/comparison.md" || return 1
  "$BIN" compare "$OUT" --format csv --out "$OUT/comparison.csv" > /dev/null || true
  local py=${PLOT_PYTHON:-/usr/bin/python3}
  if [[ -x "$py" ]] && "$py" -c 'import matplotlib, numpy' 2> /dev/null; then
    if "$py" "$ROOT/scripts/plot_runs.py" "$OUT" --out "$OUT/plots" --cifar-exp "$BIN" \
      > "$OUT/logs/plots.log" 2>&1; then
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
  for ((i = 0; i < total; i++)); do
    if [[ -n "${task_done[i]}" ]]; then
      echo "[$((i + 1))/$total] ${task_name[i]} seed ${task_seed[i]}: already complete (${task_done[i]})"
    else
      printf '%s\t%s\t%s\t%s\n' "${task_file[i]}" "${task_name[i]}" "${task_seed[i]}" \
        "${task_sets[i]}" >> "$SL/tasks.tsv"
    fi
  done
  if ((pending == 0)); then
    echo "Nothing to submit: all $total runs are complete."
    compare_and_plot
    exit
  fi
  # One array task per pending (config, grid point, seed); each writes only its own run folder
  # and log.
  {
    echo '#!/usr/bin/env bash'
    echo "line=\$(sed -n \"\$((SLURM_ARRAY_TASK_ID + 1))p\" $(printf %q "$SL/tasks.tsv"))"
    echo 'IFS=$'"'"'\t'"'"' read -r file name seed sets <<< "$line"'
    echo 'set_args=()'
    echo 'IFS=$'"'"'\x1f'"'"' read -r -a kvs <<< "$sets"'
    echo 'for kv in "${kvs[@]}"; do set_args+=(--set "$kv"); done'
    echo "log=$(printf %q "$OUT/logs")/\${name}-seed\${seed}.log"
    printf 'exec %q %q %q "$file" "$name" "$seed" "$log" "${set_args[@]}"' \
      "$ROOT/scripts/run_one.sh" "$BIN" "$OUT"
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
  echo "Table when done: $OUT/comparison.md (then: scripts/plot_runs.py $OUT --out $OUT/plots" \
    "--cifar-exp $BIN)"
  exit 0
fi

failed=0
start_all=$SECONDS
for ((i = 0; i < total; i++)); do
  file=${task_file[i]} name=${task_name[i]} seed=${task_seed[i]}
  tag="[$((i + 1))/$total] $name seed $seed"
  if [[ -n "${task_done[i]}" ]]; then
    echo "$tag: already complete (${task_done[i]})"
    continue
  fi
  log="$OUT/logs/$name-seed$seed.log"
  echo -n "$tag: running ... "
  start=$SECONDS
  set_args_of "${task_sets[i]}"
  "$ROOT/scripts/run_one.sh" "$BIN" "$OUT" "$file" "$name" "$seed" "$log" "${set_args[@]}" \
    "${DATA_ARGS[@]}" "${EXTRA[@]}"
  code=$?
  if ((code == 8)); then
    echo "skipped: $(sed -n 's/^skipped: //p; s/^cifar-exp: error: //p' "$log" | tail -n 1)"
  elif grep -q '^already complete: ' "$log"; then
    echo "already complete ($(sed -n 's/^already complete: //p' "$log"))"
  elif ((code == 0)); then
    dir=$(sed -n 's/.*Run folder: //p' "$log" | tail -n 1)
    acc=$(sed -n 's/.*Test accuracy \([0-9.]*%\).*/\1/p' "$log" | tail -n 1)
    echo "done in $((SECONDS - start)) s: test accuracy $acc ($dir)"
  else
    failed=$((failed + 1))
    error=$(grep 'cifar-exp: error:' "$log" | tail -n 1 | sed 's/^cifar-exp: error: //')
    echo "FAILED (exit $code): ${error:-exited with status $code (see $log)}"
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
