#!/usr/bin/env bash
# Grid sweep smoke test: the smoke_aug config over a 2 x 2 grid (training.batch_size x
# augmentation.horizontal_flip) with 2 seeds through scripts/sweep.sh on a tiny generated data
# set. Checks: 8 runs announced and run, each run's config carries its grid point, `compare` has
# one row per grid point with the two keys as columns, a re-run redoes none, an interrupted grid
# run is resumed in its folder, and a bad grid value stops the sweep before any run.
# Usage: grid_sweep_smoke.sh CIFAR_EXP_BINARY MAKE_TEST_DATA_BINARY
set -euo pipefail
BIN=$1
MAKE_DATA=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "grid_sweep_smoke: FAIL: $*" >&2; exit 1; }

"$MAKE_DATA" "$TMP/data" 300 100
export CIFAR_EXP_BIN=$BIN
export PLOT_PYTHON=${PLOT_PYTHON:-/nonexistent}  # plots are tested on their own
sweep() {
  "$ROOT/scripts/sweep.sh" --configs smoke_aug --seeds 2 --grid training.batch_size=32,64 \
    --grid augmentation.horizontal_flip=false,true --data-dir "$TMP/data" --output-dir "$TMP/out" \
    --threads 2 --set data.train_limit=256 --set data.test_limit=64 "$@"
}
summaries() { find "$TMP/out" -name summary.json | wc -l; }

sweep > "$TMP/first.txt" || { cat "$TMP/first.txt"; fail "first sweep failed"; }
cat "$TMP/first.txt"
grep -q '^Sweep: 1 configuration(s) x 4 grid point(s) x 2 seed(s) = 8 runs (0 of them completed before).$' \
  "$TMP/first.txt" || fail "no announcement of 8 runs"
[[ $(grep -c '^\[[1-8]/8\] smoke_aug+training.batch_size=[0-9]*+augmentation.horizontal_flip=[a-z]* seed [12]: running ... done' "$TMP/first.txt") == 8 ]] ||
  fail "expected 8 progress lines [i/8]"
[[ $(summaries) == 8 ]] || fail "expected 8 run folders, got $(summaries)"

# Each run's recorded config is its grid point, plus the sweep's --set values and seed.
for f in "$TMP"/out/smoke_aug+*/config.json; do
  folder=$(basename "$(dirname "$f")")
  batch=$(sed -n 's/^smoke_aug+training.batch_size=\([0-9]*\)+.*/\1/p' <<< "$folder")
  flip=$(sed -n 's/.*+augmentation.horizontal_flip=\([a-z]*\)-seed[0-9]*-20.*/\1/p' <<< "$folder")
  grep -q "^    \"batch_size\": $batch,$" "$f" || fail "$folder: config.json has not batch_size $batch"
  grep -q "^    \"horizontal_flip\": $flip,$" "$f" || fail "$folder: config.json has not horizontal_flip $flip"
  grep -q '^    "train_limit": 256,\{0,1\}$' "$f" || fail "$folder: --set data.train_limit not applied"
done

# compare: one row per grid point, the varied keys as columns after the configuration.
"$BIN" compare "$TMP/out" --format csv > "$TMP/table.csv"
cat "$TMP/table.csv"
head -n 1 "$TMP/table.csv" | grep -q '^configuration,training.batch_size,augmentation.horizontal_flip,model,augmentation,' ||
  fail "grid keys are not columns: $(head -n 1 "$TMP/table.csv")"
[[ $(tail -n +2 "$TMP/table.csv" | wc -l) == 4 ]] || fail "expected 4 rows"
for batch in 32 64; do
  for flip in false true; do
    line=$(grep "^smoke_aug+training.batch_size=$batch+augmentation.horizontal_flip=$flip,$batch,$flip,small_cnn," "$TMP/table.csv") ||
      fail "no row for batch $batch flip $flip"
    IFS=',' read -r -a f <<< "$line"
    [[ "${f[7]}" == 2 && "${f[8]}" == 0 ]] || fail "batch $batch flip $flip: expected 2 complete runs, got runs=${f[7]} incomplete=${f[8]}"
  done
