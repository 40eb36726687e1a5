#!/usr/bin/env bash
# Runs `cifar-exp bench` and bench/torch_reference.py (the same work in Python PyTorch) on the
# same configs, alternating which goes first, several rounds in one go, and prints per phase the
# median over rounds of each side's mean and the ratio Python / C++ (> 1: cifar-exp is faster).
#   bench/compare.sh [--rounds R] [--threads T] [--iterations N] [--warmup N] [--data-dir D]
#                    [--precision fp32|bf16] [CONFIG...]
# Defaults: 3 rounds, all cores, 50 iterations, 5 warm-up, configs/no_aug_no_tl.json and
# configs/aug_no_tl.json. Binary: $CIFAR_EXP (default build/cifar-exp). Python: $PYTHON (default
# /usr/bin/python3 with Debian's python3-torch, python3-torchvision, python3-numpy).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CIFAR_EXP:-$ROOT/build/cifar-exp}
PY=${PYTHON:-/usr/bin/python3}
rounds=3 threads=$(nproc) iterations=50 warmup=5 extra=() configs=()
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --data-dir|--precision) extra+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
((${#configs[@]})) || configs=("$ROOT/configs/no_aug_no_tl.json" "$ROOT/configs/aug_no_tl.json")
[[ -x "$BIN" ]] || { echo "compare.sh: $BIN not found (build with scripts/build.sh or set CIFAR_EXP)" >&2; exit 2; }
"$PY" -c 'import torch, torchvision, numpy' 2>/dev/null || {
  echo "compare.sh: $PY lacks torch/torchvision/numpy (apt-get install python3-torch python3-torchvision python3-numpy)" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "compare.sh: $threads threads on both sides, $rounds rounds, $iterations steps after $warmup warm-up;" \
  "machine: $(nproc) cores, $cpu; $("$BIN" --version | sed -n 2p), Python torch $("$PY" -c 'import torch; print(torch.__version__)')"
for config in "${configs[@]}"; do
  name=$(basename "$config" .json)
  for ((r = 1; r <= rounds; r++)); do
    cpp=("$BIN" bench --config "$config" --format json --threads "$threads" --iterations "$iterations" --warmup "$warmup" "${extra[@]}")
    python=("$PY" "$ROOT/bench/torch_reference.py" --config "$config" --format json --threads "$threads" --iterations "$iterations" --warmup "$warmup" "${extra[@]}")
    if ((r % 2)); then order=(cpp python); else order=(python cpp); fi
    for side in "${order[@]}"; do
      echo "  $name round $r: $side" >&2
      if [[ $side == cpp ]]; then "${cpp[@]}" > "$TMP/$name.cpp.$r.json"; else "${python[@]}" > "$TMP/$name.python.$r.json" 2>/dev/null; fi
    done
  done
done

"$PY" - "$TMP" "${configs[@]}" <<'PYEOF'
import json, os, statistics, sys
tmp, configs = sys.argv[1], sys.argv[2:]
order = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step", "features", "eval"]
for config in configs:
    name = os.path.basename(config)[:-5]
    runs = {side: [json.load(open(os.path.join(tmp, f)))
                   for f in sorted(os.listdir(tmp)) if f.startswith(f"{name}.{side}.")]
            for side in ("cpp", "python")}
    first = runs["cpp"][0]
    print(f"\n{name} ({first['model']}, {'augmentation' if first['augmentation'] else 'no augmentation'}, "
          f"batch {first['batch_size']}, {first['device']}, {first['precision']}, {first['data']} data; "
          f"median of {len(runs['cpp'])} rounds)")
    print(f"| phase | cifar-exp ms | Python ms | Python / cifar-exp |")
    print(f"|---|---:|---:|---:|")
    def med(side, phase, key="mean_ms"):
        values = [r["phases"][phase][key] for r in runs[side] if phase in r["phases"]]
        return statistics.median(values) if values else None
    for phase in order:
        c, p = med("cpp", phase), med("python", phase)
        if c is None or p is None:
            continue
        print(f"| {phase} | {c:.3f} | {p:.3f} | {p / c:.2f} |")
    for key, label in (("train_images_per_second", "training images/s"), ("eval_images_per_second", "evaluation images/s"),
                       ("features_images_per_second", "backbone features images/s")):
        if key not in runs["cpp"][0]:
            continue
        c = statistics.median(r[key] for r in runs["cpp"])
        p = statistics.median(r[key] for r in runs["python"])
        print(f"| {label} | {c:.0f} | {p:.0f} | cifar-exp {c / p:.2f}x |")
PYEOF
