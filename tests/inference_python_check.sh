#!/usr/bin/env bash
# What inference_smoke.sh's run (left in KEEP_DIR) does outside cifar-exp, with Python:
#  - a JPEG of a test image (written by PIL, resized to 80 x 60) gets the class of its PNG and
#    of its enlarged PNG through `predict`;
#  - tests/weights_pt_check.py loads weights.pt into plain PyTorch and matches the logits.
# Needs PIL, numpy and torch in /usr/bin/python3 (Debian's python3-pil, python3-torch) or the
# project's .venv; reported as skipped (exit 77) without them.
#   inference_python_check.sh BUILD_DIR KEEP_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$2"
fail() { echo "inference_python_check: FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3
[[ -x "$ROOT/.venv/bin/python" ]] && ! $PY -c 'import torch' 2> /dev/null && PY=$ROOT/.venv/bin/python
if ! missing=$($PY -c 'import PIL, numpy, torch' 2>&1); then
  echo "inference_python_check: skipped: $PY cannot import PIL, numpy and torch: ${missing##*$'\n'}"
  exit 77
fi

# A JPEG of the first image (PIL), any size: the same class as its PNG.
$PY -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).resize((80, 60)).save(sys.argv[2], quality=95)' \
  png/0-*[0-9].png first.jpg
classes=$("$BUILD/cifar-exp" predict run first.jpg png/0-*[0-9].png png/0-*-big.png --top 1) ||
  fail "predict on a JPEG failed"
[[ $(sed 's/^[^:]*: \([a-z]*\).*/\1/' <<< "$classes" | sort -u | wc -l) == 1 ]] ||
  fail "the JPEG, PNG and enlarged PNG of one image got different classes: $classes"
echo "inference_python_check: a resized JPEG and an enlarged PNG get their image's class"

$PY "$ROOT/tests/weights_pt_check.py" "$BUILD/cifar-exp" run png/*[0-9].png
