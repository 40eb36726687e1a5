#!/usr/bin/env bash
# shellcheck disable=SC2034  # keep_tmp is only read inside the EXIT trap
# bench/compare.sh: `cifar-exp bench` (C++) against bench/torch_reference.py (the same work in
# Python PyTorch), same configs, same thread count, several rounds.
#
#   bench/compare.sh [--rounds R] [--threads T] [--iterations N] [--warmup N] [--data-dir DIR]
#                    [--precision fp32|bf16] [CONFIG...]
#
# Defaults: 3 rounds, T = nproc, 50 timed steps after 5 warm-up steps (the tools' defaults),
# configs/no_aug_no_tl.json configs/aug_no_tl.json. For each config and round it runs both tools
# with --format json, alternating which goes first (C++ first in odd rounds, Python first in even
# rounds), then prints per config: each phase's mean_ms (median over rounds) for both and the
# ratio Python / C++ (> 1: C++ faster), and training and evaluation images/s for both with the
# ratio C++ / Python (> 1: C++ faster). The first line states threads, rounds, machine and both
# torch versions. Progress goes to stderr.
#
# Environment: CIFAR_EXP (default build/cifar-exp under the repository root; it also resolves each
# config for the Python side, which runs the config as cifar-exp resolves it), PYTHON (default
# /usr/bin/python3, with Debian's python3-torch python3-torchvision python3-numpy). The summary
# arithmetic uses /usr/bin/python3. Exit status: 0, 1 when a run fails (its log is printed and
# the JSON folder kept), 2 for bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CIFAR_EXP:-$ROOT/build/cifar-exp}
PY=${PYTHON:-/usr/bin/python3}
SUMMARY_PY=/usr/bin/python3
REFERENCE=$ROOT/bench/torch_reference.py

usage() { sed -n '3,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "compare.sh: error: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"; }
need_int() { [[ $2 =~ ^[0-9]+$ ]] || die "$1: must be a non-negative integer, got \"$2\""; }

rounds=3 threads=$(nproc) iterations=50 warmup=5
passthrough=() configs=()
while (($#)); do
  case $1 in
    --rounds) need_value "$@"; need_int "$1" "$2"; rounds=$2; shift 2 ;;
    --threads) need_value "$@"; need_int "$1" "$2"; threads=$2; shift 2 ;;
    --iterations) need_value "$@"; need_int "$1" "$2"; iterations=$2; shift 2 ;;
    --warmup) need_value "$@"; need_int "$1" "$2"; warmup=$2; shift 2 ;;
    --data-dir | --precision) need_value "$@"; passthrough+=("$1" "$2"); shift 2 ;;
    --rounds=* | --threads=* | --iterations=* | --warmup=* | --data-dir=* | --precision=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; configs+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) configs+=("$1"); shift ;;
  esac
