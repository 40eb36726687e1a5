#!/usr/bin/env bash
# Fetches Keras' ImageNet VGG16 backbone weights (the file keras.applications.VGG16(weights=
# 'imagenet', include_top=False) downloads) into OUT_DIR (default weights/) and checks its md5.
# Use it with model.weights OUT_DIR/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 and
# model.weights_format keras_h5. Needs internet, curl or wget, and md5sum.
set -euo pipefail
OUT_DIR=${1:-weights}
NAME=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
URL=https://storage.googleapis.com/tensorflow/keras-applications/vgg16/$NAME
MD5=6d6bbae143d832006294945121d1f1fc
FILE=$OUT_DIR/$NAME

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  echo "usage: $0 [OUT_DIR]   (default: weights/)" >&2
  exit 2
fi

md5_ok() { echo "$MD5  $1" | md5sum -c --quiet - >/dev/null 2>&1; }

if [[ -f "$FILE" ]]; then
  if md5_ok "$FILE"; then
    echo "download_vgg16_weights: $FILE already present (md5 ok)"
    exit 0
  fi
  echo "download_vgg16_weights: $FILE exists but its md5 is not $MD5; fetching it again" >&2
fi

mkdir -p "$OUT_DIR"
tmp=$(mktemp "$OUT_DIR/.$NAME.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "download_vgg16_weights: fetching $URL (58 MB)"
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$tmp" "$URL" || {
    echo "download_vgg16_weights: download failed: $URL" >&2
    exit 1
  }
elif command -v wget >/dev/null; then
  wget -O "$tmp" "$URL" || {
    echo "download_vgg16_weights: download failed: $URL" >&2
    exit 1
  }
else
  echo "download_vgg16_weights: needs curl or wget (apt-get install curl)" >&2
  exit 1
fi
if ! md5_ok "$tmp"; then
  got=$(md5sum "$tmp" | cut -d' ' -f1)
  echo "download_vgg16_weights: checksum mismatch for $URL (expected md5 $MD5, got $got)" >&2
  exit 1
fi
mv "$tmp" "$FILE"
trap - EXIT
echo "download_vgg16_weights: $FILE is ready (model.weights_format keras_h5)"
