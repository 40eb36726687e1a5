#!/usr/bin/env bash
# shellcheck disable=SC2034  # keep_tmp is only read inside the EXIT trap
# bench/compare.sh: `cifar-exp bench` (C++, one or more builds) against bench/torch_reference.py
# (the same work in Python PyTorch, one or more Pythons and variants), same configs, same thread
# count, several rounds.
#
#   bench/compare.sh [--rounds R] [--threads T] [--iterations N] [--warmup N] [--data-dir DIR]
#                    [--precision fp32|bf16] [--max-isa native|avx2] [--python-allocator same|default]
#                    [--cifar-exp PATH[:generic][:direct]]...
#                    [--python LABEL=PYTHON[:compile][:contiguous]]... [--format table|markdown]
#                    [CONFIG...]
#
# Sides. Each --cifar-exp PATH[:generic][:direct] is a cifar-exp binary (default: $CIFAR_EXP_BIN
# if set, else $CIFAR_EXP (deprecated, still read), else those of build/cifar-exp and
# build-pypi/cifar-exp that are executable, else cifar-exp on PATH: bench/bench_common.py's
# lookup, the one torch_reference.py uses); each is labelled by the libtorch it reports
# ("cifar-exp 1.13.0", "cifar-exp 2.15.0+cu132"). ":generic" runs it with --set
# model.kernels=generic, labelled "... generic": libtorch's own ReLU and max pool (no fused
# ReLU + pool kernel, no in-place ReLUs) and an NCHW VGG16, the layers before the fused kernels;
# it does NOT change the convolutions, so a frozen VGG16 still convolves by model.convolution
# (Winograd by default). ":direct" runs it with --set model.convolution=direct (libtorch's direct
# convolutions for a frozen VGG16, the algorithm the Python sides run), labelled "... direct",
# on the configs where that key applies (model.type vgg16_transfer) and as it is elsewhere; both
# suffixes together give libtorch's layers and convolutions throughout. Without --cifar-exp, and
# when a config has a VGG16, the first default binary also runs as a ":direct" side, so that the
# driver (C++ against Python, same algorithm) and the algorithm (Winograd against direct, same
# driver) are shown apart. Each --python LABEL=PYTHON[:compile][:contiguous] runs
# bench/torch_reference.py with that Python (any with torch >= 1.13), adding --compile
# (torch >= 2) and/or --memory-format contiguous (default channels_last). Default Python sides:
# torch-debian=/usr/bin/python3, torch-pypi=.venv/bin/python and
# torch-pypi-compile=.venv/bin/python:compile, each only when that Python imports torch (the
# compile side only with torch >= 2); $PYTHON, if set, replaces them with torch-python=$PYTHON.
# The first cifar-exp binary resolves each config for the Python sides.
#
# Defaults: R = max(3, number of sides), so that the rotation below puts every side in every
# place at least once; T = nproc; 50 timed steps after 5 warm-up steps (the tools' defaults;
# every side then makes bench_common.EVAL_WARMUP untimed evaluation and backbone-feature calls,
# cifar-exp's kEvalWarmup, before the timed ones); configs/no_aug_no_tl.json
# configs/aug_no_tl.json. For each config and round it runs every side with --format json, the
# order of the sides rotated by one each round. Then: a header line per side (what ran, its
# allocator setting), and per config each phase's mean_ms (median over rounds) with one column
# per side, training / evaluation / backbone features images/s with one column per side, a row
# "convolutions" (direct (libtorch), direct (ours, AVX-512), Winograd (oneDNN), Winograd (ours,
# AVX2), ...: bench_common.CONVOLUTIONS): what each side
# ran for that config, from its report), and for each cifar-exp side a line "fastest Python:
# LABEL N img/s; cifar-exp X / fastest Python = R.RRx" (training images/s, > 1: cifar-exp
# faster). --format markdown prints instead one Markdown table for BENCHMARKS.md: a row per
# config, a column per side, training images/s with the ratio to the fastest Python side (and
# each side's convolutions in its cell where the row's sides differ in them), the sides and
# their allocator settings below it.
# Progress and warnings (a config, threads, precision, ... that differs between sides) go to
# stderr in markdown mode, to stdout in the table.
#
# --max-isa avx2 measures an AVX-512 machine as an AVX2 one: every side runs with oneDNN
# (DNNL_MAX_CPU_ISA, ONEDNN_MAX_CPU_ISA), libtorch's kernels and torch.compile's code
# (ATEN_CPU_CAPABILITY), MKL (MKL_ENABLE_INSTRUCTIONS), OpenBLAS (OPENBLAS_CORETYPE=Haswell) and
# cifar-exp's own kernels (CIFAR_EXP_MAX_CPU_ISA) capped at AVX2, and the output says so.
# native (default): no cap.
#
# --python-allocator same (default) runs every Python side with cifar-exp's glibc allocator
# setting (configure_allocator: mmap and trim thresholds of 256 MiB, as the environment
# MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ that `bench/bench_common.py allocator-env`
# prints, the one definition); default runs them with glibc's defaults (those variables unset),
# as a Python user gets without setting anything. cifar-exp sets its own either way. The output
# says which allocator setting each side ran with (its report's "allocator").
#
# The summary is bench/summarize.py (phase order, CPU model and binary lookup from
# bench/bench_common.py), run by /usr/bin/python3. Exit status: 0, 1 when a run fails (its log is
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

