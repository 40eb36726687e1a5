#!/usr/bin/env bash
# The sanitizer stage of the tests: builds everything with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (CIFAR_EXP_SANITIZE) plus the libFuzzer targets (CIFAR_EXP_FUZZ)
# into ./build-asan, runs the test suite there, then each fuzz target for FUZZ_SECONDS (default
# 30) from the seeds below. Any sanitizer report or fuzz finding fails the script; a finding is
# saved as build-asan/fuzz/<target>-crash-*.
#   FUZZ_SECONDS=600 scripts/sanitize.sh     # a longer fuzz run (10 minutes per target)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

# -O1 -g1: enough speed for the tests, readable reports, and a faster compile than -O3.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" -DCIFAR_EXP_SANITIZE=ON -DCIFAR_EXP_FUZZ=ON
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"

# Leaks are checked too; libtorch's process-lifetime allocations are suppressed by name.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The Slurm, grid and concurrent-sweep tests exercise shell scripts more than our code, and the
# TensorBoard, plotting, report and README checks Python tools and text (our event writer, runs
# and reports have tests of their own here): the regular build runs them all. Under ASan they
# took about 500 s of test time (the whole run: 1,122 s at -j2).
scripts/ctest_checked.sh --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE slurm \
  -E "grid_sweep_smoke|concurrent_sweep_smoke|tensorboard_check|plot_runs_smoke|report_check|readme_matches_program|readme_examples"

# Seeds: the crafted inputs in tests/fuzz/corpus, the shipped configs, and CIFAR-10 batch files
# written here (one record, two records, label 10, truncated) rather than kept in the repository.
mkdir -p "$BUILD_DIR/fuzz"
seeds="$BUILD_DIR/fuzz/seeds-cifar10"
mkdir -p "$seeds"
record() { printf "\\x$(printf %02x "$1")"; head -c 3072 /dev/zero | tr '\0' "\\$2"; }
record 3 200 > "$seeds/one_record.bin"
{ record 0 1; record 9 377; } > "$seeds/two_records.bin"
record 10 100 > "$seeds/label_10.bin"
record 1 50 > "$seeds/truncated.bin" && truncate -s 2000 "$seeds/truncated.bin"
# The other targets start from their crafted seeds alone (tests/fuzz/corpus/<target>).
declare -A extra_seeds=([config]=configs [cifar10]=$seeds)
# Input sizes: two 3,073-byte CIFAR-10 records; a small image; six run-folder files; a sweep's
# options, config and sweep.json.
declare -A max_len=([config]=4096 [cifar10]=7000 [set]=1024 [image]=16384 [run_folder]=16384
  [sweep]=4096)

for target in config cifar10 set image run_folder sweep; do
  corpus="$BUILD_DIR/fuzz/corpus-$target"
  mkdir -p "$corpus"
  log="$BUILD_DIR/fuzz/$target.log"
  echo "sanitize: fuzzing $target for ${FUZZ_SECONDS}s (log $log)"
  # -malloc_limit_mb: a header's claimed size must be refused before it is allocated.
  if ! "$BUILD_DIR/tests/fuzz/fuzz_$target" -max_total_time="$FUZZ_SECONDS" \
      -max_len="${max_len[$target]}" -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/fuzz/$target-" \
      "$corpus" "tests/fuzz/corpus/$target" ${extra_seeds[$target]:+"${extra_seeds[$target]}"} \
      >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "sanitize: fuzz_$target found a failing input (saved as $BUILD_DIR/fuzz/$target-*)" >&2
    exit 1
  fi
  grep -E "DONE|stat::number_of_executed_units" "$log"
done
echo "sanitize: all passed"
