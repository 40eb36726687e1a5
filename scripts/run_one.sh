#!/usr/bin/env bash
# Runs one (config, grid point, seed) task of a sweep: cifar-exp into OUT, console output into
# LOG. NAME is the run's name (a grid point's options include --set name=NAME). A completed run
# of the same name and seed in OUT is not run again; an interrupted or crashed one (with a
# checkpoint.pt) is resumed with `cifar-exp resume` instead of started again; one that another
# process is running is skipped (exit 8). When the run fails, records
# OUT/<name>-seed<SEED>-failed/failure.json, with the run's --set values, so that `cifar-exp
# compare` lists and describes it. Shared by the local sweep and the Slurm array tasks
# (scripts/sweep.sh).
#   run_one.sh BIN OUT CONFIG NAME SEED LOG [cifar-exp options...]
# Exit status: cifar-exp's; 8 when skipped because another process runs it.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=runs_listing.sh
source "$(dirname "${BASH_SOURCE[0]}")/runs_listing.sh"
BIN=$1 OUT=$2 FILE=$3 NAME=$4 SEED=$5 LOG=$6
shift 6
json_escape() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/ /g' | tr -d '\n\r'; }
rm -rf "$OUT/$NAME-seed$SEED-failed"

# One sweep task at a time per (output folder, name, seed), across sweeps and Slurm tasks: the
# decision below (skip, resume or start) and the run itself happen under this lock. cifar-exp
# also locks the run itself (exit 8), for commands started by hand.
mkdir -p "$OUT/.locks"
exec 9> "$OUT/.locks/$NAME-seed$SEED.sweep"
if ! flock -n 9; then
  echo "skipped: $NAME seed $SEED is being run by another sweep" > "$LOG"
  exit 8
fi

# What is there already, as cifar-exp sees it (status crashed = summary says running, process
# gone): completed -> nothing to do; interrupted or crashed with a checkpoint -> resume;
# running elsewhere -> skip.
done_dir="" resumable="" running=""
while IFS=$'\t' read -r dir name seed status; do
  [[ $name == "$NAME" && $seed == "$SEED" ]] || continue
  case $status in
    completed) [[ -n $done_dir ]] || done_dir=$dir ;;
    # "running" here means alive, or on another host (its liveness unknown): `resume` then
    # finds out, through the run's lock, and exits 8 if it really is running.
    interrupted | crashed | running) [[ -f "$dir/checkpoint.pt" ]] && resumable=$dir ;;
  esac
  [[ $status == running ]] && running=$dir
done < <(list_runs "$BIN" "$OUT" 2> /dev/null)
if [[ -n "$done_dir" ]]; then
  echo "already complete: $done_dir" > "$LOG"
  echo "Run folder: $done_dir" >> "$LOG"
  exit 0
fi
if [[ -z "$resumable" && -n "$running" ]]; then
  echo "skipped: $NAME seed $SEED is running in another process ($running)" > "$LOG"
  exit 8
fi

if [[ -n "$resumable" ]]; then
  # The run keeps its recorded config; only where the data is and the threads carry over.
  resume_args=()
  while (($#)); do
    case $1 in
      --data-dir|--threads|--device) resume_args+=("$1" "$2"); shift 2 ;;
      *) shift ;;
    esac
  done
  echo "resuming $resumable" > "$LOG"
  "$BIN" resume "$resumable" "${resume_args[@]}" >> "$LOG" 2>&1
else
  "$BIN" --config "$FILE" --seed "$SEED" --output-dir "$OUT" "$@" > "$LOG" 2>&1
fi
code=$?
if ((code == 8)); then
  exit 8  # another process holds the run: skipped, not failed
fi
if ((code != 0)); then
  # The --set values as a JSON list of strings.
  sets="" previous=""
  for a in "$@"; do
    value=""
    [[ $previous == --set ]] && value=$a
    [[ $a == --set=* ]] && value=${a#--set=}
    [[ -n $value ]] && sets+="${sets:+, }\"$(printf %s "$value" | json_escape)\""
    previous=$a
  done
  error=$(grep 'cifar-exp: error:' "$LOG" | tail -n 1 | sed 's/^cifar-exp: error: //')
  [[ -n "$error" ]] || error="exited with status $code (see $LOG)"
  mkdir -p "$OUT/$NAME-seed$SEED-failed"
  printf '{"name": "%s", "seed": %d, "config": "%s", "set": [%s], "exit_code": %d, "error": "%s", "log": "%s"}\n' \
    "$NAME" "$SEED" "$(printf %s "$FILE" | json_escape)" "$sets" "$code" \
    "$(printf %s "$error" | json_escape)" "$(printf %s "$LOG" | json_escape)" \
    > "$OUT/$NAME-seed$SEED-failed/failure.json"
fi
exit $code