rounds="" threads=$(nproc) iterations=50 warmup=5 format=table max_isa=native python_allocator=same
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
    --max-isa) need_value "$@"; max_isa=$2; shift 2 ;;
    --python-allocator) need_value "$@"; python_allocator=$2; shift 2 ;;
    --rounds=* | --threads=* | --iterations=* | --warmup=* | --data-dir=* | --precision=* | \
      --cifar-exp=* | --python=* | --format=* | --max-isa=* | --python-allocator=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; configs+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) configs+=("$1"); shift ;;
  esac
done
[[ -z $rounds ]] || ((rounds >= 1)) || die "--rounds: must be at least 1"
((iterations >= 1)) || die "--iterations: must be at least 1"
((threads >= 1)) || threads=$(nproc)  # 0 = all cores, said explicitly to every side
[[ $format == table || $format == markdown ]] || die "--format: must be table or markdown, got \"$format\""
[[ $python_allocator == same || $python_allocator == default ]] ||
  die "--python-allocator: must be same or default, got \"$python_allocator\""
case $max_isa in
  native) ;;
  avx2)
    export DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
      MKL_ENABLE_INSTRUCTIONS=AVX2 OPENBLAS_CORETYPE=Haswell CIFAR_EXP_MAX_CPU_ISA=avx2
    isa_note="every side capped at AVX2: DNNL_MAX_CPU_ISA=ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 OPENBLAS_CORETYPE=Haswell CIFAR_EXP_MAX_CPU_ISA=avx2"
    if [[ $format == markdown ]]; then echo "compare.sh: $isa_note" >&2; else echo "$isa_note"; fi ;;
  *) die "--max-isa: must be native or avx2, got \"$max_isa\"" ;;
