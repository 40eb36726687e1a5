#!/usr/bin/env bash
# Smoke test for scripts/plot_runs.py: makes fake cifar-exp run folders (two configurations x two
# seeds, one incomplete run, a configuration with four seeds, sweeps over a grid of one and of
# two keys, 1-epoch runs on 500 test images, runs with each kind of validation, and a sweep.json
# order), plots them, and checks that the expected PNG files exist and start with the PNG
# signature. Through the script's hidden --describe (the texts of each figure as drawn, and its
# scatter dots) it checks that: no axis repeats a tick label (one epoch: "13% 13% 13%"), the plots
# follow the comparison table's rows (cifar-exp compare --format json): its order, and, through a
# cifar-exp whose table has its rows reversed and other accuracies, its per-seed accuracies
# ("seeds") and means; captions give epochs, training images, test images and seeds ("500 test
# images x 3 seeds", not "1500 test images"); the validation line and captions say which
# validation was used; a failing compare is a one-line error with no plots; and the binary is
# --cifar-exp, else $CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP (with a note). Prints SKIP and
# exits 0 when matplotlib or numpy is missing. PYTHON overrides the interpreter (default
# /usr/bin/python3). The script reads the runs through cifar-exp: the binary is the first
# argument (else $CIFAR_EXP_BIN, else build/cifar-exp).
#   plot_runs_smoke.sh [CIFAR_EXP_BIN]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script="$here/scripts/plot_runs.py"
cifar_exp="${1:-${CIFAR_EXP_BIN:-$here/build/cifar-exp}}"
export CIFAR_EXP_BIN="$cifar_exp"
unset CIFAR_EXP  # the deprecated name: tested below on its own
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
             complete=True, write_config=True, training=None, train_images=50000,
             test_images=10000, validation=None, validation_images=None, spread=None):
    # validation: summary.json "validation" (None: no field, as older runs); "none" leaves the
    # val_ columns of metrics.csv empty (or "nan"). spread: train minus val accuracy (default:
    # growing with the epochs).
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
        train = min(0.99, val + (0.015 * e + rng.uniform(-0.01, 0.01) if spread is None
                                 else spread))
        if validation == "none":
            empty = "nan" if seed % 2 else ""
            lines.append("{},{:.6f},{:.6f},{:.6f},{e},{e},{e},{:.3f},{:.1f}".format(
                e, 2.3 * (1 - train) + 0.2, train, 1 - train, 12.5, 4000.0, e=empty))
            continue
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
    per_row = test_images // 10
    for c in range(10):
        correct = int(per_row * min(0.98, max(0.2, final + offsets[c] + rng.uniform(-0.02, 0.02))))
        row = [0] * 10
        row[c] = correct
        rest = per_row - correct
        partner = {3: 5, 5: 3, 1: 9, 9: 1, 0: 8, 8: 0}.get(c)
        if partner is not None:
            row[partner] += rest // 2
            rest -= rest // 2
        for k in range(rest):
            j = rng.choice([j for j in range(10) if j != c])
            row[j] += 1
        matrix.append(row)
    per_class = [matrix[c][c] / per_row for c in range(10)]
    accuracy = sum(per_class) / 10
    summary = {"name": name, "status": "completed", "model": model, "augmentation": aug,
               "transfer": transfer, "epochs": epochs, "seed": seed, "train_images": train_images,
               "test_images": test_images, "test_accuracy": accuracy, "test_error": 1 - accuracy, "test_loss": 0.9,
               "reference_accuracy": reference, "class_names": classes,
               "per_class_accuracy": per_class, "confusion_matrix": matrix}
    if validation is not None:
        summary["validation"] = validation
    if validation_images is not None:
        summary["validation_images"] = validation_images
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

def sweep_order(parent, configurations, runs):
    with open(os.path.join(parent, "sweep.json"), "w") as f:
        json.dump({"configurations": configurations, "runs": runs}, f, indent=2)

