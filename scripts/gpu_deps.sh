#!/usr/bin/env bash
# Unpacks cifar-exp's C++ build dependencies from Debian's packages into a folder (dpkg -x, no
# root, no install), for a GPU machine that has PyTorch, CMake and nvcc but none of these and no
# network: run it here, carry the folder (about 30 MB) along, and point scripts/gpu_check.sh at it
# with CIFAR_EXP_DEPS_PREFIX=DIR (docs/gpu.md: "The GPU check").
#
#   scripts/gpu_deps.sh [DIR]     # default build-gpu-deps (ignored by git)
#
# Needs apt-get (Debian 12) with its package lists and network access to Debian's mirror. Ends
# by checking that every shared library in DIR finds each library it needs in DIR or in glibc
# and the C++ runtime (the only libraries assumed on the GPU machine), and fails naming any that
# is missing: the GPU machine has nothing to fetch them from.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-build-gpu-deps}
packages=(
  # Headers and CMake configs the build finds (CMakeLists.txt's find_package calls).
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libgtest-dev
  libpng-dev zlib1g-dev libjpeg62-turbo-dev libhdf5-dev
  libprotobuf-dev protobuf-compiler libprotoc32 libprotobuf32 libprotobuf-lite32  # TensorBoard event files
  # The shared libraries behind them, and everything those need in turn (libhdf5_serial links
  # libcurl, for HDF5's read-only S3 driver, and libcurl a good part of a TLS stack).
  libspdlog1.10 libfmt9 libpng16-16 zlib1g libjpeg62-turbo
  libhdf5-103-1 libsz2 libaec0
  libcurl4 libssl3 libnghttp2-14 libidn2-0 libunistring2 librtmp1 libgnutls30 libhogweed6
  libnettle8 libgmp10 libp11-kit0 libffi8 libtasn1-6 libssh2-1 libpsl5 libgssapi-krb5-2
  libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 libldap-2.5-0 libsasl2-2
  libzstd1 libbrotli1
)
# Always on the GPU machine (glibc and the C++ runtime its compiler brings).
system_libraries=(ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1
  libresolv.so.2 libstdc++.so.6 libgcc_s.so.1)

downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
if ! (cd "$downloads" && apt-get download "${packages[@]}" > apt-download.log 2>&1); then
  echo "gpu_deps: apt-get download failed:" >&2
  tail -5 "$downloads/apt-download.log" >&2
  exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR"
for deb in "$downloads"/*.deb; do dpkg -x "$deb" "$DIR"; done
# Debian's absolute symlinks (e.g. /usr/lib/.../libhdf5.so) would point outside the folder.
find "$DIR" -type l | while read -r link; do
  target=$(readlink "$link")
  if [[ "$target" == /* ]]; then ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$DIR$target")" "$link"; fi
done
rm -rf "$DIR/usr/share/doc" "$DIR/usr/share/man" "$DIR/usr/share/locale"
# Static libraries are not linked (googletest's are: CMake's GTest config names them).
find "$DIR" -name '*.a' ! -name 'libg*test*.a' ! -name 'libgmock*.a' -delete

# HDF5's C++, Fortran and high-level libraries and googletest's sources are not used (and not
# unpacked): their development links would dangle.
find "$DIR" -xtype l \( -name 'libhdf5*_hl*' -o -name 'libhdf5*hl_*' -o -name 'libhdf5*cpp*' \
  -o -name 'libhdf5*fortran*' -o -path "$DIR/usr/src/*" \) -delete
# Every library's needs, met inside the folder or by the system libraries above.
dangling=$(find "$DIR" -xtype l)
if [[ -n "$dangling" ]]; then
  echo "gpu_deps: links in $DIR that point at nothing (a package missing from the list):" >&2
  echo "$dangling" >&2
  exit 1
fi
present=$(find "$DIR" \( -type f -o -type l \) -name 'lib*.so*' -printf '%f\n' | sort -u)
missing=$(find "$DIR" -type f -name 'lib*.so*' -print0 |
  xargs -0 -r readelf -d 2> /dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u |
  comm -23 - <(printf '%s\n' "${system_libraries[@]}" "$present" | sort -u))
if [[ -n "$missing" ]]; then
  echo "gpu_deps: libraries needed by $DIR but not in it: ${missing//$'\n'/ }" >&2
  echo "gpu_deps: add their Debian packages (dpkg -S NAME) to the list in $0" >&2
  exit 1
fi
echo "gpu_deps: ${#packages[@]} packages unpacked into $DIR ($(du -sh "$DIR" | cut -f1)); every library's needs are met"
