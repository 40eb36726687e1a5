#!/usr/bin/env bash
# Configures and builds cifar-exp (Release) into ./build ($BUILD_DIR). Extra arguments go to
# cmake.
#
#   CIFAR_EXP_TORCH=auto|debian|pypi scripts/build.sh [cmake arguments]
#
# auto (default): the libtorch scripts/install_deps.sh chose last (it records it in
# .cifar-exp-torch), else the .venv's PyTorch when there is one, else Debian's. A build
# folder remembers which libtorch it was configured with and starts afresh when that changes.
# Another libtorch: CIFAR_EXP_TORCH=debian and -DCMAKE_PREFIX_PATH=... (see docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CIFAR_EXP_TORCH=${CIFAR_EXP_TORCH:-auto}

venv_torch() { .venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2> /dev/null; }

case "$CIFAR_EXP_TORCH" in
  auto)
    if [[ -f .cifar-exp-torch ]]; then
      CIFAR_EXP_TORCH=$(cat .cifar-exp-torch)
    elif [[ -x .venv/bin/python ]] && venv_torch > /dev/null; then
      CIFAR_EXP_TORCH=pypi
    else
      CIFAR_EXP_TORCH=debian
    fi
    ;;
  debian | pypi) ;;
  *)
    echo "build: CIFAR_EXP_TORCH must be auto, debian or pypi, got '$CIFAR_EXP_TORCH'" >&2
    exit 2
    ;;
esac

torch_args=()
if [[ "$CIFAR_EXP_TORCH" == pypi ]]; then
  if ! TORCH=$(venv_torch); then
    echo "build: no PyTorch in .venv; run: CIFAR_EXP_TORCH=pypi scripts/install_deps.sh" >&2
    exit 2
  fi
  # Name the torch folder itself as well as its share/cmake: where Debian's libtorch-dev is also
  # installed, TorchConfig.cmake would otherwise pick up /usr/lib/.../libtorch.so.
  torch_args=("-DCMAKE_PREFIX_PATH=$TORCH/share/cmake;$TORCH" "-DTorch_DIR=$TORCH/share/cmake/Torch")
  # PyTorch's CMake files look for the CUDA toolkit; the usual place may not be on PATH.
  if ! command -v nvcc > /dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
fi
echo "build: libtorch from $CIFAR_EXP_TORCH${TORCH:+ ($TORCH)} into $BUILD_DIR"

# A folder configured against the other libtorch would keep its cached paths: start afresh.
mkdir -p "$BUILD_DIR"
if [[ -f "$BUILD_DIR/CMakeCache.txt" && "$(cat "$BUILD_DIR/.cifar-exp-torch" 2> /dev/null)" != "$CIFAR_EXP_TORCH" ]]; then
  echo "build: $BUILD_DIR was configured against another libtorch; reconfiguring from scratch"
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi
echo "$CIFAR_EXP_TORCH" > "$BUILD_DIR/.cifar-exp-torch"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${torch_args[@]}" "$@"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