grid1 = [(base, base == "aug_no_tl", [("training.epochs", e)], {"epochs": e})
         for base in ("no_aug_no_tl", "aug_no_tl") for e in (10, 30, 5)]
grid_runs(os.path.join(root, "grid1"), grid1)
# The sweep ran no_aug_no_tl first: the table (and so the plots) list it first, not by name.
sweep_order(os.path.join(root, "grid1"), ["no_aug_no_tl", "aug_no_tl"],
            [b + "".join("+{}={}".format(k, v) for k, v in g) for b, _, g, _ in grid1])
grid2 = [(base, base == "aug_no_tl", [("training.batch_size", b), ("training.epochs", e)],
          {"batch_size": b, "epochs": e})
         for base in ("no_aug_no_tl", "aug_no_tl") for b in (32, 128) for e in (4, 8)]
grid_runs(os.path.join(root, "grid2"), grid2)
sweep_order(os.path.join(root, "grid2"), ["no_aug_no_tl", "aug_no_tl"],
            [b + "".join("+{}={}".format(k, v) for k, v in g) for b, _, g, _ in grid2])

# 1 epoch, train and test accuracy 0.2 points apart (y ticks "13% 13% 13%" before); 3 seeds on
# 500 test images and 2,000 training images (the confusion caption said "1500 test images").
small = os.path.join(root, "small")
os.makedirs(small)
for seed in (1, 2, 3):
    make_run(small, "tiny-2024040{}T120000Z".format(seed), "tiny", "small_cnn", False, "none",
             seed, 0.13 / 0.45, None, epochs=1, train_images=2000, test_images=500, spread=0.002)
make_run(small, "single-20240410T120000Z", "single", "small_cnn", False, "none", 1, 0.13 / 0.45,
         None, epochs=1, train_images=2000, test_images=500, spread=0.002)

# Validation: field absent (older runs: the test split), "test", "split" and "none" (val_ columns
# empty or nan; 4 seeds: the mean-and-band curves).
val = os.path.join(root, "validation")
os.makedirs(val)
make_run(val, "v_absent-20240501T120000Z", "v_absent", "small_cnn", False, "none", 1, 0.6, None,
         epochs=3)
make_run(val, "v_test-20240501T120000Z", "v_test", "small_cnn", False, "none", 1, 0.6, None,
         epochs=3, validation="test")
for seed in (1, 2):
    make_run(val, "v_split-2024050{}T120000Z".format(seed), "v_split", "small_cnn", False, "none",
             seed, 0.6, None, epochs=3, train_images=45000, validation="split",
             validation_images=5000)
for seed in (1, 2, 3, 4):
    make_run(val, "v_none-2024050{}T120000Z".format(seed), "v_none", "small_cnn", False, "none",
             seed, 0.6, None, epochs=3, validation="none")

# Order: sweep.json's (zeta, alpha, mid), then a configuration it does not name (extra); neither
# alphabetical nor the notebook's order.
ordered = os.path.join(root, "ordered")
os.makedirs(ordered)
for name in ("alpha", "extra", "mid", "zeta"):
    for seed in (1, 2):
        make_run(ordered, "{}-2024060{}T120000Z".format(name, seed), name, "small_cnn", False,
                 "none", seed, 0.5 + 0.05 * len(name), None)
sweep_order(ordered, ["zeta", "alpha", "mid"], ["zeta", "alpha", "mid"])

# An unreadable sweep.json: compare fails, so no plots (they follow the table): a one-line error.
bad = os.path.join(root, "badsweep")
os.makedirs(bad)
make_run(bad, "one-20240701T120000Z", "one", "small_cnn", False, "none", 1, 0.6, None)
with open(os.path.join(bad, "sweep.json"), "w") as f:
    f.write('{"configurations": [')
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
"$python" "$script" "$tmp/runs" --out "$out" --describe "$tmp/describe_runs.json"
for f in curves_no_aug_no_tl curves_no_aug_tl curves_aug_tl confusion_no_aug_no_tl \
         confusion_no_aug_tl test_accuracy per_class_accuracy; do
  check_png "$out/$f.png"
