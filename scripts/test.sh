#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the whole test suite, then the
# sanitizer stage (scripts/sanitize.sh: the suite again under ASan/UBSan and a short bounded run
# of each libFuzzer target). SANITIZE=0 skips that stage (e.g. for a quick local check).
#
# CIFAR_EXP_TORCH picks the libtorch as in scripts/install_deps.sh (auto: PyTorch's CUDA build
# where a GPU is, else Debian's). CIFAR_EXP_TORCH=both (what .ci/run uses) tests Debian's build
# in ./build as above and then PyTorch's from PyPI in ./build-pypi: unit tests, CLI tests and the
# smoke sweep, on the CPU unless a GPU is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export CIFAR_EXP_TORCH=${CIFAR_EXP_TORCH:-auto}
stage() { echo "== test.sh: $* ($(date -u +%H:%M:%S))"; }

stage "dependencies ($CIFAR_EXP_TORCH)"
export CIFAR_EXP_TEST_DEPS=1  # install_deps.sh: also Slurm and munge for tests/slurm/run.sh
pip_pid=""
if [[ "$CIFAR_EXP_TORCH" == both ]]; then
  # Debian's packages and the test-only venvs now (the Debian stage's tests use them); PyTorch
  # from PyPI (a ~4 GB download) in the background while the Debian build and its tests run.
  CIFAR_EXP_TORCH=debian scripts/install_deps.sh
  CIFAR_EXP_TORCH=pypi CIFAR_EXP_PIP_ONLY=1 scripts/install_deps.sh > pip-install.log 2>&1 &
  pip_pid=$!
else
  scripts/install_deps.sh
fi
primary=$CIFAR_EXP_TORCH
if [[ "$primary" == both || "$primary" == auto ]]; then primary=$(cat .cifar-exp-torch); fi

stage "build against $primary libtorch"
CIFAR_EXP_TORCH=$primary scripts/build.sh
# Every check's prerequisites are installed above; with CIFAR_EXP_REQUIRE_CHECKS=1 (CI's
# fresh-machine rehearsal, and CIFAR_EXP_TORCH=both) a skip other than for missing hardware (a
# GPU) fails the Debian and sanitizer stages (scripts/ctest_checked.sh).
if [[ "$CIFAR_EXP_TORCH" == both ]]; then export CIFAR_EXP_REQUIRE_CHECKS=${CIFAR_EXP_REQUIRE_CHECKS:-1}; fi
export CIFAR_EXP_REQUIRE_CHECKS=${CIFAR_EXP_REQUIRE_CHECKS:-0}
stage "tests"
scripts/ctest_checked.sh --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
if [[ "${SANITIZE:-1}" != 0 ]]; then
  # The sanitizer build (clang) uses Debian's libtorch; a PyPI-only install (a GPU machine with
  # CIFAR_EXP_TORCH=auto) has none, so there the stage is left out, saying so.
  if dpkg-query -W -f='${Status}' libtorch-dev 2> /dev/null | grep -q "install ok installed"; then
    stage "sanitizers"
    scripts/sanitize.sh
  else
    stage "sanitizers skipped: they build against Debian's libtorch-dev (CIFAR_EXP_TORCH=both or debian installs it)"
  fi
fi

if [[ "$CIFAR_EXP_TORCH" == both ]]; then
  stage "waiting for PyTorch from PyPI"
  wait "$pip_pid" || { cat pip-install.log; echo "test.sh: installing PyTorch from PyPI failed" >&2; exit 1; }
  cat pip-install.log
  stage "build against PyPI's libtorch"
  BUILD_DIR=build-pypi CIFAR_EXP_TORCH=pypi scripts/build.sh
  build-pypi/cifar-exp --version
  stage "tests against PyPI's libtorch"
  CIFAR_EXP_REQUIRE_CHECKS=0 scripts/ctest_checked.sh --test-dir build-pypi --output-on-failure \
    -j "$(nproc)" -E 'slurm_sweep|plot_runs_smoke'
fi
stage "done"