done
((rounds >= 1)) || die "--rounds: must be at least 1"
((iterations >= 1)) || die "--iterations: must be at least 1"
((threads >= 1)) || threads=$(nproc)  # 0 = all cores, said explicitly to both tools
((${#configs[@]})) || configs=("$ROOT/configs/no_aug_no_tl.json" "$ROOT/configs/aug_no_tl.json")
for config in "${configs[@]}"; do [[ -f $config ]] || die "$config: config file not found"; done
[[ -x $BIN ]] || die "$BIN: no such executable (build with scripts/build.sh, or set CIFAR_EXP)"
[[ -x $SUMMARY_PY ]] || die "$SUMMARY_PY not found (the summary needs it)"
"$PY" -c 'import torch, torchvision, numpy' 2> /dev/null ||
  die "$PY cannot import torch, torchvision and numpy (apt-get install python3-torch python3-torchvision python3-numpy, or set PYTHON)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cifar-exp-compare.XXXXXX")
keep_tmp=0
trap '((keep_tmp)) || rm -rf "$TMP"' EXIT

# One run: stdout (the JSON) to $TMP/<tag>.json, stderr to $TMP/<tag>.log.
run_side() {
  local side=$1 config=$2 tag=$3
  local cmd
  if [[ $side == cpp ]]; then
    cmd=("$BIN" bench --config "$config")
  else
    cmd=("$PY" "$REFERENCE" --config "$config" --cifar-exp "$BIN")
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
    if ((r % 2)); then order=(cpp python); else order=(python cpp); fi
    for side in "${order[@]}"; do
      run_side "$side" "$config" "c$index.$side.r$r"
    done
  done
done

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//' || true)
"$SUMMARY_PY" - "$TMP" "$rounds" "$threads" "$(nproc)" "${cpu:-unknown}" "${configs[@]}" << 'PYEOF' || { keep_tmp=1; echo "compare.sh: outputs kept in $TMP" >&2; exit 1; }
import json
import os
import statistics
import sys

tmp, rounds, threads, cores, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
configs = sys.argv[6:]
ORDER = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step",
         "features", "eval"]
REQUIRED = ["tool", "config", "model", "augmentation", "batch_size", "eval_batch_size", "threads",
            "device", "precision", "torch_version", "iterations", "warmup", "data", "phases",
            "train_images_per_second", "eval_images_per_second"]
TOOLS = {"cpp": "cifar-exp", "python": "torch-python"}


def load(tag):
    path = os.path.join(tmp, tag + ".json")
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"compare.sh: error: {path}: not a JSON report ({e})")
    missing = [k for k in REQUIRED if k not in report]
    if missing:
        sys.exit(f"compare.sh: error: {path}: missing keys {', '.join(missing)}")
    return report


runs = {}
for i, config in enumerate(configs, 1):
    runs[config] = {side: [load(f"c{i}.{side}.r{r}") for r in range(1, rounds + 1)]
                    for side in ("cpp", "python")}
    for side, reports in runs[config].items():
        for rep in reports:
            if rep["tool"] != TOOLS[side]:
                sys.exit(f"compare.sh: error: {config}: expected tool {TOOLS[side]!r} from the "
                         f"{side} side, got {rep['tool']!r}")

first = next(iter(runs.values()))
cpp_torch = first["cpp"][0]["torch_version"]
py_torch = first["python"][0]["torch_version"]
print(f"compare: {threads} threads, {rounds} rounds (median of each side's per-run mean); "
      f"machine: {cores} cores (nproc), {cpu}; torch: cifar-exp libtorch {cpp_torch}, "
      f"Python torch {py_torch}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


for config, sides in runs.items():
    c0, p0 = sides["cpp"][0], sides["python"][0]
    print()
    print(f"{c0['config']} ({config}): {c0['model']}, "
          f"{'augmentation' if c0['augmentation'] else 'no augmentation'}, batch {c0['batch_size']}, "
          f"eval batch {c0['eval_batch_size']}, {c0['device']}, {c0['precision']}, "
          f"{c0['iterations']} steps after {c0['warmup']} warm-up")
    warnings = []
    for key in ("config", "model", "augmentation", "batch_size", "eval_batch_size", "threads",
                "device", "precision", "iterations", "warmup", "data"):
        cv = sorted({json.dumps(r[key]) for r in sides["cpp"]})
        pv = sorted({json.dumps(r[key]) for r in sides["python"]})
        if cv != pv:
            warnings.append(f"{key} differs: cifar-exp {', '.join(cv)}, Python {', '.join(pv)}")
    for side, name in (("cpp", "cifar-exp"), ("python", "Python")):
        for note in sorted({r["weights"] for r in sides[side] if "weights" in r}):
            warnings.append(f"{name} backbone weights: {note}")
    data = sorted({r["data"] for r in sides["cpp"] + sides["python"]})
    print(f"data: {'/'.join(data)}")
    for w in warnings:
        print(f"WARNING: {w}")

    phases = [p for p in ORDER
              if any(p in r["phases"] for r in sides["cpp"] + sides["python"])]
    phases += sorted({p for r in sides["cpp"] + sides["python"] for p in r["phases"]} - set(ORDER))
    rows = []
    for phase in phases:
        c = median([r["phases"].get(phase, {}).get("mean_ms") for r in sides["cpp"]])
        p = median([r["phases"].get(phase, {}).get("mean_ms") for r in sides["python"]])
        ratio = p / c if c and p is not None else None
        rows.append((phase, fmt(c, ".3f"), fmt(p, ".3f"), fmt(ratio, ".2f")))
    head = ("phase", "C++ mean ms", "Python mean ms", "Python/C++")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(4)]
    line = lambda cells: "  ".join(  # noqa: E731
        str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
        for i, cell in enumerate(cells))
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    rows = []
    for key, label in (("train_images_per_second", "train images/s"),
                       ("eval_images_per_second", "eval images/s"),
                       ("features_images_per_second", "features images/s")):
        c = median([r.get(key) for r in sides["cpp"]])
        p = median([r.get(key) for r in sides["python"]])
        if c is None and p is None:
            continue
        ratio = c / p if c is not None and p else None
        rows.append((label, fmt(c, ".1f"), fmt(p, ".1f"), fmt(ratio, ".2f")))
    head = ("throughput", "C++", "Python", "C++/Python")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(4)]
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
PYEOF
