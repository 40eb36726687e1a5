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
scripts/install_deps.sh
primary=$CIFAR_EXP_TORCH
if [[ "$primary" == both || "$primary" == auto ]]; then primary=$(cat .cifar-exp-torch); fi

stage "build against $primary libtorch"
CIFAR_EXP_TORCH=$primary scripts/build.sh
stage "tests"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
if [[ "${SANITIZE:-1}" != 0 ]]; then
  stage "sanitizers"
  scripts/sanitize.sh
fi

if [[ "$CIFAR_EXP_TORCH" == both ]]; then
  stage "build against PyPI's libtorch"
  BUILD_DIR=build-pypi CIFAR_EXP_TORCH=pypi scripts/build.sh
  build-pypi/cifar-exp --version
  stage "tests against PyPI's libtorch"
  ctest --test-dir build-pypi --output-on-failure -j "$(nproc)" -E 'slurm_sweep|plot_runs_smoke'
fi
stage "done"
