#!/usr/bin/env bash
# The README's main command: installs dependencies, builds, makes sure CIFAR-10 is there
# (downloading it only when it is missing and a data folder was not given), and runs the
# notebook's first experiment. Usage: scripts/main.sh [DATA_DIR] [extra cifar-exp options]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${1:-${CIFAR10_DIR:-data/cifar-10-batches-bin}}
shift || true
scripts/install_deps.sh
scripts/build.sh
if [[ ! -f "$DATA_DIR/test_batch.bin" ]]; then
  scripts/download_cifar10.sh "$DATA_DIR"
fi
./build/cifar-exp --config configs/no_aug_no_tl.json --data-dir "$DATA_DIR" "$@"
