#!/usr/bin/env bash
# Runs every configuration for N seeds, one run after another, then prints the comparison table
# (cifar-exp compare) and draws plots when Python 3 with matplotlib is available.
#
#   scripts/sweep.sh [--configs LIST] [--seeds N] [--data-dir DIR] [--output-dir DIR]
#                    [extra cifar-exp options, e.g. --epochs 2 --threads 2]
#
# LIST: comma-separated config files or names of files in configs/ (default: the four notebook
# configs). Seeds are 1..N (default 1). Output: DIR (default runs/sweep) holds one folder per
# run, logs/ with each run's console output, comparison.md/.csv and plots/.
# A failed run is reported (and recorded in DIR/<name>-seed<S>-failed/failure.json so that the
# table shows it) and the sweep goes on; the exit status is 0 only if every run succeeded.
# Re-running with the same output folder skips runs already completed (their summary.json says
# status "completed" for that config name and seed).
# Needs: bash, a built cifar-exp (build/cifar-exp, or $CIFAR_EXP_BIN). Plots: /usr/bin/python3
# with python3-matplotlib (or $PLOT_PYTHON).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CIFAR_EXP_BIN:-$ROOT/build/cifar-exp}
CONFIGS="no_aug_no_tl,aug_no_tl,no_aug_tl,aug_tl"
SEEDS=1
OUT=runs/sweep
DATA_ARGS=()
EXTRA=()

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --configs) CONFIGS=${2:?--configs needs a list}; shift 2 ;;
    --seeds) SEEDS=${2:?--seeds needs a number}; shift 2 ;;
    --data-dir) DATA_ARGS=(--data-dir "${2:?--data-dir needs a folder}"); shift 2 ;;
    --output-dir) OUT=${2:?--output-dir needs a folder}; shift 2 ;;
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

# Resolve config names to files and read their names.
config_files=()
IFS=',' read -r -a items <<< "$CONFIGS"
for item in "${items[@]}"; do
  file=$item
  [[ -f "$file" ]] || file="$ROOT/configs/$item.json"
  if [[ ! -f "$file" ]]; then
    echo "sweep: --configs: no config '$item' (neither a file nor configs/$item.json)" >&2; exit 2
  fi
  config_files+=("$file")
done
config_name() { sed -n 's/^[[:space:]]*"name":[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n 1; }

mkdir -p "$OUT/logs" || { echo "sweep: cannot create $OUT" >&2; exit 5; }

# The folder of a completed run of config NAME with seed SEED, if any.
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

json_escape() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/ /g' | tr -d '\n\r'; }

total=$(( ${#config_files[@]} * SEEDS ))
index=0
failed=0
start_all=$SECONDS
for file in "${config_files[@]}"; do
  name=$(config_name "$file")
  for ((seed = 1; seed <= SEEDS; seed++)); do
    index=$((index + 1))
    tag="[$index/$total] $name seed $seed"
    if dir=$(completed_run "$name" "$seed"); then
      echo "$tag: already complete ($dir)"
      continue
    fi
    rm -rf "$OUT/$name-seed$seed-failed"
    log="$OUT/logs/$name-seed$seed.log"
    echo -n "$tag: running ... "
    start=$SECONDS
    "$BIN" --config "$file" --seed "$seed" --output-dir "$OUT" "${DATA_ARGS[@]}" "${EXTRA[@]}" \
      > "$log" 2>&1
    code=$?
    if ((code == 0)); then
      dir=$(sed -n 's/.*Run folder: //p' "$log" | tail -n 1)
      acc=$(sed -n 's/.*Test accuracy \([0-9.]*%\).*/\1/p' "$log" | tail -n 1)
      echo "done in $((SECONDS - start)) s: test accuracy $acc ($dir)"
    else
      failed=$((failed + 1))
      error=$(grep 'cifar-exp: error:' "$log" | tail -n 1 | sed 's/^cifar-exp: error: //')
      [[ -n "$error" ]] || error="exited with status $code (see $log)"
      echo "FAILED (exit $code): $error"
      mkdir -p "$OUT/$name-seed$seed-failed"
      printf '{"name": "%s", "seed": %d, "config": "%s", "exit_code": %d, "error": "%s", "log": "%s"}\n' \
        "$name" "$seed" "$(printf %s "$file" | json_escape)" "$code" \
        "$(printf %s "$error" | json_escape)" "$(printf %s "$log" | json_escape)" \
        > "$OUT/$name-seed$seed-failed/failure.json"
      if ((code == 4)); then
        echo "        weights missing? fetch them with: scripts/download_vgg16_weights.sh"
      fi
    fi
  done
done

echo
echo "Comparison ($OUT, $((SECONDS - start_all)) s):"
"$BIN" compare "$OUT" --out "$OUT/comparison.md" || failed=$((failed + 1))
"$BIN" compare "$OUT" --format csv --out "$OUT/comparison.csv" > /dev/null || true

PLOT_PYTHON=${PLOT_PYTHON:-/usr/bin/python3}
if [[ -x "$PLOT_PYTHON" ]] && "$PLOT_PYTHON" -c 'import matplotlib, numpy' 2> /dev/null; then
  if "$PLOT_PYTHON" "$ROOT/scripts/plot_runs.py" "$OUT" --out "$OUT/plots" > "$OUT/logs/plots.log" 2>&1; then
    echo "Plots: $OUT/plots/ ($(ls "$OUT/plots" | tr '\n' ' '))"
  else
    echo "Plots failed: see $OUT/logs/plots.log"
  fi
else
  echo "Plots skipped: needs Python 3 with matplotlib (Debian: apt-get install python3-matplotlib)"
fi
echo "Table: $OUT/comparison.md"
if ((failed)); then
  echo "sweep: $failed run(s) failed" >&2
  exit 1
fi
