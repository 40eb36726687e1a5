#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole test suite, then the
# sanitizer stage (scripts/sanitize.sh: the suite again under ASan/UBSan and a short bounded run
# of each libFuzzer target). SANITIZE=0 skips that stage (e.g. for a quick local check).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
if [[ "${SANITIZE:-1}" != 0 ]]; then
  scripts/sanitize.sh
fi
