#!/usr/bin/env bash
# Runs one (config, seed) task of a sweep: cifar-exp into OUT, console output into LOG. When the
# run fails, records OUT/<name>-seed<SEED>-failed/failure.json so that `cifar-exp compare` lists
# it. Shared by the local sweep and the Slurm array tasks (scripts/sweep.sh).
#   run_one.sh BIN OUT CONFIG NAME SEED LOG [cifar-exp options...]
# Exit status: cifar-exp's.
set -uo pipefail
BIN=$1 OUT=$2 FILE=$3 NAME=$4 SEED=$5 LOG=$6
shift 6
json_escape() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/ /g' | tr -d '\n\r'; }
rm -rf "$OUT/$NAME-seed$SEED-failed"
"$BIN" --config "$FILE" --seed "$SEED" --output-dir "$OUT" "$@" > "$LOG" 2>&1
code=$?
if ((code != 0)); then
  error=$(grep 'cifar-exp: error:' "$LOG" | tail -n 1 | sed 's/^cifar-exp: error: //')
  [[ -n "$error" ]] || error="exited with status $code (see $LOG)"
  mkdir -p "$OUT/$NAME-seed$SEED-failed"
  printf '{"name": "%s", "seed": %d, "config": "%s", "exit_code": %d, "error": "%s", "log": "%s"}\n' \
    "$NAME" "$SEED" "$(printf %s "$FILE" | json_escape)" "$code" \
    "$(printf %s "$error" | json_escape)" "$(printf %s "$LOG" | json_escape)" \
    > "$OUT/$NAME-seed$SEED-failed/failure.json"
fi
exit $code
