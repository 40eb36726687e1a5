#!/usr/bin/env bash
# Unpacks cifar-exp's C++ build dependencies from Debian's packages into a folder (dpkg -x, no
# root, no install), for a GPU machine that has PyTorch, CMake and nvcc but none of these and no
# network: run it here, carry the folder (about 30 MB) along, and point scripts/gpu_check.sh at it
# with CIFAR_EXP_DEPS_PREFIX=DIR.
#
#   scripts/gpu_deps.sh [DIR]     # default build-gpu-deps (ignored by git)
#
# Needs apt-get (Debian 12) with its package lists and network access to Debian's mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build-gpu-deps}
packages=(
  libcli11-dev nlohmann-json3-dev
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9
  libgtest-dev
  libpng-dev libpng16-16 zlib1g-dev
  libhdf5-dev libhdf5-103-1 libsz2 libaec0 libcurl3-gnutls
)
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
(cd "$downloads" && apt-get download "${packages[@]}" 2> /dev/null)
rm -rf "$DIR"
mkdir -p "$DIR"
for deb in "$downloads"/*.deb; do dpkg -x "$deb" "$DIR"; done
# Debian's absolute symlinks (e.g. /usr/lib/.../libhdf5.so) would point outside the folder.
find "$DIR" -type l | while read -r link; do
  target=$(readlink "$link")
  if [[ "$target" == /* ]]; then ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$DIR$target")" "$link"; fi
done
rm -rf "$DIR/usr/share/doc" "$DIR/usr/share/man"
echo "gpu_deps: ${#packages[@]} packages unpacked into $DIR ($(du -sh "$DIR" | cut -f1))"
