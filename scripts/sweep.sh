#!/usr/bin/env bash
# Runs a sweep. Locally this is `cifar-exp sweep` itself: every configuration at every grid point
# for N seeds, each run in its own process (--jobs at once), then the comparison table and plots.
# With --slurm, the runs still to do are submitted as one Slurm job array (task I runs
# `cifar-exp sweep --task I` with the same options) plus a final `compare` job.
#
#   scripts/sweep.sh [cifar-exp sweep options, e.g. --configs LIST --seeds N
#                     --grid KEY=V1,V2,... --jobs N --output-dir DIR --data-dir DIR --epochs 2
#                     --set KEY=VALUE]
#                    [--slurm [--partition P] [--gpus-per-task N] [--cpus-per-task N]
#                             [--time T] [--sbatch-args "..."]]
#
# `cifar-exp sweep --help` lists the sweep's options; docs/sweeps-and-comparison.md describes its
# output folder. Needs: bash 4.4+, a built cifar-exp (build/cifar-exp, or $CIFAR_EXP_BIN). --slurm:
# sbatch on PATH, and the output folder on a filesystem the compute nodes share.
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
ARGS=()  # cifar-exp sweep's options, passed on as they are
SLURM=0
PARTITION="" GPUS="" CPUS=1 TIME_LIMIT="" SBATCH_ARGS=""
while (($#)); do
  case "$1" in
    --slurm) SLURM=1; shift ;;
    --partition) PARTITION=${2:?--partition needs a name}; shift 2 ;;
    --gpus-per-task) GPUS=${2:?--gpus-per-task needs a number}; shift 2 ;;
    --cpus-per-task) CPUS=${2:?--cpus-per-task needs a number}; shift 2 ;;
    --time) TIME_LIMIT=${2:?--time needs a limit}; shift 2 ;;
    --sbatch-args) SBATCH_ARGS=${2?--sbatch-args needs a string}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [[ ! -x "$BIN" ]]; then
  echo "sweep: $BIN not found: build first (scripts/build.sh) or set CIFAR_EXP_BIN" >&2; exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
((SLURM)) || exec "$BIN" sweep "${ARGS[@]}"

command -v sbatch > /dev/null || { echo "sweep: --slurm: sbatch not found on PATH" >&2; exit 2; }
# The plan (cifar-exp resolves every config and grid point before anything is created, makes the
# folder and records the sweep's order): one TSV line per task after the header, with its index,
# status, seed, name, config, output folder and completed run.
# Its "Sweep: ... runs" line (stderr) is part of this script's report; its errors stay on stderr.
said=$(mktemp) || exit
plan=$("$BIN" sweep --plan --prepare --format tsv "${ARGS[@]}" 2> "$said")
code=$?
if ((code != 0)); then cat "$said" >&2; rm -f "$said"; exit "$code"; fi
cat "$said"
rm -f "$said"
pending=() total=0
while IFS=$'\t' read -r index status seed name _config out run_dir _set; do
  OUT=$out total=$((total + 1))
  if [[ $status == completed ]]; then
    echo "[$((index + 1))] $name seed $seed: already complete ($run_dir)"
  else
    pending+=("$index")
  fi
done < <(printf '%s\n' "$plan" | tail -n +2)
if ((${#pending[@]} == 0)); then
  echo "Nothing to submit: all $total runs are complete."
  # The local sweep then only compares (and plots).
  exec "$BIN" sweep "${ARGS[@]}"
fi

# Array indices as ranges: 0-3,7,9-10.
array_spec() {
  local spec="" first=$1 last=$1 i
  shift
  for i in "$@" ""; do
    if [[ -n $i && $i == $((last + 1)) ]]; then last=$i; continue; fi
    spec+="${spec:+,}$first$([[ $last != "$first" ]] && echo "-$last")"
    first=$i last=$i
  done
  echo "$spec"
}

SL="$OUT/slurm"
mkdir -p "$SL/logs"
# Task I runs task I of the same plan, from this folder (relative config paths stay valid).
{
  echo '#!/usr/bin/env bash'
  printf 'cd %q || exit\n' "$PWD"
  # shellcheck disable=SC2016  # $SLURM_ARRAY_TASK_ID: expanded by each task, not here
  printf 'exec %q sweep --task "$SLURM_ARRAY_TASK_ID"' "$BIN"
  for a in "${ARGS[@]}"; do printf ' %q' "$a"; done
  echo
} > "$SL/task.sh"
{
  echo '#!/usr/bin/env bash'
  # comparison.md/.csv: the names the local sweep writes (SweepFolder, records/sweep_folder.h)
  printf '%q compare %q --format markdown --out %q\n' "$BIN" "$OUT" "$OUT/comparison.md"
  printf '%q compare %q --format csv --out %q > /dev/null\n' "$BIN" "$OUT" "$OUT/comparison.csv"
} > "$SL/compare.sh"
chmod +x "$SL/task.sh" "$SL/compare.sh"
opts=(--parsable --job-name cifar-exp-sweep --cpus-per-task "$CPUS")
[[ -n "$PARTITION" ]] && opts+=(--partition "$PARTITION")
[[ -n "$TIME_LIMIT" ]] && opts+=(--time "$TIME_LIMIT")
read -r -a extra_sbatch <<< "$SBATCH_ARGS"
task_opts=("${opts[@]}")
[[ -n "$GPUS" ]] && task_opts+=(--gpus-per-task "$GPUS")
array=$(sbatch "${task_opts[@]}" "${extra_sbatch[@]}" --array "$(array_spec "${pending[@]}")" \
  --output "$SL/logs/task_%A_%a.log" "$SL/task.sh") || { echo "sweep: sbatch failed" >&2; exit 1; }
array=${array%%;*}
final=$(sbatch "${opts[@]}" "${extra_sbatch[@]}" --job-name cifar-exp-compare \
  --dependency "afterany:$array" --output "$SL/logs/compare_%j.log" "$SL/compare.sh") ||
  { echo "sweep: sbatch of the compare job failed" >&2; exit 1; }
final=${final%%;*}
echo "Submitted ${#pending[@]} run(s) as job array $array and the comparison as job $final (afterany)."
echo "Watch: squeue -j $array,$final    Logs: $OUT/logs/ and $SL/logs/"
echo "Table when done: $OUT/comparison.md (then: scripts/plot_runs.py $OUT --out $OUT/plots" \
  "--cifar-exp $BIN)"
