#!/usr/bin/env bash
# The README's main command: installs dependencies, builds, makes sure CIFAR-10 is there
# (downloading it only when missing), runs the sweep of the four notebook configurations and
# ends with the comparison table and the paths of the plots.
#
#   scripts/main.sh [DATA_DIR] [sweep options, e.g. --seeds 3 --output-dir runs/notebook]
#
# DATA_DIR defaults to $CIFAR10_DIR, else cifar-exp's default data folder (`cifar-exp
# --print-default data_dir`: data/cifar-10-batches-bin). Transfer configurations need
# the Keras VGG16 weights (scripts/download_vgg16_weights.sh); without them their rows say so and
# the rest of the sweep still runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR=${CIFAR10_DIR:-}
if (($#)) && [[ "$1" != --* ]]; then
  DATA_DIR=$1
  shift
fi
scripts/install_deps.sh
scripts/build.sh
# The default folder is the binary's (defined once, in cifar-exp), the one sweep.sh runs.
DATA_DIR=${DATA_DIR:-$("${CIFAR_EXP_BIN:-build/cifar-exp}" --print-default data_dir)}
if [[ ! -f "$DATA_DIR/test_batch.bin" ]]; then
  scripts/download_cifar10.sh "$DATA_DIR"
fi
if [[ ! -f weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 ]]; then
  echo "main: VGG16 weights not found in weights/; fetching them (needs internet)"
  scripts/download_vgg16_weights.sh weights ||
    echo "main: could not fetch the VGG16 weights; the transfer rows will say so"
fi
exec scripts/sweep.sh --data-dir "$DATA_DIR" "$@"
