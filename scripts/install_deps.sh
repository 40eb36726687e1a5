#!/usr/bin/env bash
# Installs cifar-exp's build and run dependencies (Debian 12). Idempotent and non-interactive;
# needs root (or sudo) for the Debian packages.
#
#   CIFAR_EXP_TORCH=auto|debian|pypi scripts/install_deps.sh
#   scripts/install_deps.sh --print-torch-version   # the PyPI torch version it installs
#   CIFAR_EXP_TEST_DEPS=1 scripts/install_deps.sh    # also what only the tests use (test.sh):
#                                                    # Slurm, python3-torchvision, chromium; from PyPI
#                                                    # TensorBoard (.venv-tensorboard) and tf-keras
#                                                    # (.venv-keras), both project-local
#
# Which libtorch:
#   debian  Debian's libtorch-dev 1.13 (CPU only).
#   pypi    PyTorch ${CIFAR_EXP_TORCH_VERSION} from PyPI (libtorch 2.x with CUDA, cuDNN and the
#           CUDA libraries as wheels) in the project-local virtual environment .venv (ignored by
#           git); scripts/build.sh then builds against it by itself. Building against it also
#           needs the CUDA toolkit (nvcc and headers), which PyTorch's CMake files look for.
#   auto    (default) pypi when `nvidia-smi -L` lists a GPU, else debian.
#   both    debian and pypi (CI builds and tests against each); builds default to debian.
# The choice is recorded in .cifar-exp-torch for scripts/build.sh.
# The Python that makes .venv is $PYTHON (default python3, 3.10 or later).
set -euo pipefail
cd "$(dirname "$0")/.."

CIFAR_EXP_TORCH=${CIFAR_EXP_TORCH:-auto}
CIFAR_EXP_TORCH_VERSION=${CIFAR_EXP_TORCH_VERSION:-2.15.0}
CIFAR_EXP_TENSORBOARD_VERSION=${CIFAR_EXP_TENSORBOARD_VERSION:-2.21.0}
CIFAR_EXP_TF_KERAS_VERSION=${CIFAR_EXP_TF_KERAS_VERSION:-2.21.0}
PYTHON=${PYTHON:-python3}
if [[ "${1:-}" == --print-torch-version ]]; then
  echo "$CIFAR_EXP_TORCH_VERSION"
  exit 0
fi
if [[ "$CIFAR_EXP_TORCH" == auto ]]; then
  if command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null | grep -q '^GPU '; then
    CIFAR_EXP_TORCH=pypi
  else
    CIFAR_EXP_TORCH=debian
  fi
  echo "install_deps: CIFAR_EXP_TORCH=auto -> $CIFAR_EXP_TORCH"
fi
case "$CIFAR_EXP_TORCH" in
  debian | pypi | both) ;;
  *)
    echo "install_deps: CIFAR_EXP_TORCH must be auto, debian, pypi or both, got '$CIFAR_EXP_TORCH'" >&2
    exit 2
    ;;
esac

packages=(
  build-essential cmake pkg-config
  git                   # CMake records the commit a binary is built from
  libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev
  libpng-dev            # augmentation preview pictures, predict
  libjpeg-dev           # predict: JPEG files (libjpeg-turbo)
  libhdf5-dev           # Keras .h5 VGG16 weight files
  libprotobuf-dev protobuf-compiler  # TensorBoard event files (src/proto/)
  libdnnl-dev           # oneDNN: Winograd convolutions for frozen VGG16 backbones (optional in CMake)
  clang libclang-rt-14-dev  # scripts/sanitize.sh: ASan/UBSan build and libFuzzer targets
  python3-matplotlib python3-numpy  # scripts/plot_runs.py (run by /usr/bin/python3)
  curl ca-certificates              # download scripts (only used where there is internet)
)
if [[ "$CIFAR_EXP_TORCH" != pypi ]]; then
  packages+=(
    libtorch-dev  # libtorch 1.13 (CPU)
    # Debian's libtorch calls whichever BLAS the alternatives system provides; the reference BLAS
    # runs fp32 matrix products at ~7.5 GFLOP/s here, OpenBLAS at ~240 GFLOP/s.
    libopenblas0-openmp
    python3-torch python3-pil  # the weights.pt check: plain PyTorch loads cifar-exp's weights
  )
