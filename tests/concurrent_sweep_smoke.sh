#!/usr/bin/env bash
# Two sweeps started at once on the same output folder: every (config, seed) runs exactly once,
# neither sweep fails, and what one skips the other completes. Then a run left "running" by a
# killed process is reported as crashed and the next sweep resumes it.
#   concurrent_sweep_smoke.sh CIFAR_EXP MAKE_TEST_DATA
set -euo pipefail
BIN=$1 MAKE_DATA=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "concurrent_sweep_smoke: FAIL: $*" >&2; exit 1; }

"$MAKE_DATA" "$WORK/data" 600 100 > /dev/null
for c in a b; do
  cat > "$WORK/$c.json" << JSON
{"name": "$c", "training": {"epochs": 2, "batch_size": 32, "threads": 1, "device": "cpu"}}
JSON
done
export CIFAR_EXP_BIN=$BIN
export PLOT_PYTHON=/nonexistent  # plots are tested on their own
sweep() {
  "$ROOT/scripts/sweep.sh" --configs "$WORK/a.json,$WORK/b.json" --seeds 2 \
    --data-dir "$WORK/data" --output-dir "$WORK/out" > "$WORK/sweep$1.log" 2>&1
}
sweep 1 & first=$!
sweep 2 & second=$!
wait $first || fail "first sweep failed: $(tail -5 "$WORK/sweep1.log")"
wait $second || fail "second sweep failed: $(tail -5 "$WORK/sweep2.log")"

# Exactly one run folder per (config, seed), each completed.
listing=$("$BIN" compare --runs --format csv "$WORK/out" | tail -n +2)
[[ $(printf '%s\n' "$listing" | wc -l) == 4 ]] || fail "expected 4 runs, got: $listing"
[[ $(printf '%s\n' "$listing" | cut -d, -f2,3 | sort -u | wc -l) == 4 ]] || fail "a run ran twice: $listing"
printf '%s\n' "$listing" | cut -d, -f4 | grep -vx completed && fail "not all completed: $listing"
skipped=$(cat "$WORK"/sweep?.log | grep -c -E 'skipped|already complete' || true)
echo "concurrent_sweep_smoke: 4 runs, each once ($skipped task line(s) said skipped or already complete)"

# A crash: kill a run after its first checkpoint; compare says crashed; a sweep resumes it.
cat > "$WORK/c.json" << JSON
{"name": "c", "training": {"epochs": 30, "batch_size": 32, "threads": 1, "device": "cpu", "seed": 1}}
JSON
"$BIN" --config "$WORK/c.json" --data-dir "$WORK/data" --output-dir "$WORK/out2" > /dev/null 2>&1 & pid=$!
for _ in $(seq 600); do
  compgen -G "$WORK/out2/c-*/checkpoint.pt" > /dev/null && break
  sleep 0.05
done
kill -9 $pid
wait $pid 2> /dev/null || true
status=$("$BIN" compare --runs --format csv "$WORK/out2" | tail -n +2 | cut -d, -f4)
[[ $status == crashed ]] || fail "a killed run should be crashed, compare says '$status'"
"$BIN" compare "$WORK/out2" | grep -q crashed || fail "the comparison table does not say crashed"
"$ROOT/scripts/sweep.sh" --configs "$WORK/c.json" --seeds 1 --data-dir "$WORK/data" \
  --output-dir "$WORK/out2" > "$WORK/sweep3.log" 2>&1 || fail "sweep after the crash failed: $(cat "$WORK/sweep3.log")"
status=$("$BIN" compare --runs --format csv "$WORK/out2" | tail -n +2 | cut -d, -f4)
[[ $status == completed ]] || fail "the resumed run should be completed, compare says '$status'"
grep -q "resuming" "$WORK/out2/logs/"*.log || fail "the sweep did not resume the crashed run: $(cat "$WORK/sweep3.log")"
echo "concurrent_sweep_smoke: crashed run detected and resumed"
