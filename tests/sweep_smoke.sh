#!/usr/bin/env bash
# CI smoke sweep: the four smoke configs (small CNN / VGG16 with random weights, with and without
# augmentation) on a tiny generated data set, through scripts/sweep.sh and `cifar-exp compare`.
# Checks the table has four complete rows with accuracies in range, then that a second sweep over
# the same folder runs nothing and prints the same table.
# Usage: sweep_smoke.sh CIFAR_EXP_BINARY MAKE_TEST_DATA_BINARY
set -euo pipefail
BIN=$1
MAKE_DATA=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "sweep_smoke: FAIL: $*" >&2; exit 1; }

"$MAKE_DATA" "$TMP/data" 600 300
export CIFAR_EXP_BIN=$BIN
export PLOT_PYTHON=${PLOT_PYTHON:-/nonexistent}  # plots are tested on their own
configs=smoke,smoke_aug,smoke_tl,smoke_aug_tl

"$ROOT/scripts/sweep.sh" --configs "$configs" --seeds 1 --data-dir "$TMP/data" \
  --output-dir "$TMP/out" --threads 2 > "$TMP/first.txt" || { cat "$TMP/first.txt"; fail "first sweep failed"; }
cat "$TMP/first.txt"

"$BIN" compare "$TMP/out" --format csv > "$TMP/table.csv"
rows=$(tail -n +2 "$TMP/table.csv" | wc -l)
[[ "$rows" == 4 ]] || fail "expected 4 rows, got $rows"
for name in smoke smoke_aug smoke_tl smoke_aug_tl; do
  line=$(grep "^$name," "$TMP/table.csv") || fail "no row for $name"
  IFS=',' read -r -a f <<< "$line"
  [[ "${f[5]}" == 1 && "${f[6]}" == 0 ]] || fail "$name: expected 1 complete run, got runs=${f[5]} incomplete=${f[6]}"
  awk -v a="${f[7]}" 'BEGIN { exit !(a > 0 && a <= 1) }' || fail "$name: test accuracy ${f[7]} out of range"
done
grep -q '^smoke_tl,vgg16_transfer,false,random,' "$TMP/table.csv" || fail "smoke_tl not marked transfer=random"
grep -q '^smoke_aug,small_cnn,true,none,' "$TMP/table.csv" || fail "smoke_aug not marked augmented"
# sweep.json records the sweep's order; compare's rows follow it (folder order would put smoke_tl
# last) and its first configuration is every row's baseline (one seed: no interval).
order='"smoke","smoke_aug","smoke_tl","smoke_aug_tl"'
[[ $(tr -d ' \n' < "$TMP/out/sweep.json") == "{\"configurations\":[$order],\"runs\":[$order]}" ]] ||
  fail "sweep.json: $(cat "$TMP/out/sweep.json")"
[[ $(tail -n +2 "$TMP/table.csv" | cut -d, -f1 | paste -sd,) == smoke,smoke_aug,smoke_tl,smoke_aug_tl ]] ||
  fail "rows not in the sweep's order: $(cut -d, -f1 "$TMP/table.csv" | paste -sd' ')"
baseline_column=$(head -n 1 "$TMP/table.csv" | tr , '\n' | grep -nx baseline | cut -d: -f1)
[[ $(tail -n +2 "$TMP/table.csv" | cut -d, -f"$baseline_column" | sort -u) == smoke ]] ||
  fail "baseline is not smoke"
# The closing table (aligned text) and comparison.md (the same view in Markdown).
grep -q '^smoke  .*  baseline$' "$TMP/first.txt" || fail "the smoke row does not say baseline"
[[ $(grep -c ' (1 vs 1 seeds)$' "$TMP/first.txt") == 3 ]] ||
  fail "one seed: expected 3 rows without an interval"
grep -q '^| smoke | .* | baseline |$' "$TMP/out/comparison.md" || fail "comparison.md: no baseline row"
[[ $(grep -c ' (1 vs 1 seeds) |$' "$TMP/out/comparison.md") == 3 ]] ||
  fail "comparison.md: expected 3 rows without an interval"

"$ROOT/scripts/sweep.sh" --configs "$configs" --seeds 1 --data-dir "$TMP/data" \
  --output-dir "$TMP/out" --threads 2 > "$TMP/second.txt" || fail "second sweep failed"
[[ $(grep -c 'already complete' "$TMP/second.txt") == 4 ]] || { cat "$TMP/second.txt"; fail "second sweep re-ran runs"; }
diff <(sed -n '/^| configuration/,/^$/p' "$TMP/first.txt") <(sed -n '/^| configuration/,/^$/p' "$TMP/second.txt") \
  || fail "second sweep printed a different table"
[[ $(find "$TMP/out" -name summary.json | wc -l) == 4 ]] || fail "expected exactly 4 run folders"

# A run marked interrupted (with its checkpoint) is resumed in its folder, not started again.
smoke_summary=$(grep -l '^  "name": "smoke",' "$TMP"/out/*/summary.json)
sed -i 's/^  "status": "completed"/  "status": "interrupted"/' "$smoke_summary"
"$ROOT/scripts/sweep.sh" --configs "$configs" --seeds 1 --data-dir "$TMP/data" \
  --output-dir "$TMP/out" --threads 2 > "$TMP/third.txt" || { cat "$TMP/third.txt"; fail "third sweep failed"; }
[[ $(grep -c 'already complete' "$TMP/third.txt") == 3 ]] || { cat "$TMP/third.txt"; fail "third sweep: expected 3 skipped runs"; }
grep -q '^  "status": "completed"' "$smoke_summary" || fail "interrupted smoke run not completed by the sweep"
grep -q '^  "resumed": 1,' "$smoke_summary" || fail "interrupted smoke run was not resumed"
[[ $(find "$TMP/out" -name summary.json | wc -l) == 4 ]] || fail "resume made a new run folder"
echo "sweep_smoke: 4 rows complete, a re-run skipped all 4 runs, an interrupted run was resumed"
