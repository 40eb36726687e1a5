#!/usr/bin/env bash
# Runs one (config, seed) task of a sweep: cifar-exp into OUT, console output into LOG. An
# interrupted run of the same config name and seed in OUT (summary.json status "interrupted" and a
# checkpoint.pt) is resumed with `cifar-exp resume` instead of started again. When the run fails, records OUT/<name>-seed<SEED>-failed/failure.json so that `cifar-exp compare` lists
# it. Shared by the local sweep and the Slurm array tasks (scripts/sweep.sh).
#   run_one.sh BIN OUT CONFIG NAME SEED LOG [cifar-exp options...]
# Exit status: cifar-exp's.
set -uo pipefail
BIN=$1 OUT=$2 FILE=$3 NAME=$4 SEED=$5 LOG=$6
shift 6
json_escape() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/ /g' | tr -d '\n\r'; }
rm -rf "$OUT/$NAME-seed$SEED-failed"

interrupted=""
for f in "$OUT"/*/summary.json; do
  [[ -f "$f" && -f "$(dirname "$f")/checkpoint.pt" ]] || continue
  if grep -q "^  \"name\": \"$NAME\"," "$f" && grep -q "^  \"seed\": $SEED," "$f" &&
     grep -q '^  "status": "interrupted"' "$f"; then
    interrupted=$(dirname "$f")
  fi
done
if [[ -n "$interrupted" ]]; then
  # The run keeps its recorded config; only where the data is and the threads carry over.
  resume_args=()
  while (($#)); do
    case $1 in
      --data-dir|--threads|--device) resume_args+=("$1" "$2"); shift 2 ;;
      *) shift ;;
    esac
  done
  echo "resuming $interrupted" > "$LOG"
  "$BIN" resume "$interrupted" "${resume_args[@]}" >> "$LOG" 2>&1
else
  "$BIN" --config "$FILE" --seed "$SEED" --output-dir "$OUT" "$@" > "$LOG" 2>&1
fi
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
