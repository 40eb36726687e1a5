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
# a grid point's run is named <config name>+KEY=VALUE+... Every config and grid point is resolved
# (cifar-exp --print-config) before anything runs; an error there stops the sweep (exit 2).
# Output: DIR (default runs/sweep) holds one folder per run, logs/ with each run's console
# output, sweep.json (the sweep's order, for compare), comparison.md/.csv and plots/.
# A failed run is reported (and recorded in DIR/<name>-seed<S>-failed/failure.json so that the
# table shows it) and the sweep goes on; the exit status is 0 only if every run succeeded.
# Re-running with the same output folder skips runs already completed (`cifar-exp compare --runs`
# lists a completed run of that config name and seed); this holds for both paths.
# Needs: bash 4.4+, a built cifar-exp (build/cifar-exp, or $CIFAR_EXP_BIN). Plots: /usr/bin/python3
# with python3-matplotlib (or $PLOT_PYTHON). --slurm: sbatch on PATH; DIR on a filesystem that
# the compute nodes share.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=runs_listing.sh
source "$ROOT/scripts/runs_listing.sh"
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
CONFIGS="no_aug_no_tl,aug_no_tl,no_aug_tl,aug_tl"
SEEDS=1
OUT=runs/sweep
DATA_ARGS=()
EXTRA=()
SLURM=0
GRID_KEYS=() GRID_VALUES=()  # per key: its values joined by $US
US=$'\x1f'                   # joins lists inside one field (values may hold spaces and commas)
PARTITION="" GPUS="" CPUS=1 TIME_LIMIT="" SBATCH_ARGS=""

die() { echo "sweep: $*" >&2; exit 2; }

# Splits "V1,V2,..." at the commas outside [...], {...} and "...", into the array `values`.
split_values() {
  local text=$1 depth=0 quoted=0 current="" c i
  values=()
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    if ((quoted)); then
      if [[ $c == '\' ]]; then current+=$c; i=$((i + 1)); c=${text:i:1}
      elif [[ $c == '"' ]]; then quoted=0; fi
    else
      case $c in
        '"') quoted=1 ;;
        '[' | '{') depth=$((depth + 1)) ;;
        ']' | '}') depth=$((depth - 1)) ;;
        ',') if ((depth == 0)); then values+=("$current"); current=""; continue; fi ;;
      esac
    fi
    current+=$c
  done
  values+=("$current")
}

# --grid KEY=V1,V2,...: checked here; the values are checked by cifar-exp before anything runs.
add_grid() {
  local spec=$1 key=${1%%=*} v k
  [[ $spec == *=* ]] || die "--grid $spec: expected KEY=V1,V2,..."
  [[ $key =~ ^[a-z0-9_]+(\.[a-z0-9_]+)*$ ]] || die "--grid $spec: not a config key path (e.g. training.epochs)"
  case $key in
    name) die "--grid name: the sweep names each grid point's run itself" ;;
    training.seed) die "--grid training.seed: use --seeds N" ;;
    output.dir | output) die "--grid $key: use --output-dir" ;;
  esac
  for k in "${GRID_KEYS[@]}"; do
    [[ $k == "$key" || $k == "$key".* || $key == "$k".* ]] && die "--grid $key: overlaps --grid $k"
  done
  split_values "${spec#*=}"
  for v in "${values[@]}"; do
    [[ -n $v ]] || die "--grid $spec: empty value"
    [[ $v != *[$'\t\n'$US]* ]] || die "--grid $key: a value holds a tab or newline"
  done
  GRID_KEYS+=("$key")
  GRID_VALUES+=("$(IFS=$US; echo "${values[*]}")")
}

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --configs) CONFIGS=${2:?--configs needs a list}; shift 2 ;;
    --seeds) SEEDS=${2:?--seeds needs a number}; shift 2 ;;
    --grid) add_grid "${2:?--grid needs KEY=V1,V2,...}"; shift 2 ;;
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

