#!/usr/bin/env bash
# shellcheck disable=SC2034  # keep_tmp is only read inside the EXIT trap
# bench/compare.sh: `cifar-exp bench` (C++, one or more builds) against bench/torch_reference.py
# (the same work in Python PyTorch, one or more Pythons and variants), same configs, same thread
# count, several rounds.
#
#   bench/compare.sh [--rounds R] [--threads T] [--iterations N] [--warmup N] [--data-dir DIR]
#                    [--precision fp32|bf16] [--cifar-exp PATH[:generic]]...
#                    [--python LABEL=PYTHON[:compile][:contiguous]]... [--format table|markdown]
#                    [CONFIG...]
#
# Sides. Each --cifar-exp PATH[:generic] is a cifar-exp binary (default: $CIFAR_EXP if set, else
# build/cifar-exp and, when it is executable, build-pypi/cifar-exp); each is labelled by the
# libtorch it reports ("cifar-exp 1.13.0", "cifar-exp 2.15.0+cu132"). ":generic" runs it with
# --set model.kernels=generic (libtorch's own ReLU and max pool, NCHW VGG16: the kernels before
# the fused ones), labelled "... generic". Each --python
# LABEL=PYTHON[:compile][:contiguous] runs bench/torch_reference.py with that Python (any with
# torch >= 1.13), adding --compile (torch >= 2) and/or --memory-format contiguous (default
# channels_last). Default Python sides: torch-debian=/usr/bin/python3, torch-pypi=.venv/bin/python
# and torch-pypi-compile=.venv/bin/python:compile, each only when that Python imports torch (the
# compile side only with torch >= 2); $PYTHON, if set, replaces them with torch-python=$PYTHON.
# The first cifar-exp binary resolves each config for the Python sides.
#
# Defaults: 3 rounds, T = nproc, 50 timed steps after 5 warm-up steps (the tools' defaults),
# configs/no_aug_no_tl.json configs/aug_no_tl.json. For each config and round it runs every side
# with --format json, the order of the sides rotated by one each round. Then per config: each
# phase's mean_ms (median over rounds) with one column per side, training / evaluation / backbone
# features images/s with one column per side, and for each cifar-exp side a line "fastest Python:
# LABEL N img/s; cifar-exp X / fastest Python = R.RRx" (training images/s, > 1: cifar-exp
# faster). --format markdown prints instead one Markdown table for BENCHMARKS.md: a row per
# config, a column per side, training images/s with the ratio to the fastest Python side.
# Progress and warnings (a config, threads, precision, ... that differs between sides) go to
# stderr in markdown mode, to stdout in the table.
#
# The summary arithmetic uses /usr/bin/python3. Exit status: 0, 1 when a run fails (its log is
# printed and the JSON folder kept), 2 for bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUMMARY_PY=/usr/bin/python3
REFERENCE=$ROOT/bench/torch_reference.py

usage() { awk 'NR >= 3 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
die() { echo "compare.sh: error: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
need_int() { [[ $2 =~ ^[0-9]+$ ]] || die "$1: must be a non-negative integer, got \"$2\""; }
imports_torch() { [[ -x $1 ]] && "$1" -c 'import torch' > /dev/null 2>&1; }
has_compile() {
  "$1" -c 'import sys, torch
sys.exit(0 if int(torch.__version__.split(".")[0]) >= 2 and hasattr(torch, "compile") else 1)' \
    > /dev/null 2>&1
}

rounds=3 threads=$(nproc) iterations=50 warmup=5 format=table
passthrough=() configs=() cpp_bins=() python_specs=()
while (($#)); do
  case $1 in
    --rounds) need_value "$@"; need_int "$1" "$2"; rounds=$2; shift 2 ;;
    --threads) need_value "$@"; need_int "$1" "$2"; threads=$2; shift 2 ;;
    --iterations) need_value "$@"; need_int "$1" "$2"; iterations=$2; shift 2 ;;
    --warmup) need_value "$@"; need_int "$1" "$2"; warmup=$2; shift 2 ;;
    --data-dir | --precision) need_value "$@"; passthrough+=("$1" "$2"); shift 2 ;;
    --cifar-exp) need_value "$@"; cpp_bins+=("$2"); shift 2 ;;
    --python) need_value "$@"; python_specs+=("$2"); shift 2 ;;
    --format) need_value "$@"; format=$2; shift 2 ;;
    --rounds=* | --threads=* | --iterations=* | --warmup=* | --data-dir=* | --precision=* | \
      --cifar-exp=* | --python=* | --format=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; configs+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) configs+=("$1"); shift ;;
  esac