esac
((${#configs[@]})) || configs=("$ROOT/configs/no_aug_no_tl.json" "$ROOT/configs/aug_no_tl.json")
for config in "${configs[@]}"; do [[ -f $config ]] || die "$config: config file not found"; done
[[ -x $SUMMARY_PY ]] || die "$SUMMARY_PY not found (the summary needs it)"

# The sides: parallel arrays, one entry per side.
side_kind=() side_cmd=() side_flags=() side_label=() side_spec=()
# Whether model.convolution applies to a config (a VGG16), as the binary $1 says.
convolution_applies() {
  "$1" --config "$2" --set model.convolution=direct --print-config > /dev/null 2>&1
}
default_cpp=0
if ((${#cpp_bins[@]} == 0)); then
  default_cpp=1
  mapfile -t cpp_bins < <("$SUMMARY_PY" "$ROOT/bench/bench_common.py" cifar-exp --all-builds --tool compare.sh)
  ((${#cpp_bins[@]})) || cpp_bins=("$ROOT/build/cifar-exp")  # none: the error below names it
fi
resolver=${cpp_bins[0]%%:*}
[[ -x $resolver ]] || die "$resolver: no such executable (build with scripts/build.sh, or give --cifar-exp PATH or \$CIFAR_EXP_BIN)"
conv_applies=()  # per config: 1 where model.convolution applies
for config in "${configs[@]}"; do
  if convolution_applies "$resolver" "$config"; then conv_applies+=(1); else conv_applies+=(0); fi
done
if ((default_cpp)) && [[ " ${conv_applies[*]} " == *" 1 "* ]]; then
  cpp_bins+=("$resolver:direct")  # the same driver with the Python sides' algorithm
fi
for spec in "${cpp_bins[@]}"; do
  IFS=: read -r -a parts <<< "$spec"
  bin=${parts[0]:-} flags=""
  for variant in "${parts[@]:1}"; do
    case $variant in
      generic) flags+=" generic" ;;  # libtorch's own layers (model.kernels), not its convolutions
      direct) flags+=" direct" ;;    # libtorch's convolutions (model.convolution), where it applies
      *) die "--cifar-exp $spec: unknown variant \"$variant\" (generic, direct)" ;;
    esac
  done
  [[ -x $bin ]] || die "$bin: no such executable (build with scripts/build.sh, or give --cifar-exp PATH or \$CIFAR_EXP_BIN)"
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
nsides=${#side_kind[@]}
[[ -n $rounds ]] || rounds=$((nsides > 3 ? nsides : 3))
# The Python sides' allocator: cifar-exp's thresholds in the environment, or glibc's defaults.
python_env=()
mapfile -t allocator_env < <("$SUMMARY_PY" "$ROOT/bench/bench_common.py" allocator-env)
((${#allocator_env[@]})) || die "bench/bench_common.py allocator-env printed nothing"
for assignment in "${allocator_env[@]}"; do
  if [[ $python_allocator == same ]]; then python_env+=("$assignment"); else python_env+=(-u "${assignment%%=*}"); fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cifar-exp-compare.XXXXXX")
keep_tmp=0
trap '((keep_tmp)) || rm -rf "$TMP"' EXIT
for ((s = 0; s < nsides; s++)); do
  printf '%s\t%s\t%s\n' "${side_kind[s]}" "${side_label[s]}" "${side_spec[s]}"
done > "$TMP/sides.tsv"

# One run of side s on config number $4 (from 1): stdout (the JSON) to $TMP/<tag>.json, stderr to
# $TMP/<tag>.log.
run_side() {
  local s=$1 config=$2 tag=$3 c=$4
  local cmd flags
  if [[ ${side_kind[s]} == cpp ]]; then
    cmd=("${side_cmd[s]}" bench --config "$config")
    [[ ${side_flags[s]} != *generic* ]] || cmd+=(--set model.kernels=generic)
    [[ ${side_flags[s]} != *direct* || ${conv_applies[c - 1]} == 0 ]] || cmd+=(--set model.convolution=direct)
  else
    read -r -a flags <<< "${side_flags[s]}"  # the variant's options: words without spaces
    cmd=(env "${python_env[@]}" "${side_cmd[s]}" "$REFERENCE" --config "$config" --cifar-exp "$resolver")
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
      run_side "$s" "$config" "c$index.s$s.r$r" "$index"
    done
  done
done

"$SUMMARY_PY" "$ROOT/bench/summarize.py" --format "$format" --rounds "$rounds" --threads "$threads" \
  --cores "$(nproc)" -- "$TMP" "${configs[@]}" || { keep_tmp=1; echo "compare.sh: outputs kept in $TMP" >&2; exit 1; }