fi
if [[ -n "${CIFAR_EXP_TEST_DEPS:-}" ]]; then
  packages+=(slurm-wlm munge)  # tests/slurm/run.sh: sweep.sh --slurm against a one-node Slurm
  # weights_test.cpp: a real torchvision VGG16 file (scripts/export_torchvision_vgg16.py)
  if [[ "$CIFAR_EXP_TORCH" != pypi ]]; then packages+=(python3-torchvision); fi
  packages+=(chromium)  # tests/report_check.sh: report.html in a real browser
fi
if [[ "$CIFAR_EXP_TORCH" != debian || -n "${CIFAR_EXP_TEST_DEPS:-}" ]] &&
  ! "$PYTHON" -c 'import venv, ensurepip' 2> /dev/null; then
  packages+=(python3-venv)  # Debian's python3 makes virtual environments only with it
fi

# CIFAR_EXP_SKIP_PIP=1 / CIFAR_EXP_PIP_ONLY=1 split the two halves (scripts/test.sh runs the
# PyPI download in the background while it builds against Debian's libtorch).
if [[ -n "${CIFAR_EXP_PIP_ONLY:-}" ]]; then packages=(); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all Debian packages present"
fi

if [[ "$CIFAR_EXP_TORCH" != debian && -z "${CIFAR_EXP_SKIP_PIP:-}" ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    echo "install_deps: creating .venv with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv .venv
  fi
  if .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$CIFAR_EXP_TORCH_VERSION')" 2> /dev/null; then
    echo "install_deps: .venv has torch $CIFAR_EXP_TORCH_VERSION"
  else
    echo "install_deps: installing torch==$CIFAR_EXP_TORCH_VERSION from PyPI into .venv (about 4 GB with the CUDA libraries)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$CIFAR_EXP_TORCH_VERSION"
  fi
  if ! command -v nvcc > /dev/null && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
    echo "install_deps: warning: no CUDA toolkit (nvcc) found; building against PyTorch's CUDA libtorch needs it (NVIDIA's cuda-toolkit packages)" >&2
  fi
fi
# Test-only Python environments from PyPI, each in its own project-local venv:
#   .venv-tensorboard  tests/tensorboard_check.py reads the event files with TensorBoard's own
#                      loader (and Pillow decodes their images);
#   .venv-keras        weights_test.cpp writes real Keras VGG16 .h5 files (scripts/check_keras_h5.py).
# Without them those tests are reported as skipped, saying so.
test_venv() {  # test_venv DIR IMPORT-CHECK REQUIREMENT...
  local dir=$1 check=$2
  shift 2
  if "$dir/bin/python" -c "$check" 2> /dev/null; then
    echo "install_deps: $dir has $*"
  else
    echo "install_deps: installing $* from PyPI into $dir"
    if ! { "$PYTHON" -m venv "$dir" &&
      "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }; then
      echo "install_deps: warning: could not install $* from PyPI; the tests that use $dir will be skipped" >&2
    fi
  fi
}
if [[ -n "${CIFAR_EXP_TEST_DEPS:-}" && -z "${CIFAR_EXP_SKIP_PIP:-}" ]]; then
  test_venv .venv-tensorboard \
    "import tensorboard, PIL, sys; sys.exit(tensorboard.__version__ != '$CIFAR_EXP_TENSORBOARD_VERSION')" \
    "tensorboard==$CIFAR_EXP_TENSORBOARD_VERSION" pillow
  test_venv .venv-keras \
    "import tf_keras, h5py, sys; sys.exit(tf_keras.__version__ != '$CIFAR_EXP_TF_KERAS_VERSION')" \
    "tf-keras==$CIFAR_EXP_TF_KERAS_VERSION" h5py
fi
# scripts/build.sh builds against what was installed last.
if [[ -n "${CIFAR_EXP_PIP_ONLY:-}" ]]; then exit 0; fi
if [[ "$CIFAR_EXP_TORCH" == both ]]; then echo debian > .cifar-exp-torch; else echo "$CIFAR_EXP_TORCH" > .cifar-exp-torch; fi
