#!/usr/bin/env bash
# Installs cifar-exp's build and run dependencies from Debian's packages (Debian 12).
# Idempotent and non-interactive; needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libtorch-dev          # libtorch 1.13 (CPU)
  libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev
  libpng-dev            # augmentation preview pictures
  libhdf5-dev           # Keras .h5 VGG16 weight files
  clang libclang-rt-14-dev  # scripts/sanitize.sh: ASan/UBSan build and libFuzzer targets
  # Debian's libtorch calls whichever BLAS the alternatives system provides; the reference BLAS
  # runs fp32 matrix products at ~7.5 GFLOP/s here, OpenBLAS at ~240 GFLOP/s.
  libopenblas0-openmp
  python3-matplotlib python3-numpy  # scripts/plot_runs.py (run by /usr/bin/python3)
  curl ca-certificates              # download scripts (only used where there is internet)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install_deps: all packages present"
fi