# Resolve config names to files as cifar-exp --config does: a path as it is; a bare name, with
# or without .json, in the current folder, then configs/ of the current folder, then the
# shipped configs beside these scripts (the checkout's, or the installed share/cifar-exp/configs).
find_config() {
  local item=$1 file looked=""
  if [[ $item == */* || -f $item ]]; then
    [[ -f $item ]] && { printf %s "$item"; return; }
    echo "sweep: --configs: $item: no such file" >&2; return 1
  fi
  file=${item%.json}.json
  for dir in . configs "$ROOT/configs"; do
    [[ -f "$dir/$file" ]] && { printf %s "$dir/$file"; return; }
    looked+="${looked:+, }$dir/$file"
  done
  echo "sweep: --configs: $item: no such config; looked for $looked" >&2
  return 1
}
config_files=()
IFS=',' read -r -a items <<< "$CONFIGS"
for item in "${items[@]}"; do
  file=$(find_config "$item") || exit 2
  config_files+=("$(cd "$(dirname "$file")" && pwd)/$(basename "$file")")
done
# The grid points: each is its KEY=VALUE settings joined by $US, the first key varying slowest;
# one empty point without --grid.
points=("")
for ((k = 0; k < ${#GRID_KEYS[@]}; k++)); do
  IFS=$US read -r -a values <<< "${GRID_VALUES[k]}"
  next=()
  for point in "${points[@]}"; do
    for v in "${values[@]}"; do next+=("${point:+$point$US}${GRID_KEYS[k]}=$v"); done
  done
  points=("${next[@]}")
done

# A grid point's run name: BASE+KEY=VALUE+..., the value reduced to name characters
# ([0.8, 1.2] -> 0.8_1.2, "reflect" -> reflect).
point_name() {
  local base=$1 point=$2 kv v name=$1
  [[ -n $point ]] || { echo "$base"; return; }
  IFS=$US read -r -a kvs <<< "$point"
  for kv in "${kvs[@]}"; do
    v=$(printf %s "${kv#*=}" | sed -e 's/^[[:space:]]*"\(.*\)"[[:space:]]*$/\1/' \
      -e 's/[^A-Za-z0-9_.-]/_/g' -e 's/__*/_/g' -e 's/^_//' -e 's/_$//')
    name+="+${kv%%=*}=$v"
  done
  echo "$name"
}

# The --set arguments of a task's settings ($US-joined; empty for none) into the array `set_args`.
set_args_of() {
  local kv
  set_args=()
  [[ -n $1 ]] || return 0
  IFS=$US read -r -a kvs <<< "$1"
  for kv in "${kvs[@]}"; do set_args+=(--set "$kv"); done
}

# The resolved config's name (cifar-exp --print-config), or exit 2 with cifar-exp's error: a
# config or grid mistake stops the sweep before any run instead of failing every run.
resolved_name() {
  local what=$1 file=$2 out
  shift 2
  if ! out=$("$BIN" --config "$file" "${DATA_ARGS[@]}" "${EXTRA[@]}" "$@" --print-config 2>&1); then
    die "$what: $(printf %s "$out" | sed 's/^cifar-exp: error: //' | tail -n 1)"
  fi
  printf %s "$out" | sed -n 's/^  "name": "\(.*\)",$/\1/p'
}

# The task list, shared by both paths: one entry per (config, grid point, seed) with the
# settings it passes as --set (the run name first) and the folder of its completed run, if any.
# Every config and grid point is resolved before anything is created: a refused sweep leaves
# no output folder behind.
task_file=() task_name=() task_seed=() task_sets=() task_done=()
for file in "${config_files[@]}"; do
  base=$(resolved_name "$file" "$file") || exit 2
  declare -A seen_names=()
  for point in "${points[@]}"; do
    name=$(point_name "$base" "$point")
    sets=${point:+name=$name$US$point}
    if [[ -n $point ]]; then
      [[ -z ${seen_names[$name]:-} ]] ||
        die "$file: grid points ${seen_names[$name]//$US/ } and ${point//$US/ } both give the run name $name"
      seen_names[$name]=$point
      set_args_of "$sets"
      resolved_name "$file at ${point//$US/ }" "$file" "${set_args[@]}" > /dev/null || exit 2
    fi
    for ((seed = 1; seed <= SEEDS; seed++)); do
      task_file+=("$file") task_name+=("$name") task_seed+=("$seed") task_sets+=("$sets")
    done
  done
  unset seen_names
done

mkdir -p "$OUT/logs" || { echo "sweep: cannot create $OUT" >&2; exit 5; }
OUT=$(cd "$OUT" && pwd)

# Completed runs (the resume rule), as cifar-exp lists them: "NAME<tab>SEED" -> run folder.
declare -A completed=()
listing=$(list_runs "$BIN" "$OUT") || die "cannot list the runs in $OUT"
while IFS=$'\t' read -r run_dir run_name run_seed run_status; do
  [[ $run_status == completed && -z ${completed["$run_name"$'\t'"$run_seed"]:-} ]] &&
    completed["$run_name"$'\t'"$run_seed"]=$run_dir
done <<< "$listing"
for ((t = 0; t < ${#task_file[@]}; t++)); do
  task_done+=("${completed["${task_name[t]}"$'\t'"${task_seed[t]}"]:-}")
done
total=${#task_file[@]}
pending=0
for d in "${task_done[@]}"; do [[ -n $d ]] || pending=$((pending + 1)); done
echo "Sweep: ${#config_files[@]} configuration(s) x ${#points[@]} grid point(s) x $SEEDS seed(s) = $total runs ($((total - pending)) of them completed before)."

# The names listed under KEY in DIR/sweep.json as written below (one name per line).
listed_names() {
  [[ -f "$OUT/sweep.json" ]] || return 0
  sed -n "/^  \"$1\": \[/,/^  \]/s/^    \"\(.*\)\",\{0,1\}\$/\1/p" "$OUT/sweep.json"
}

# DIR/sweep.json: the configurations and run names (configuration x grid point) in sweep order,
# for `compare` (its row order and default --baseline, the first configuration). Names already
# listed by an earlier sweep into DIR stay first, so a sweep that adds seeds to one configuration
# keeps the table's order and baseline. Written whole (temp file + mv): never read half-written.
write_sweep_order() {
  local name base tmp="$OUT/.sweep.json.$$"
  local -a configs runs
  local -A seen=()
  mapfile -t configs < <(listed_names configurations)
  mapfile -t runs < <(listed_names runs)
  for name in "${configs[@]}"; do seen["c/$name"]=1; done
  for name in "${runs[@]}"; do seen["r/$name"]=1; done
  for name in "${task_name[@]}"; do
    base=${name%%+*}
    [[ -n ${seen["c/$base"]:-} ]] || { seen["c/$base"]=1; configs+=("$base"); }
    [[ -n ${seen["r/$name"]:-} ]] || { seen["r/$name"]=1; runs+=("$name"); }
  done
  {
    printf '{\n  "configurations": [\n'
    printf '    "%s",\n' "${configs[@]}" | sed '$s/,$//'
    printf '  ],\n  "runs": [\n'
    printf '    "%s",\n' "${runs[@]}" | sed '$s/,$//'
    printf '  ]\n}\n'
  } > "$tmp" && mv -f "$tmp" "$OUT/sweep.json" ||
    { rm -f "$tmp"; echo "sweep: cannot write $OUT/sweep.json" >&2; exit 5; }
}
write_sweep_order

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