done
((rounds >= 1)) || die "--rounds: must be at least 1"
((iterations >= 1)) || die "--iterations: must be at least 1"
((threads >= 1)) || threads=$(nproc)  # 0 = all cores, said explicitly to every side
[[ $format == table || $format == markdown ]] || die "--format: must be table or markdown, got \"$format\""
((${#configs[@]})) || configs=("$ROOT/configs/no_aug_no_tl.json" "$ROOT/configs/aug_no_tl.json")
for config in "${configs[@]}"; do [[ -f $config ]] || die "$config: config file not found"; done
[[ -x $SUMMARY_PY ]] || die "$SUMMARY_PY not found (the summary needs it)"

# The sides: parallel arrays, one entry per side.
side_kind=() side_cmd=() side_flags=() side_label=() side_spec=()
if ((${#cpp_bins[@]} == 0)); then
  if [[ -n ${CIFAR_EXP:-} ]]; then
    cpp_bins=("$CIFAR_EXP")
  else
    cpp_bins=("$ROOT/build/cifar-exp")
    [[ -x $ROOT/build-pypi/cifar-exp ]] && cpp_bins+=("$ROOT/build-pypi/cifar-exp")
  fi
fi
for spec in "${cpp_bins[@]}"; do
  bin=$spec flags=""
  if [[ $spec == *:generic ]]; then  # the same binary with libtorch's own layers (model.kernels)
    bin=${spec%:generic} flags="--set model.kernels=generic"
  fi
  [[ -x $bin ]] || die "$bin: no such executable (build with scripts/build.sh, or give --cifar-exp PATH)"
  side_kind+=(cpp) side_cmd+=("$bin") side_flags+=("$flags") side_label+=("") side_spec+=("$spec")
done
if ((${#python_specs[@]} == 0)); then
  if [[ -n ${PYTHON:-} ]]; then
    python_specs=("torch-python=$PYTHON")
  else
    imports_torch /usr/bin/python3 && python_specs+=("torch-debian=/usr/bin/python3")
    if imports_torch "$ROOT/.venv/bin/python"; then
      python_specs+=("torch-pypi=$ROOT/.venv/bin/python")
      has_compile "$ROOT/.venv/bin/python" && python_specs+=("torch-pypi-compile=$ROOT/.venv/bin/python:compile")
    fi
    ((${#python_specs[@]})) ||
      die "no Python with torch found (/usr/bin/python3 with python3-torch, or .venv); give --python LABEL=PYTHON"
  fi
fi
for spec in "${python_specs[@]}"; do
  [[ $spec == *=* && -n ${spec%%=*} ]] || die "--python: expected LABEL=PYTHON[:compile][:contiguous], got \"$spec\""
  label=${spec%%=*} rest=${spec#*=}
  [[ $label != *$'\t'* ]] || die "--python: a label cannot hold a tab"
  IFS=: read -r -a parts <<< "$rest"
  py=${parts[0]:-}
  [[ -n $py ]] || die "--python $spec: no Python given"
  flags=()
  for flag in "${parts[@]:1}"; do
    case $flag in
      compile) has_compile "$py" || die "--python $spec: $py has no torch >= 2 (needed for compile)"; flags+=(--compile) ;;
      contiguous) flags+=(--memory-format contiguous) ;;
      channels_last) flags+=(--memory-format channels_last) ;;
      *) die "--python $spec: unknown variant \"$flag\" (compile, contiguous, channels_last)" ;;
    esac
  done
  imports_torch "$py" || die "--python $spec: $py cannot import torch (apt-get install python3-torch, or pip install torch)"
  side_kind+=(python) side_cmd+=("$py") side_flags+=("${flags[*]}") side_label+=("$label")
  side_spec+=("$rest")
done
for label in "${side_label[@]}"; do
  [[ -z $label ]] && continue
  (($(printf '%s\n' "${side_label[@]}" | grep -cxF -- "$label") == 1)) || die "--python: label \"$label\" given twice"
done
resolver=${cpp_bins[0]}
nsides=${#side_kind[@]}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cifar-exp-compare.XXXXXX")
keep_tmp=0
trap '((keep_tmp)) || rm -rf "$TMP"' EXIT
for ((s = 0; s < nsides; s++)); do
  printf '%s\t%s\t%s\n' "${side_kind[s]}" "${side_label[s]}" "${side_spec[s]}"
done > "$TMP/sides.tsv"

# One run of side s: stdout (the JSON) to $TMP/<tag>.json, stderr to $TMP/<tag>.log.
run_side() {
  local s=$1 config=$2 tag=$3
  local cmd flags
  if [[ ${side_kind[s]} == cpp ]]; then
    read -r -a flags <<< "${side_flags[s]}"
    cmd=("${side_cmd[s]}" bench --config "$config" ${flags[@]+"${flags[@]}"})
  else
    read -r -a flags <<< "${side_flags[s]}"  # the variant's options: words without spaces
    cmd=("${side_cmd[s]}" "$REFERENCE" --config "$config" --cifar-exp "$resolver")
    cmd+=(${flags[@]+"${flags[@]}"})
  fi
  cmd+=(--format json --threads "$threads" --iterations "$iterations" --warmup "$warmup")
  cmd+=(${passthrough[@]+"${passthrough[@]}"})
  echo "compare.sh: $tag: ${cmd[*]}" >&2
  if ! "${cmd[@]}" > "$TMP/$tag.json" 2> "$TMP/$tag.log"; then
    keep_tmp=1
    echo "compare.sh: error: $tag failed: ${cmd[*]}" >&2
    tail -n 20 "$TMP/$tag.log" >&2
    echo "compare.sh: outputs kept in $TMP" >&2
    exit 1
  fi
}

index=0
for config in "${configs[@]}"; do
  index=$((index + 1))
  for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < nsides; k++)); do
      s=$(((k + r - 1) % nsides))  # round r starts with side r-1: every side takes every place
      run_side "$s" "$config" "c$index.s$s.r$r"
    done
  done
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//' || true)
"$SUMMARY_PY" - "$TMP" "$ROOT" "$format" "$rounds" "$threads" "$(nproc)" "${cpu:-unknown}" "${configs[@]}" << 'PYEOF' || { keep_tmp=1; echo "compare.sh: outputs kept in $TMP" >&2; exit 1; }
import json
import os
import statistics
import sys

tmp, root, fmt_kind = sys.argv[1], sys.argv[2], sys.argv[3]
rounds, threads, cores, cpu = int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
configs = sys.argv[8:]
ORDER = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step",
         "features", "eval"]
REQUIRED = ["tool", "config", "model", "augmentation", "batch_size", "eval_batch_size", "threads",
            "device", "precision", "torch_version", "iterations", "warmup", "data", "phases",
            "train_images_per_second", "eval_images_per_second"]
REQUIRED_PYTHON = ["memory_format", "compile"]
TOOLS = {"cpp": "cifar-exp", "python": "torch-python"}
SAME = ("config", "model", "augmentation", "batch_size", "eval_batch_size", "threads", "device",
        "precision", "iterations", "warmup", "data")
markdown = fmt_kind == "markdown"
# Warnings go with the table, or to stderr when stdout is a Markdown table.
warn_out = sys.stderr if markdown else sys.stdout


def load(tag, kind):
    path = os.path.join(tmp, tag + ".json")
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"compare.sh: error: {path}: not a JSON report ({e})")
    if not isinstance(report, dict):
        sys.exit(f"compare.sh: error: {path}: not a JSON object")
    missing = [k for k in REQUIRED + (REQUIRED_PYTHON if kind == "python" else [])
               if k not in report]
    if missing:
        sys.exit(f"compare.sh: error: {path}: missing keys {', '.join(missing)}")
    if report["tool"] != TOOLS[kind]:
        sys.exit(f"compare.sh: error: {path}: expected tool {TOOLS[kind]!r}, got "
                 f"{report['tool']!r}")
    return report


def short_path(path):
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


with open(os.path.join(tmp, "sides.tsv")) as f:
    sides = []
    for line in f.read().splitlines():
        kind, label, spec = line.split("\t")
        sides.append({"kind": kind, "label": label, "spec": spec})

runs = {}  # config -> side index -> reports over rounds
for i, config in enumerate(configs, 1):
    runs[config] = [[load(f"c{i}.s{s}.r{r}", side["kind"]) for r in range(1, rounds + 1)]
                    for s, side in enumerate(sides)]

first = next(iter(runs.values()))
for s, side in enumerate(sides):
    r0 = first[s][0]
    side["torch"] = r0["torch_version"]
    if side["kind"] == "cpp":
        generic = r0.get("kernels") == "generic"
        side["label"] = f"cifar-exp {r0['torch_version']}" + (" generic" if generic else "")
        side["what"] = (f"{short_path(side['spec'].removesuffix(':generic'))}, libtorch "
                        f"{r0['torch_version']}, {r0.get('kernels', 'generic')} kernels")
        if any(r and r.get("convolution") == "winograd"
               for config_runs in runs.values() for r in config_runs[s]):
            side["what"] += ", oneDNN Winograd convolutions for the frozen VGG16"
    else:
        python = side["spec"].split(":")[0]
        side["what"] = (f"{short_path(python)}, torch {r0['torch_version']}, "
                        f"{r0['memory_format']}"
                        + (", torch.compile" if r0["compile"] else ""))
labels = [side["label"] for side in sides]
for s, side in enumerate(sides):  # two builds with the same libtorch: tell them apart by path
    if side["kind"] == "cpp" and labels.count(side["label"]) > 1:
        side["label"] += f" ({short_path(side['spec'])})"
labels = [side["label"] for side in sides]
cpp_sides = [s for s, side in enumerate(sides) if side["kind"] == "cpp"]
py_sides = [s for s, side in enumerate(sides) if side["kind"] == "python"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(head, rows):
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = lambda cells: "  ".join(  # noqa: E731
        str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
        for i, cell in enumerate(cells))
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def describe(r):
    what = {"small_cnn": "small CNN", "vgg16_transfer": "frozen VGG16"}.get(r["model"], r["model"])
    if r["augmentation"]:
        what += " + augmentation"
    if "features_images_per_second" in r:
        what += "; head steps on cached features"
    return what


def warnings_for(config, per_side):
    out = []
    everyone = [r for reports in per_side for r in reports]
    for key in SAME:
        if len({json.dumps(r[key]) for r in everyone}) > 1:
            values = "; ".join(
                f"{sides[s]['label']} {', '.join(sorted({json.dumps(r[key]) for r in reports}))}"
                for s, reports in enumerate(per_side))
            out.append(f"{key} differs: {values}")
    for s in py_sides:  # the variant asked for is the one that ran
        spec = sides[s]["spec"].split(":")[1:]
        want_format = "contiguous" if "contiguous" in spec else "channels_last"
        want_compile = "compile" in spec
        for r in per_side[s]:
            if r["memory_format"] != want_format or bool(r["compile"]) != want_compile:
                out.append(f"{sides[s]['label']}: ran memory_format {r['memory_format']}, "
                           f"compile {r['compile']}; asked {want_format}, compile {want_compile}")
                break
    for s, reports in enumerate(per_side):
        for note in sorted({r["weights"] for r in reports if "weights" in r}):
            out.append(f"{sides[s]['label']} backbone weights: {note}")
    return [f"{config}: {w}" if markdown else w for w in out]


def throughput(per_side, key):
    return [median([r.get(key) for r in reports]) for reports in per_side]


def fastest_python(train):
    candidates = [(train[s], sides[s]["label"]) for s in py_sides if train[s] is not None]
    return max(candidates) if candidates else (None, None)


if not markdown:
    print(f"compare: {threads} threads, {rounds} round{'s' if rounds != 1 else ''} (median of each side's per-run mean; "
          f"side order rotated each round); machine: {cores} cores (nproc), {cpu}")
    for side in sides:
        print(f"  {side['label']}: {side['what']}")
else:
    c0 = first[0][0]
    print(f"Training images/s, `bench/compare.sh --rounds {rounds} --threads {threads} "
          f"--iterations {c0['iterations']} --warmup {c0['warmup']}` on {cores} cores ({cpu}), "
          f"{c0['device']}, {c0['precision']}: median over rounds of each run's mean step; in "
          "brackets the ratio to the fastest Python side (> 1: faster than it).")
    print()
    print("| config | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(sides))

for config, per_side in runs.items():
    r0 = per_side[0][0]
    train = throughput(per_side, "train_images_per_second")
    best, best_label = fastest_python(train)
    warnings = warnings_for(config, per_side)
    if markdown:
        cells = []
        for v in train:
            cell = fmt(v, ",.0f")
            if v is not None and best:
                cell += f" ({v / best:.2f}x)"
            cells.append(cell)
        print(f"| {r0['config']} ({describe(r0)}) | " + " | ".join(cells) + " |")
        for w in warnings:
            print(f"WARNING: {w}", file=warn_out)
        continue
    print()
    print(f"{r0['config']} ({config}): {describe(r0)}, batch {r0['batch_size']}, "
          f"eval batch {r0['eval_batch_size']}, {r0['device']}, {r0['precision']}, "
          f"{r0['iterations']} steps after {r0['warmup']} warm-up")
    data = sorted({r["data"] for reports in per_side for r in reports})
    print(f"data: {'/'.join(data)}")
    for w in warnings:
        print(f"WARNING: {w}", file=warn_out)
    phases = [p for p in ORDER
              if any(p in r["phases"] for reports in per_side for r in reports)]
    phases += sorted({p for reports in per_side for r in reports for p in r["phases"]}
                     - set(ORDER))
    rows = []
    for phase in phases:
        rows.append([phase] + [
            fmt(median([r["phases"].get(phase, {}).get("mean_ms") for r in reports]), ".3f")
            for reports in per_side])
    print()
    table(["phase (mean ms)"] + labels, rows)
    print()
    rows = []
    for key, label in (("train_images_per_second", "train images/s"),
                       ("eval_images_per_second", "eval images/s"),
                       ("features_images_per_second", "features images/s")):
        values = throughput(per_side, key)
        if all(v is None for v in values):
            continue
        rows.append([label] + [fmt(v, ".1f") for v in values])
    table(["throughput"] + labels, rows)
    compiled = [(sides[s]["label"], median([r.get("compile_seconds") for r in per_side[s]]))
                for s in py_sides]
    for label, seconds in compiled:
        if seconds is not None:
            print(f"{label}: torch.compile took {seconds:.1f} s per run (untimed)")
    if best is not None:
        for s in cpp_sides:
            if train[s] is not None:
                print(f"fastest Python: {best_label} {best:.0f} img/s; {sides[s]['label']} / "
                      f"fastest Python = {train[s] / best:.2f}x")

if markdown:
    print()
    print("Sides: " + "; ".join(f"{side['label']} = {side['what']}" for side in sides) + ".")
PYEOF
