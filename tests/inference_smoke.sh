#!/usr/bin/env bash
# `cmake --install`, configs by name, evaluate, predict and weights.pt, end to end:
#  - installs into a temporary prefix and, from another folder, runs
#    `cifar-exp --config no_aug_no_tl --epochs 1 --train-limit 512 --test-limit 256 --data-dir D`
#    and the installed sweep script with a config given by name;
#  - `evaluate` reproduces the run's test accuracy; `predict` on PNGs written from test images
#    gives the class the run's confusion matrix says (for classes predicted all alike);
#  - with KEEP_DIR, leaves the trained run and the PNGs there for inference_python_check.sh (a
#    JPEG through predict, and weights.pt in plain PyTorch), which needs PIL and torch.
#   inference_smoke.sh BUILD_DIR [KEEP_DIR]
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "inference_smoke: FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3
[[ -x .venv/bin/python ]] && ! $PY -c 'import torch' 2> /dev/null && PY=$ROOT/.venv/bin/python

"$BUILD/tests/make_test_data" "$WORK/data" 1500 300 > /dev/null
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" || fail "cmake --install failed"
[[ -x "$WORK/prefix/bin/cifar-exp" && -f "$WORK/prefix/share/cifar-exp/configs/no_aug_no_tl.json" &&
   -x "$WORK/prefix/share/cifar-exp/scripts/sweep.sh" ]] || fail "missing installed files: $(cat "$WORK/install.log")"

mkdir "$WORK/elsewhere" && cd "$WORK/elsewhere"
"$WORK/prefix/bin/cifar-exp" --config no_aug_no_tl --epochs 1 --train-limit 512 --test-limit 256 \
  --data-dir "$WORK/data" --device cpu --threads 2 > run.log 2>&1 || fail "installed run: $(tail -3 run.log)"
PLOT_PYTHON=/nonexistent "$WORK/prefix/share/cifar-exp/scripts/sweep.sh" --configs smoke --seeds 1 \
  --data-dir "$WORK/data" --output-dir sweep --device cpu > sweep.log 2>&1 || fail "installed sweep: $(tail -5 sweep.log)"
grep -q "smoke" sweep/comparison.md || fail "installed sweep made no table"
echo "inference_smoke: installed binary, configs by name and installed sweep work"

# A small CNN trained enough to be sure of itself: 3 epochs on the whole generated set.
"$BUILD/cifar-exp" --config "$ROOT/configs/smoke.json" --data-dir "$WORK/data" --output-dir runs \
  --epochs 3 --device cpu > train.log 2>&1 || fail "training: $(tail -3 train.log)"
run=$(ls -d runs/smoke-*)
"$BUILD/cifar-exp" evaluate "$run" > eval.log 2>&1 || fail "evaluate: $(cat eval.log)"
$PY - "$run" << 'PY' || fail "evaluate does not reproduce the run's figures"
import glob, json, sys
run = sys.argv[1]
summary = json.load(open(f"{run}/summary.json"))
evaluation = json.load(open(sorted(glob.glob(f"{run}/evaluation-*.json"))[-1]))
assert evaluation["accuracy"] == summary["test_accuracy"], (evaluation["accuracy"], summary["test_accuracy"])
assert abs(evaluation["loss"] - summary["test_loss"]) < 1e-6
assert evaluation["confusion_matrix"] == summary["confusion_matrix"]
print(f"inference_smoke: evaluate reproduces test accuracy {evaluation['accuracy']:.4f}")
PY

# A damaged model.pt is refused, naming it (its checksum), and the intact copy is used again.
cp "$run/model.pt" model.pt.good
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[2000] ^= 0x55; open(sys.argv[1], "wb").write(b)' "$run/model.pt"
bad=$("$BUILD/cifar-exp" evaluate "$run" 2>&1) && fail "a corrupted model.pt was accepted"
[[ $bad == *"model.pt: model file is corrupted: checksum mismatch"* ]] || fail "corrupted model.pt: $bad"
cp model.pt.good "$run/model.pt"

# PNGs of the first test images (32 x 32, and one enlarged to 96 x 96), through predict.
"$BUILD/tests/make_test_data" --png "$WORK/data" png 12 > /dev/null || fail "cannot write PNGs"
out=$("$BUILD/cifar-exp" predict "$run" png/*.png --format json --top 1) || fail "predict failed"
$PY - "$run" "$out" << 'PY' || fail "predict disagrees with the confusion matrix"
import json, sys
run, out = sys.argv[1], json.loads(sys.argv[2])
summary = json.load(open(f"{run}/summary.json"))
confusion, names = summary["confusion_matrix"], summary["class_names"]
checked = 0
for result in out:
    name = result["image"].rsplit("/", 1)[-1]          # png/<index>-<label>[-big].png
    label = int(name.split("-")[1].split(".")[0])
    row = confusion[label]
    if sum(1 for v in row if v) == 1:                  # every image of this class went to one class
        expected = names[[i for i, v in enumerate(row) if v][0]]
        assert result["predictions"][0]["class"] == expected, (name, result, expected)
        checked += 1
assert checked >= 6, checked
print(f"inference_smoke: predict agrees with the confusion matrix on {checked} images")
PY
bad=$("$BUILD/cifar-exp" predict "$run" "$ROOT/README.md" 2>&1) && fail "a text file was accepted"
[[ $bad == *"README.md: not a PNG or JPEG image"* ]] || fail "bad image message: $bad"

if [[ -n "${2:-}" ]]; then
  rm -rf "$2" && mkdir -p "$2" && cp -r "$run" "$2/run" && cp -r png "$2/png"
fi