done
"$BIN" compare "$TMP/out" --format markdown --columns all > "$TMP/table.md"
grep -q '^| configuration | training.batch_size | augmentation.horizontal_flip | model |' "$TMP/table.md" ||
  fail "markdown table has no grid columns"
# One configuration: each grid point is its own baseline (the baseline configuration's row at
# the same grid point).
[[ $(grep -c '^| smoke_aug+.* | baseline |$' "$TMP/table.md") == 4 ]] || fail "grid rows are not their own baseline"

# A re-run redoes nothing.
sweep > "$TMP/second.txt" || { cat "$TMP/second.txt"; fail "second sweep failed"; }
grep -q '= 8 runs (8 of them completed before).$' "$TMP/second.txt" || { cat "$TMP/second.txt"; fail "second sweep: not 8 complete"; }
[[ $(grep -c 'already complete (' "$TMP/second.txt") == 8 ]] || { cat "$TMP/second.txt"; fail "second sweep re-ran runs"; }
[[ $(summaries) == 8 ]] || fail "second sweep made run folders"

# An interrupted grid run (with its checkpoint) is resumed in its folder, not started again.
summary=$(grep -l '^  "seed": 2,' "$TMP"/out/smoke_aug+training.batch_size=64+augmentation.horizontal_flip=true-*/summary.json)
[[ -f "$(dirname "$summary")/checkpoint.pt" ]] || fail "no checkpoint.pt in $(dirname "$summary")"
sed -i 's/^  "status": "completed"/  "status": "interrupted"/' "$summary"
sweep > "$TMP/third.txt" || { cat "$TMP/third.txt"; fail "third sweep failed"; }
[[ $(grep -c 'already complete (' "$TMP/third.txt") == 7 ]] || { cat "$TMP/third.txt"; fail "third sweep: expected 7 skipped runs"; }
grep -q '^  "status": "completed"' "$summary" || fail "interrupted grid run not completed by the sweep"
grep -q '^  "resumed": 1,' "$summary" || fail "interrupted grid run was not resumed"
[[ $(summaries) == 8 ]] || fail "resume made a new run folder"

# A bad grid value stops the sweep before anything runs, naming the key and the value.
if sweep --grid training.epochs=1,ten > "$TMP/bad.txt" 2>&1; then fail "bad grid value accepted"; fi
grep -q 'training.epochs=ten.*--set training.epochs: must be a positive integer, got "ten"' "$TMP/bad.txt" ||
  { cat "$TMP/bad.txt"; fail "bad grid value: unexpected message"; }
grep -q 'running' "$TMP/bad.txt" && fail "bad grid: a run started"
[[ $(summaries) == 8 ]] || fail "bad grid: run folders made"
# Into a folder that does not exist yet: refused without creating it (nor its logs/).
if sweep --grid training.epochs=1,ten --output-dir "$TMP/new" > "$TMP/bad-new.txt" 2>&1; then
  fail "bad grid value accepted (new folder)"
fi
[[ ! -e $TMP/new ]] || fail "a refused sweep left $TMP/new behind: $(find "$TMP/new")"
if sweep --grid training.seed=1,2 > "$TMP/seed.txt" 2>&1; then fail "--grid training.seed accepted"; fi
grep -q 'use --seeds' "$TMP/seed.txt" || fail "--grid training.seed: unexpected message"
# A grid over a key that does not apply to the model (dropout of VGG16's head on a small CNN) is
# refused before anything runs: two such runs would differ in name only.
if sweep --grid model.dropout=0.2,0.5 --output-dir "$TMP/inapplicable" > "$TMP/inapplicable.txt" 2>&1; then
  fail "a grid over model.dropout on a small CNN was accepted"
fi
grep -q 'model.dropout: only applies to model.type "vgg16_transfer"' "$TMP/inapplicable.txt" ||
  { cat "$TMP/inapplicable.txt"; fail "inapplicable grid key: unexpected message"; }
[[ ! -e $TMP/inapplicable ]] || fail "a refused sweep left $TMP/inapplicable behind"
echo "grid_sweep_smoke: 2 x 2 grid x 2 seeds = 8 runs, 4 table rows with the grid keys as columns, a re-run skipped all 8, an interrupted run was resumed, a bad value and an inapplicable key stopped the sweep and created nothing"