done
if [ -e "$out/confusion_aug_tl.png" ]; then
  echo "FAIL: confusion plot drawn for a configuration with no completed run"; fail=1
fi

# More than three seeds (mean line with band), a run folder given directly, and a parent.
out2="$tmp/plots2"
"$python" "$script" "$tmp/many" "$tmp/runs/no_aug_tl-20240101T130000Z" --out "$out2" \
  --describe "$tmp/describe_many.json"
for f in curves_aug_no_tl curves_no_aug_tl confusion_aug_no_tl test_accuracy per_class_accuracy; do
  check_png "$out2/$f.png"
done

# Grids: accuracy against one varied key, a heat map for two.
"$python" "$script" "$tmp/grid1" --out "$tmp/plots_grid1" --describe "$tmp/describe_grid1.json" \
  > "$tmp/grid1.txt"
check_png "$tmp/plots_grid1/grid_training.epochs.png"
"$python" "$script" "$tmp/grid2" --out "$tmp/plots_grid2" --describe "$tmp/describe_grid2.json" \
  > "$tmp/grid2.txt"
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
    _, groups = plot_runs.read_table([os.path.join(root, folder)])
    return plot_runs.training_budget(next(g.runs for g in groups if g.name == name))
assert budget("runs", "no_aug_no_tl") == "", budget("runs", "no_aug_no_tl")
assert budget("runs", "no_aug_tl") == "2 epochs, 5,000 training images", budget("runs", "no_aug_tl")
assert budget("runs", "aug_tl") == "", "an incomplete run has no budget"
assert budget("many", "aug_no_tl") == "20 epochs", budget("many", "aug_no_tl")
EOF

# 1-epoch runs on 500 test images, each kind of validation, and a sweep.json order.
for folder in small validation ordered; do
  "$python" "$script" "$tmp/$folder" --out "$tmp/plots_$folder" \
    --describe "$tmp/describe_$folder.json" > "$tmp/$folder.txt"
done
for f in curves_tiny curves_single confusion_tiny test_accuracy per_class_accuracy; do
  check_png "$tmp/plots_small/$f.png"
done
for f in curves_v_absent curves_v_test curves_v_split curves_v_none test_accuracy; do
  check_png "$tmp/plots_validation/$f.png"
