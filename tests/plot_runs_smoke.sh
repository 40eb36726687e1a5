#!/usr/bin/env bash
# Smoke test for scripts/plot_runs.py: makes fake cifar-exp run folders (two configurations x two
# seeds, one incomplete run, a configuration with four seeds, and sweeps over a grid of one and of
# two keys), plots them, and checks that the expected PNG files exist and start with the PNG
# signature. Prints SKIP and exits 0 when
# matplotlib or numpy is missing. PYTHON overrides the interpreter (default /usr/bin/python3).
# The script reads the runs through cifar-exp: the binary is the first argument (else
# $CIFAR_EXP, else build/cifar-exp).
#   plot_runs_smoke.sh [CIFAR_EXP]
set -euo pipefail
if [ $# -ge 1 ]; then
  export CIFAR_EXP="$1"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script="$here/scripts/plot_runs.py"
python="${PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "SKIP: plot_runs smoke test: python3 not installed"
  exit 0
fi
if ! "$python" -c 'import matplotlib, numpy' 2>/dev/null; then
  echo "SKIP: plot_runs smoke test skipped: python3-matplotlib/python3-numpy not installed"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$python" - "$tmp" <<'EOF'
import json, os, random, sys

root = sys.argv[1]
classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

def make_run(parent, folder, name, model, aug, transfer, seed, final, reference, epochs=10,
             complete=True, write_config=True, training=None, train_images=50000):
    rng = random.Random(seed * 7919 + len(name))
    path = os.path.join(parent, folder)
    os.makedirs(path)
    if write_config:
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump({"name": name, "training": dict({"seed": seed, "epochs": epochs},
                                                      **(training or {}))}, f)
    lines = ["epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,val_error,"
             "seconds,images_per_second"]
    done = epochs if complete else 3
    for e in range(1, done + 1):
        val = final * (1 - 0.55 * 0.72 ** (e - 1)) + rng.uniform(-0.01, 0.01)
        train = min(0.99, val + 0.015 * e + rng.uniform(-0.01, 0.01))
        lines.append("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f}".format(
            e, 2.3 * (1 - train) + 0.2, train, 1 - train, 2.3 * (1 - val) + 0.3, val, 1 - val,
            12.5, 4000.0))
    with open(os.path.join(path, "metrics.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if not complete:
        return
    # Per-class accuracies around `final`; cats worst, cars and ships best; cat<->dog confusion.
    offsets = [0.05, 0.12, -0.12, -0.22, -0.05, -0.10, 0.08, 0.06, 0.11, 0.07]
    matrix = []
    for c in range(10):
        correct = int(1000 * min(0.98, max(0.2, final + offsets[c] + rng.uniform(-0.02, 0.02))))
        row = [0] * 10
        row[c] = correct
        rest = 1000 - correct
        partner = {3: 5, 5: 3, 1: 9, 9: 1, 0: 8, 8: 0}.get(c)
        if partner is not None:
            row[partner] += rest // 2
            rest -= rest // 2
        for k in range(rest):
            j = rng.choice([j for j in range(10) if j != c])
            row[j] += 1
        matrix.append(row)
    per_class = [matrix[c][c] / 1000 for c in range(10)]
    accuracy = sum(per_class) / 10
    summary = {"name": name, "status": "completed", "model": model, "augmentation": aug,
               "transfer": transfer, "epochs": epochs, "seed": seed, "train_images": train_images,
               "test_accuracy": accuracy, "test_error": 1 - accuracy, "test_loss": 0.9,
               "reference_accuracy": reference, "class_names": classes,
               "per_class_accuracy": per_class, "confusion_matrix": matrix}
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

runs = os.path.join(root, "runs")
os.makedirs(runs)
for seed in (42, 43):
    make_run(runs, "no_aug_no_tl-2024010{}T120000Z".format(seed - 41), "no_aug_no_tl",
             "small_cnn", False, "none", seed, 0.71, 0.7090)
    # A 2-epoch run on a 5,000-image subset, beside the notebook's 10-epoch figure.
    make_run(runs, "no_aug_tl-2024010{}T130000Z".format(seed - 41), "no_aug_tl",
             "vgg16_transfer", False, "pretrained", seed, 0.60, 0.6128, epochs=2,
             train_images=5000)
# Incomplete: no summary.json and no config.json; its name comes from the folder name.
make_run(runs, "aug_tl-20240105T140000Z-2", "aug_tl", "vgg16_transfer", True, "pretrained", 7,
         0.58, 0.5837, complete=False, write_config=False)
# Not a run folder (no metrics.csv): must be ignored.
os.makedirs(os.path.join(runs, "notes"))

many = os.path.join(root, "many")
os.makedirs(many)
for seed in range(1, 5):
    make_run(many, "aug_no_tl-2024020{}T120000Z".format(seed), "aug_no_tl", "small_cnn", True,
             "none", seed, 0.69, None, epochs=20)

# Sweeps: names "base+KEY=VALUE" as scripts/sweep.sh --grid gives them; values in config.json.
def grid_runs(parent, points):
    os.makedirs(parent)
    for index, (base, aug, grid, training) in enumerate(points):
        name = base + "".join("+{}={}".format(k, v) for k, v in grid)
        for seed in (1, 2):
            make_run(parent, "{}-20240301T12{:02d}{:02d}Z".format(name, index, seed), name,
                     "small_cnn", aug, "none", seed, 0.6 + 0.002 * training["epochs"] - 0.05 * aug,
                     None, epochs=training["epochs"], training=training)

grid_runs(os.path.join(root, "grid1"),
          [(base, base == "aug_no_tl", [("training.epochs", e)], {"epochs": e})
           for base in ("no_aug_no_tl", "aug_no_tl") for e in (10, 30, 5)])
grid_runs(os.path.join(root, "grid2"),
          [(base, base == "aug_no_tl", [("training.batch_size", b), ("training.epochs", e)],
            {"batch_size": b, "epochs": e})
           for base in ("no_aug_no_tl", "aug_no_tl") for b in (32, 128) for e in (4, 8)])
EOF

fail=0
check_png() {
  local file="$1"
  if [ ! -s "$file" ]; then
    echo "FAIL: missing or empty: $file"; fail=1; return
  fi
  if [ "$(head -c 8 "$file" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
    echo "FAIL: not a PNG: $file"; fail=1
  fi
}

out="$tmp/plots"
"$python" "$script" "$tmp/runs" --out "$out"
for f in curves_no_aug_no_tl curves_no_aug_tl curves_aug_tl confusion_no_aug_no_tl \
         confusion_no_aug_tl test_accuracy per_class_accuracy; do
  check_png "$out/$f.png"
done
if [ -e "$out/confusion_aug_tl.png" ]; then
  echo "FAIL: confusion plot drawn for a configuration with no completed run"; fail=1
fi

# More than three seeds (mean line with band), a run folder given directly, and a parent.
out2="$tmp/plots2"
"$python" "$script" "$tmp/many" "$tmp/runs/no_aug_tl-20240101T130000Z" --out "$out2"
for f in curves_aug_no_tl curves_no_aug_tl confusion_aug_no_tl test_accuracy per_class_accuracy; do
  check_png "$out2/$f.png"
done

# Grids: accuracy against one varied key, a heat map for two.
"$python" "$script" "$tmp/grid1" --out "$tmp/plots_grid1" > "$tmp/grid1.txt"
check_png "$tmp/plots_grid1/grid_training.epochs.png"
"$python" "$script" "$tmp/grid2" --out "$tmp/plots_grid2" > "$tmp/grid2.txt"
check_png "$tmp/plots_grid2/grid_training.batch_size_training.epochs.png"
if ls "$tmp/plots/" | grep -q '^grid_'; then
  echo "FAIL: a grid plot drawn for runs without a grid"; fail=1
fi

# The test accuracy bars say their epochs and training images where they differ from the
# notebook's (10 epochs, 50,000 images).
"$python" - "$here/scripts" "$tmp" > "$tmp/budget.txt" 2>&1 <<'EOF' || { cat "$tmp/budget.txt"; echo "FAIL: training_budget"; fail=1; }
import os, sys
sys.path.insert(0, sys.argv[1])
import plot_runs
root = sys.argv[2]
def budget(folder, name):
    runs = [r for r in plot_runs.find_runs([os.path.join(root, folder)]) if r.name == name]
    return plot_runs.training_budget(runs)
assert budget("runs", "no_aug_no_tl") == "", budget("runs", "no_aug_no_tl")
assert budget("runs", "no_aug_tl") == "2 epochs, 5,000 training images", budget("runs", "no_aug_tl")
assert budget("runs", "aug_tl") == "", "an incomplete run has no budget"
assert budget("many", "aug_no_tl") == "20 epochs", budget("many", "aug_no_tl")
EOF

# No run folder: one-line error, non-zero exit.
mkdir -p "$tmp/empty"
if "$python" "$script" "$tmp/empty" --out "$tmp/plots3" 2>"$tmp/err"; then
  echo "FAIL: no error for a folder without runs"; fail=1
elif ! grep -q "no run folder with metrics.csv" "$tmp/err"; then
  echo "FAIL: unexpected error message:"; cat "$tmp/err"; fail=1
fi

# No cifar-exp to list the runs: one-line error, non-zero exit.
if CIFAR_EXP="$tmp/nowhere/cifar-exp" "$python" "$script" "$tmp/runs" --out "$tmp/plots4" 2>"$tmp/err"; then
  echo "FAIL: no error without cifar-exp"; fail=1
elif [ "$(wc -l < "$tmp/err")" -ne 1 ] || ! grep -q "nowhere/cifar-exp: no such executable" "$tmp/err"; then
  echo "FAIL: unexpected error message without cifar-exp:"; cat "$tmp/err"; fail=1
fi

if [ -n "${KEEP_PLOTS:-}" ]; then
  mkdir -p "$KEEP_PLOTS" && cp -r "$out" "$out2" "$tmp/plots_grid1" "$tmp/plots_grid2" "$KEEP_PLOTS"/
fi
if [ "$fail" -ne 0 ]; then
  echo "plot_runs smoke test FAILED"
  exit 1
fi
echo "plot_runs smoke test passed"
