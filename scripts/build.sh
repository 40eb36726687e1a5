#!/usr/bin/env bash
# Configures and builds cifar-exp (Release) into ./build ($BUILD_DIR). Extra arguments go to
# cmake, e.g. against the libtorch of a PyTorch install (see README):
#   TORCH=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
#   BUILD_DIR=build-torch2 scripts/build.sh "-DCMAKE_PREFIX_PATH=$TORCH/share/cmake;$TORCH"
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