done
# The table's order of each set of arguments, from cifar-exp itself, for the checks below.
for set in runs:runs many:"many $tmp/runs/no_aug_tl-20240101T130000Z" grid1:grid1 grid2:grid2 \
           small:small validation:validation ordered:ordered; do
  args=()
  for a in ${set#*:}; do case "$a" in /*) args+=("$a") ;; *) args+=("$tmp/$a") ;; esac; done
  "$cifar_exp" compare --format json "${args[@]}" > "$tmp/table_${set%%:*}.json"
done

# The rows, their order and their accuracies come from the table, not from the runs: a cifar-exp
# whose `compare --format json` has its rows reversed, each seed's test accuracy replaced and a
# mean that is not the seeds' own (`compare --runs` unchanged) must show up as such in the plots.
cat > "$tmp/fake_table.py" <<'EOF'
import json, statistics, sys
rows = json.load(sys.stdin)[::-1]
for r, row in enumerate(rows):
    for i, seed in enumerate(row["seeds"]):
        seed["test_accuracy"] = 0.30 + 0.05 * r + 0.01 * i
    values = [seed["test_accuracy"] for seed in row["seeds"]]
    if values:
        row["test_accuracy"] = {"mean": statistics.mean(values) + 0.003, "n": len(values),
                                "std": statistics.stdev(values) if len(values) > 1 else 0.0}
json.dump(rows, sys.stdout)
EOF
cat > "$tmp/fake-cifar-exp" <<EOF
#!/usr/bin/env bash
set -o pipefail
if [ "\$1" = compare ] && [[ " \$* " != *" --runs "* ]]; then
  "$cifar_exp" "\$@" | "$python" "$tmp/fake_table.py"
else
  exec "$cifar_exp" "\$@"
fi
EOF
chmod +x "$tmp/fake-cifar-exp"
for folder in ordered grid1 grid2; do
  "$tmp/fake-cifar-exp" compare --format json "$tmp/$folder" > "$tmp/fake_table_$folder.json"
  "$python" "$script" "$tmp/$folder" --out "$tmp/plots_fake_$folder" --cifar-exp \
    "$tmp/fake-cifar-exp" --describe "$tmp/describe_fake_$folder.json" > /dev/null
done

"$python" - "$tmp" "$here/scripts" > "$tmp/figures.txt" 2>&1 <<'EOF' || { cat "$tmp/figures.txt"; echo "FAIL: figure checks"; fail=1; }
import json, os, sys
tmp = sys.argv[1]
failures = []

def check(condition, message):
    if not condition:
        failures.append(str(message))

def load(name):
    with open(os.path.join(tmp, "describe_{}.json".format(name))) as f:
        return json.load(f)

def table_order(name):
    with open(os.path.join(tmp, "table_{}.json".format(name))) as f:
        order = []
        for row in json.load(f):
            if row["configuration"] not in order:
                order.append(row["configuration"])
        return order

def first_lines(texts):
    return [t.split("\n")[0] for t in texts]

def base(label):  # "name (small CNN, no aug)" -> "name"
    return label.split(" (")[0]

sets = ["runs", "many", "grid1", "grid2", "small", "validation", "ordered"]
described = {name: load(name) for name in sets}

# 1. No axis of any figure repeats a tick label.
for name, doc in described.items():
    for png, figure in doc["figures"].items():
        for index, axis in enumerate(figure["axes"]):
            for which in ("xticklabels", "yticklabels"):
                labels = axis[which]
                check(len(labels) == len(set(labels)), "{}/{} axes {}: repeated {}: {}".format(
                    name, png, index, which, labels))
small = described["small"]["figures"]
for png in ("curves_tiny.png", "curves_single.png"):
    for axis in small[png]["axes"][:2]:
        low, high = axis["ylim"]
        check(high - low >= 3.9, "{}: y range {} not padded around one epoch".format(png,
                                                                               axis["ylim"]))
        check(len(axis["yticklabels"]) >= 3, "{}: y ticks {}".format(png, axis["yticklabels"]))
        check(all(t.endswith("%") for t in axis["yticklabels"]), axis["yticklabels"])

# The formatter itself: ticks 0.05 apart get two decimals, a tiny range never repeats.
sys.path.insert(0, sys.argv[2])
import plot_runs
formatter = plot_runs.DistinctPercentFormatter()
formatter.set_locs([13.0, 13.05, 13.1])
labels = [formatter(v) for v in (13.0, 13.05, 13.1)]
check(labels == ["13.00%", "13.05%", "13.10%"], "formatter: {}".format(labels))
formatter.set_locs([0, 2.5, 5, 7.5])
labels = [formatter(v) for v in (0, 2.5, 5, 7.5)]
check(labels == ["0.0%", "2.5%", "5.0%", "7.5%"], "formatter: {}".format(labels))
formatter.set_locs([10, 20, 30])
check(formatter(20) == "20%", "formatter: {}".format(formatter(20)))

# 2. Every plot follows the comparison table's row order.
for name in sets:
    doc = described[name]
    table = table_order(name)
    order = doc["order"]
    check(order == table, "{}: order {} is not the table's {}".format(name, order, table))
    figures = doc["figures"]
    if "test_accuracy.png" in figures:
        bars = [base(t) for t in first_lines(figures["test_accuracy.png"]["axes"][0]["xticklabels"])]
        check(bars == [n for n in table if n in bars], "{}: bars {} not in table order {}".format(
            name, bars, table))
    if "per_class_accuracy.png" in figures:
        groups = [base(t) for t in first_lines(figures["per_class_accuracy.png"]["axes"][0]["legend"])]
        check(groups == [n for n in table if n in groups],
              "{}: per-class groups {} not in table order {}".format(name, groups, table))
check(described["ordered"]["order"] == ["zeta", "alpha", "mid", "extra"],
      "sweep.json order: {}".format(described["ordered"]["order"]))
bars = first_lines(described["ordered"]["figures"]["test_accuracy.png"]["axes"][0]["xticklabels"])
check([base(b) for b in bars] == ["zeta", "alpha", "mid", "extra"], "bars: {}".format(bars))
grid1 = described["grid1"]["figures"]["grid_training.epochs.png"]["axes"][0]["legend"]
check(first_lines(grid1) == ["no_aug_no_tl", "aug_no_tl"], "grid lines: {}".format(grid1))
heat = [a["title"].split("\n")[0] for a in
        described["grid2"]["figures"]["grid_training.batch_size_training.epochs.png"]["axes"]
        if a["title"]]
check(heat == ["no_aug_no_tl", "aug_no_tl"], "heat map panels: {}".format(heat))

# 3. Captions give epochs, training images, test images and seeds.
confusion = small["confusion_tiny.png"]["suptitle"]
check("1 epoch, 2,000 training images, 500 test images x 3 seeds" in confusion, confusion)
check("1500" not in confusion and "1,500" not in confusion, confusion)
curves = small["curves_tiny.png"]["suptitle"]
check("1 epoch, 2,000 training images, 500 test images x 3 seeds" in curves, curves)
bars = small["test_accuracy.png"]["axes"][0]["xticklabels"]
check(any(b.startswith("tiny") and "1 epoch, 2,000 training images\n500 test images x 3 seeds"
          in b for b in bars), bars)
check(any(b.startswith("single") and "500 test images x 1 seed" in b for b in bars), bars)
legend = small["per_class_accuracy.png"]["axes"][0]["legend"]
check(any(t.startswith("tiny") and "500 test images x 3 seeds" in t for t in legend), legend)
runs = described["runs"]["figures"]
bars = runs["test_accuracy.png"]["axes"][0]["xticklabels"]
check(any(b.startswith("no_aug_tl") and "2 epochs, 5,000 training images\n10,000 test images "
          "x 2 seeds" in b for b in bars), bars)
check("10 epochs, 50,000 training images, 10,000 test images x 2 seeds"
      in runs["confusion_no_aug_no_tl.png"]["suptitle"], runs["confusion_no_aug_no_tl.png"]["suptitle"])
many = described["many"]["figures"]
check("20 epochs, 50,000 training images, 10,000 test images x 4 seeds"
      in many["curves_aug_no_tl.png"]["suptitle"], many["curves_aug_no_tl.png"]["suptitle"])
check(all("5/10/30 epochs, 50,000 training images, 10,000 test images x 2 seeds per point"
          in t for t in grid1), grid1)
titles = [a["title"] for a in
          described["grid2"]["figures"]["grid_training.batch_size_training.epochs.png"]["axes"]
          if a["title"]]
check(all("4/8 epochs" in t and "x 2 seeds per point" in t for t in titles), titles)

# 4. Which validation was used: the curves' lines and captions, the bars.
figures = described["validation"]["figures"]
def curve_legend(png):
    return [t for axis in figures[png]["axes"][:2] for t in axis["legend"]]
for png in ("curves_v_absent.png", "curves_v_test.png"):
    legend = curve_legend(png)
    check("test (used as validation) · seed 1" in legend, "{}: {}".format(png, legend))
    check("validation on the test split" in figures[png]["suptitle"], figures[png]["suptitle"])
legend = curve_legend("curves_v_split.png")
check("validation (5,000 held-out training images) · seed 1" in legend, legend)
check(not any(t.startswith("test") for t in legend), legend)
check("validation on 5,000 held-out training images" in figures["curves_v_split.png"]["suptitle"]
      and "45,000 training images" in figures["curves_v_split.png"]["suptitle"],
      figures["curves_v_split.png"]["suptitle"])
legend = curve_legend("curves_v_none.png")
check(legend and all(t.startswith("train") for t in legend), legend)
check("no per-epoch validation" in figures["curves_v_none.png"]["suptitle"],
      figures["curves_v_none.png"]["suptitle"])
bars = figures["test_accuracy.png"]["axes"][0]["xticklabels"]
for name, text in (("v_absent", "validation: test split"), ("v_test", "validation: test split"),
                   ("v_split", "validation: 5,000 held-out training images"),
                   ("v_none", "no validation")):
    check(any(b.startswith(name) and text in b for b in bars), "{}: {}".format(name, bars))

# 5. Through the fake table (rows reversed, other per-seed accuracies and means): the plots
# follow its order, draw its seeds' accuracies as the dots and its means as the figures.
def fake(name):
    with open(os.path.join(tmp, "fake_table_{}.json".format(name))) as f:
        return json.load(f), load("fake_" + name)

def percent(row):
    return "{:.1f}%".format(100 * row["test_accuracy"]["mean"])

rows, doc = fake("ordered")
check(doc["order"] == [r["configuration"] for r in rows] == ["extra", "mid", "alpha", "zeta"],
      "fake order: {}".format(doc["order"]))
axis = doc["figures"]["test_accuracy.png"]["axes"][0]
check([base(b) for b in first_lines(axis["xticklabels"])] == doc["order"],
      "fake bars: {}".format(axis["xticklabels"]))
groups = [base(t) for t in
          first_lines(doc["figures"]["per_class_accuracy.png"]["axes"][0]["legend"])]
check(groups == doc["order"], "fake per-class groups: {}".format(groups))
for index, row in enumerate(rows):
    dots = sorted(round(y, 6) for x, y in axis["points"] if round(x) == index)
    seeds = sorted(round(100 * s["test_accuracy"], 6) for s in row["seeds"])
    check(dots == seeds, "{}: dots {} are not the seeds' {}".format(row["configuration"], dots,
                                                                     seeds))
    check(any(t.startswith(percent(row) + "\n")
              for t in doc["figures"]["test_accuracy.png"]["texts"]),
          "{}: mean {} not drawn".format(row["configuration"], percent(row)))
rows, doc = fake("grid1")
axis = doc["figures"]["grid_training.epochs.png"]["axes"][0]
check(first_lines(axis["legend"]) == ["aug_no_tl", "no_aug_no_tl"],
      "fake grid lines: {}".format(axis["legend"]))
dots = sorted((x, round(y, 6)) for x, y in axis["points"])
seeds = sorted((dict((g["key"], g["value"]) for g in row["grid"])["training.epochs"],
                round(100 * s["test_accuracy"], 6))
               for row in rows for s in row["seeds"])
check(dots == seeds, "fake grid dots {} are not the seeds' {}".format(dots, seeds))
rows, doc = fake("grid2")
figure = doc["figures"]["grid_training.batch_size_training.epochs.png"]
heat = [a["title"].split("\n")[0] for a in figure["axes"] if a["title"]]
check(heat == ["aug_no_tl", "no_aug_no_tl"], "fake heat map panels: {}".format(heat))
for row in rows:
    check(any(t.startswith(percent(row) + "\n") for t in figure["texts"]),
          "{}: mean {} not in the heat map".format(row["configuration"], percent(row)))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("figure checks passed")
EOF
tail -n 1 "$tmp/figures.txt"

# compare fails (an unreadable sweep.json): the plots follow the table, so none are drawn; a
# one-line error naming compare's problem, non-zero exit.
if "$python" "$script" "$tmp/badsweep" --out "$tmp/plots_bad" > /dev/null 2> "$tmp/err"; then
  echo "FAIL: no error when compare fails"; fail=1
elif [ "$(wc -l < "$tmp/err")" -ne 1 ] || ! grep -q "compare: .*sweep.json: not a cifar-exp sweep record" "$tmp/err"; then
  echo "FAIL: unexpected error message when compare fails:"; cat "$tmp/err"; fail=1
elif [ -n "$(ls -A "$tmp/plots_bad" 2> /dev/null)" ]; then
  echo "FAIL: plots drawn although compare failed: $(ls "$tmp/plots_bad")"; fail=1
fi

# No run folder: one-line error, non-zero exit.
mkdir -p "$tmp/empty"
if "$python" "$script" "$tmp/empty" --out "$tmp/plots3" 2>"$tmp/err"; then
  echo "FAIL: no error for a folder without runs"; fail=1
elif ! grep -q "no run folder with metrics.csv" "$tmp/err"; then
  echo "FAIL: unexpected error message:"; cat "$tmp/err"; fail=1
fi

# No cifar-exp to list the runs: one-line error, non-zero exit.
if CIFAR_EXP_BIN="$tmp/nowhere/cifar-exp" "$python" "$script" "$tmp/runs" --out "$tmp/plots4" \
    2> "$tmp/err"; then
  echo "FAIL: no error without cifar-exp"; fail=1
elif [ "$(wc -l < "$tmp/err")" -ne 1 ] \
    || ! grep -q "nowhere/cifar-exp: no such executable (\$CIFAR_EXP_BIN)" "$tmp/err"; then
  echo "FAIL: unexpected error message without cifar-exp:"; cat "$tmp/err"; fail=1
fi
# --cifar-exp comes before $CIFAR_EXP_BIN.
if ! CIFAR_EXP_BIN="$tmp/nowhere/cifar-exp" "$python" "$script" "$tmp/small" --out "$tmp/plots5" \
    --cifar-exp "$cifar_exp" > /dev/null 2> "$tmp/err"; then
  echo "FAIL: --cifar-exp not used before \$CIFAR_EXP_BIN:"; cat "$tmp/err"; fail=1
fi
# The deprecated $CIFAR_EXP: still read when $CIFAR_EXP_BIN is not set, with a note; ignored when
# it is.
if ! env -u CIFAR_EXP_BIN CIFAR_EXP="$cifar_exp" "$python" "$script" "$tmp/small" \
    --out "$tmp/plots6" > /dev/null 2> "$tmp/err"; then
  echo "FAIL: \$CIFAR_EXP not read:"; cat "$tmp/err"; fail=1
elif ! grep -q 'note: \$CIFAR_EXP is deprecated for plot_runs.py; set \$CIFAR_EXP_BIN instead' \
    "$tmp/err"; then
  echo "FAIL: no note that \$CIFAR_EXP is deprecated:"; cat "$tmp/err"; fail=1
fi
if ! CIFAR_EXP="$tmp/nowhere/cifar-exp" "$python" "$script" "$tmp/small" --out "$tmp/plots7" \
    > /dev/null 2> "$tmp/err" || grep -q "deprecated" "$tmp/err"; then
  echo "FAIL: \$CIFAR_EXP read although \$CIFAR_EXP_BIN is set:"; cat "$tmp/err"; fail=1
fi

if [ -n "${KEEP_PLOTS:-}" ]; then
  mkdir -p "$KEEP_PLOTS" && cp -r "$out" "$out2" "$tmp/plots_grid1" "$tmp/plots_grid2" \
    "$tmp/plots_small" "$tmp/plots_validation" "$tmp/plots_ordered" "$KEEP_PLOTS"/
fi
if [ "$fail" -ne 0 ]; then
  echo "plot_runs smoke test FAILED"
  exit 1
fi
echo "plot_runs smoke test passed"
