#!/usr/bin/env bash
# Fetches the official CIFAR-10 binary version and unpacks it into DIR (default: cifar-exp's
# default data folder, data/cifar-10-batches-bin). Needs internet, curl or wget, tar and md5sum.
#
#   scripts/download_cifar10.sh [DIR]
set -euo pipefail

# The default folder is cifar-exp's (`cifar-exp --print-default data_dir`), asked of the first
# cifar-exp found as sweep.sh finds it ($CIFAR_EXP_BIN, this checkout's build/, the
# installation's bin/, PATH). This script may run before anything is built: only then is the
# folder written here, the same as cifar-exp's kDefaultDataDir (include/cifar_exp/config/defaults.h).
default_data_dir() {
  local here bin
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for bin in "${CIFAR_EXP_BIN:-}" "$here/../build/cifar-exp" "$here/../../../bin/cifar-exp" \
    "$(command -v cifar-exp || true)"; do
    [[ -n "$bin" && -x "$bin" ]] && "$bin" --print-default data_dir 2> /dev/null && return
  done
  echo data/cifar-10-batches-bin
}
DIR=${1:-$(default_data_dir)}
URL=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
MD5=c32a1d4ab5d03f1284b67883e8d87530

if [[ -f "$DIR/test_batch.bin" && -f "$DIR/data_batch_5.bin" ]]; then
  echo "download_cifar10: $DIR already holds CIFAR-10"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "download_cifar10: fetching $URL"
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$tmp/cifar.tar.gz" "$URL"
else
  wget -O "$tmp/cifar.tar.gz" "$URL"
fi
echo "$MD5  $tmp/cifar.tar.gz" | md5sum -c --quiet - || {
  echo "download_cifar10: checksum mismatch for $URL (expected md5 $MD5)" >&2
  exit 1
}
tar -xzf "$tmp/cifar.tar.gz" -C "$tmp"
mkdir -p "$DIR"
mv "$tmp"/cifar-10-batches-bin/* "$DIR"/
echo "download_cifar10: CIFAR-10 is in $DIR"
