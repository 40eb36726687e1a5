#!/usr/bin/env bash
# The sanitizer stage of the tests: builds everything with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (CIFAR_EXP_SANITIZE) plus the libFuzzer targets (CIFAR_EXP_FUZZ)
# into ./build-asan, runs the test suite there, then each fuzz target for FUZZ_SECONDS (default
# 60) starting from the seed corpus in tests/fuzz/corpus. Any sanitizer report or fuzz finding
# fails the script; a finding is saved as build-asan/fuzz/<target>-crash-*.
#   FUZZ_SECONDS=600 scripts/sanitize.sh     # the longer run the README asks of fuzz changes
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

# -O1 -g1: enough speed for the tests, readable reports, and a faster compile than -O3.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" -DCIFAR_EXP_SANITIZE=ON -DCIFAR_EXP_FUZZ=ON
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"

# Leaks are checked too; libtorch's process-lifetime allocations are suppressed by name.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# The Slurm test exercises shell scripts, not our code: the regular build covers it.
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE slurm

mkdir -p "$BUILD_DIR/fuzz"
for target in config cifar10; do
  corpus="$BUILD_DIR/fuzz/corpus-$target"
  mkdir -p "$corpus"
  max_len=4096
  [[ $target == cifar10 ]] && max_len=7000  # up to two 3,073-byte records
  log="$BUILD_DIR/fuzz/$target.log"
  echo "sanitize: fuzzing $target for ${FUZZ_SECONDS}s (log $log)"
  if ! "$BUILD_DIR/tests/fuzz/fuzz_$target" -max_total_time="$FUZZ_SECONDS" -max_len=$max_len \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/fuzz/$target-" \
      "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "sanitize: fuzz_$target found a failing input (saved as $BUILD_DIR/fuzz/$target-*)" >&2
    exit 1
  fi
  grep -E "DONE|stat::number_of_executed_units" "$log"
done
echo "sanitize: all passed"
