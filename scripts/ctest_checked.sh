#!/usr/bin/env bash
# Runs ctest (arguments passed through) and lists the tests that were skipped. With
# CIFAR_EXP_REQUIRE_CHECKS=1 (scripts/test.sh sets it for CI's Debian and sanitizer stages, where
# every prerequisite is installed) a skip fails the run, except the tests that need hardware this
# machine lacks: a CUDA GPU, or for the two below a CPU (or build) without what they test.
#   scripts/ctest_checked.sh --test-dir build --output-on-failure -j 2
set -euo pipefail
# A CUDA device; Winograd where oneDNN has it (the test of its refusal skips); an out-of-memory
# test that ASan's allocator cannot run; AVX-512 for our Winograd kernels' AVX-512 runs and their
# comparison with AVX2 (a CPU with AVX2 only).
HARDWARE_SKIPS='/cuda|OnednnBackbone\.WinogradWhereUnavailableIsAConfigError|OnDevice\.OutOfMemoryIsRecognised/cpu|OurWinograd\..*/avx512|OurWinogradIsas\.AgreeWithEachOther'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
ctest "$@" 2>&1 | tee "$log" || rc=$?
# ctest's closing list: "The following tests did not run:" then "\t<n> - <name> (Skipped)" lines.
skipped=$(sed -n '/^The following tests did not run:/,/^[^[:space:]]/p' "$log" | grep '(Skipped)' |
  sed 's/^[[:space:]]*[0-9]* - //; s/ (Skipped)$//; s/  # GetParam.*//' || true)
unexpected=$(grep -Ev "$HARDWARE_SKIPS" <<< "$skipped" | sed '/^$/d' || true)
echo "ctest_checked: $(sed '/^$/d' <<< "$skipped" | wc -l) skipped, $(sed '/^$/d' <<< "$unexpected" | wc -l) of them for a missing prerequisite"
if [[ -n "$unexpected" && "${CIFAR_EXP_REQUIRE_CHECKS:-0}" == 1 ]]; then
  echo "ctest_checked: FAIL: skipped though every prerequisite should be installed here:" >&2
  sed 's/^/  /' <<< "$unexpected" >&2
  exit 1
fi
exit "$rc"
