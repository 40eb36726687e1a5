#!/usr/bin/env bash
# Rehearses the README's install on a bare machine: makes a minimal Debian 12 root with
# mmdebstrap, puts a clean clone of a commit in it and runs there what the README tells a new
# user, each step timed. Exits non-zero with the failing step's last lines. Needs root, the
# network to Debian's mirror (and PyPI for --gpu-machine), and about 10 GB in $FRESH_ROOT_PARENT.
#
#   scripts/fresh_machine_check.sh [--gpu-machine] [--full] [--commit REV] [--keep]
#
# CPU machine (default): in a root with nothing but Debian's minbase and git,
#   1. install   scripts/install_deps.sh (CIFAR_EXP_TORCH=auto, so Debian's libtorch)
#   2. build     scripts/build.sh
#   3. train     a short CPU sweep of the two small-CNN configurations (scripts/sweep.sh: 1 epoch
#                on 1,000 images, comparison table and plots) on the CIFAR-10 files when this
#                machine has them (read-only), else on generated ones
#   4. suite     a quick part of the test suite (weights, images, oneDNN, config, data tests;
#                `cmake --install` and predict; plots); with --full instead the README's whole
#                test command, scripts/test.sh (suite, sanitizers, fuzzing), as CI runs it
# --gpu-machine: a root like a GPU machine (python3 with PyTorch from PyPI in a virtual
#   environment, CMake, a C++ compiler, this machine's CUDA toolkit read-only, none of our -dev
#   packages), then scripts/gpu_deps.sh (here) and, with no network, scripts/gpu_check.sh with
#   GPU_CHECK_ON_CPU=1; its REPORT.md must come out. With --full, gpu_check.sh runs the whole
#   test suite against PyPI's libtorch (--suite all), as CI does.
# Steps after the install run without network (a new network namespace): nothing may download.
#
# Options: --commit REV (default HEAD) what to clone; --keep leaves the root (and prints where).
# Environment: FRESH_ROOT_PARENT (default /var/tmp) where roots go; FRESH_CHECK_DIR (default
# fresh-check) where each step's log goes (mode/step.log); CIFAR10_DIR the data for the training
# step (default ../shared/data/cifar-10-batches-bin beside the repository, if there).
#
# Borrowed from this machine, never written into the repository: its apt sources and Acquire
# settings, /etc/hosts, its CA certificates and proxy/pip environment (to reach the registries as it does),
# and its apt and pip download caches (bind-mounted; they only save downloads: what is installed
# is still exactly what the scripts ask for). Mounts live in private mount namespaces that end
# with each step, so nothing stays mounted in the root; it is removed only after checking that.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
MODE=cpu
FULL=0
COMMIT=HEAD
KEEP=0
while (($#)); do
  case "$1" in
    --gpu-machine) MODE=gpu; shift ;;
    --full) FULL=1; shift ;;
    --commit) COMMIT=${2:?--commit needs a revision}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh_machine_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "fresh_machine_check: needs root (mmdebstrap, chroot, mounts)" >&2; exit 2; }
COMMIT=$(git rev-parse --verify "$COMMIT^{commit}") || { echo "fresh_machine_check: no commit $COMMIT" >&2; exit 2; }
LOGS=${FRESH_CHECK_DIR:-fresh-check}/$MODE
mkdir -p "$LOGS"
LOGS=$(cd "$LOGS" && pwd)
rm -f "$LOGS"/*.log
DATA=${CIFAR10_DIR:-$REPO/../shared/data/cifar-10-batches-bin}
GUEST=/root/cifar-exp  # the clone's path inside the root

say() { echo "fresh_machine_check[$MODE]: $*"; }
report=()
after_failure() { :; }  # what a mode shows besides a failed step's log
# step NAME COMMAND...: runs a step with its output in $LOGS/NAME.log; on failure prints its
# last lines and the steps so far, and exits 1.
step() {
  local name=$1 t0 rc=0
  shift
  say "$name ..."
  t0=$(date +%s)
  "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
  report+=("$(printf '%-10s %5d s  %s' "$name" $(($(date +%s) - t0)) "$([[ $rc == 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
  if ((rc != 0)); then
    echo "---- last lines of $LOGS/$name.log"
    tail -n 40 "$LOGS/$name.log"
    echo "----"
    after_failure
    say "step '$name' failed (exit $rc)"
    printf '  %s\n' "${report[@]}"
    exit 1
  fi
  say "$name: ok ($(($(date +%s) - t0)) s)"
}

# Host tools: mmdebstrap (Debian's package) and unshare/chroot (util-linux, coreutils). .ci/run
# starts two checks at once: one installs it while the other waits (apt's lock fails at once).
if ! command -v mmdebstrap > /dev/null; then
  exec 8> /var/lock/cifar-exp-fresh-machine-apt.lock
  flock 8
  if ! command -v mmdebstrap > /dev/null; then
    say "installing mmdebstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap > /dev/null
  fi
  exec 8>&-
fi

mkdir -p "${FRESH_ROOT_PARENT:-/var/tmp}"
ROOT=$(mktemp -d "${FRESH_ROOT_PARENT:-/var/tmp}/cifar-exp-fresh-$MODE.XXXXXX")
chmod 755 "$ROOT"  # its /: apt's download user and daemons must get through it
remove_root() {
  if ((KEEP)); then
    say "root kept at $ROOT"
  elif findmnt -rn -o TARGET | grep -q "^$ROOT"; then
    say "something is still mounted under $ROOT; not removing it"
  else
    rm -rf --one-file-system "$ROOT"
  fi
}
trap remove_root EXIT

# This machine's Debian sources (whatever mirror it uses; none is named here) and the apt
# settings that its network needs.
mirrors=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] && grep -qE '^[^#]*(debian-archive-keyring|/debian)' "$f" && mirrors+=("$f")
done
((${#mirrors[@]})) || { say "no Debian apt sources on this machine" >&2; exit 2; }
aptopts=()
for f in /etc/apt/apt.conf.d/*; do
  grep -q '^ *Acquire::' "$f" 2> /dev/null && aptopts+=("--aptopt=$f")
done

# in_root [--online] SCRIPT: runs SCRIPT with bash in the root, as root, in a private mount and
# PID namespace (/proc, /sys and /dev mounted there only) and, without --online, a network
# namespace with only loopback. The environment is a login's plus this machine's proxy, CA and
# pip settings (how it reaches the registries).
passed_env=()
while IFS='=' read -r name _; do
  [[ "$name" =~ ^(PIP_[A-Z_]+|[a-zA-Z_]*_proxy|[A-Z_]*_PROXY|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$ ]] &&
    [[ "$name" != PIP_FIND_LINKS ]] && passed_env+=("$name=${!name}")
done < <(env)
in_root() {
  local net=(--net)
  if [[ "$1" == --online ]]; then net=(); shift; fi
  # shellcheck disable=SC2016  # the script is expanded inside the namespace
  unshare --mount --propagation private --pid --fork "${net[@]}" -- bash -euc '
    root=$1 script=$2 mode=$3 data=$4
    shift 4
    [[ -d /sys/class/net/lo ]] && ip link set lo up 2> /dev/null || true
    mount -t proc proc "$root/proc"
    # The /sys of this machine with what is mounted under it: a real machine has its cgroups
    # there, and slurmd (the Slurm test) refuses to start without them.
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    # Download caches only (see the header).
    mkdir -p "$root/var/cache/apt/archives" "$root/root/.cache/pip" /root/.cache/pip
    mount --bind /var/cache/apt/archives "$root/var/cache/apt/archives"
    mount --bind /root/.cache/pip "$root/root/.cache/pip"
    if [[ -d "$data" ]]; then
      mkdir -p "$root/data/cifar-10-batches-bin"
      mount --bind -o ro "$data" "$root/data/cifar-10-batches-bin"
    fi
    if [[ "$mode" == gpu ]]; then
      cuda=$(readlink -f /usr/local/cuda)
      mkdir -p "$root$cuda"
      mount --bind -o ro "$cuda" "$root$cuda"
      [[ "$cuda" == /usr/local/cuda ]] || ln -sfn "$cuda" "$root/usr/local/cuda"
    fi
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/opt/torch/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      "$@" /bin/bash -euo pipefail -c "$script"
  ' in_root "$ROOT" "$1" "$MODE" "$DATA" "${passed_env[@]}"
}

# The bare machine.
if [[ "$MODE" == cpu ]]; then
  include=git,ca-certificates
else
  # A GPU machine: Python with PyTorch, CMake, a compiler and nvcc, no -dev packages of ours.
  include=git,ca-certificates,python3,python3-venv,cmake,g++,make
fi
make_root() {
  mmdebstrap --variant=minbase --include="$include" "${aptopts[@]}" bookworm "$ROOT" "${mirrors[@]}"
  # A machine names itself in /etc/hosts (Debian's installer writes it; mmdebstrap copies only
  # resolv.conf and hostname): the Slurm test's daemons resolve the host name.
  cp /etc/hosts "$ROOT/etc/hosts"
  # How this machine reaches the registries: its CA certificates (a new user's machine has its own).
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2> /dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  git clone --quiet --no-hardlinks "$REPO" "$ROOT$GUEST"
  git -C "$ROOT$GUEST" checkout --quiet --detach "$COMMIT"
  echo "clone of $COMMIT at $GUEST"
}
say "root $ROOT, commit $(git rev-parse --short=12 "$COMMIT"), logs in $LOGS"
step root make_root

if [[ "$MODE" == cpu ]]; then
  step install in_root --online "cd $GUEST && scripts/install_deps.sh"
  step build in_root "cd $GUEST && scripts/build.sh"
  step train in_root "cd $GUEST
    data=/data/cifar-10-batches-bin
    if [[ ! -f \$data/test_batch.bin ]]; then
      data=/tmp/cifar-generated
      build/tests/make_test_data \$data 2000 500
    fi
    scripts/sweep.sh --data-dir \$data --configs no_aug_no_tl,aug_no_tl --epochs 1 \
      --set data.train_limit=1000 --set data.test_limit=500 --output-dir runs/fresh
    test -s runs/fresh/comparison.md
    ls runs/fresh/plots/*.png"
  if ((FULL)); then
    # The README's test command, as a new user runs it (online, like theirs). It installs every
    # prerequisite of every check, so here a skip other than a GPU's fails (ctest_checked.sh).
    step suite in_root --online "cd $GUEST && CIFAR_EXP_REQUIRE_CHECKS=1 scripts/test.sh"
  else
    step suite in_root "cd $GUEST && ctest --test-dir build --output-on-failure -j 2 \
      -R 'Weights|Keras|Torchvision|Images|Onednn|Config|Data|inference_smoke|plot_runs_smoke'"
  fi
else
  torch_version=$("$ROOT$GUEST/scripts/install_deps.sh" --print-torch-version)
  step torch in_root --online "python3 -m venv /opt/torch/.venv
    /opt/torch/.venv/bin/python -m pip install --quiet torch==$torch_version
    python3 -c 'import torch; print(torch.__version__)'"
  # gpu_deps.sh runs here (it needs apt and the network); its folder is carried into the root.
  step deps "$ROOT$GUEST/scripts/gpu_deps.sh" "$ROOT$GUEST/build-gpu-deps"
  suite=device
  if ((FULL)); then suite=all; fi
  # gpu_check.sh writes REPORT.md however it ends: show it then too.
  show_report() {
    if [[ -s "$ROOT$GUEST/gpu-check/REPORT.md" ]]; then
      cp "$ROOT$GUEST/gpu-check/REPORT.md" "$LOGS/REPORT.md"
      echo "---- $LOGS/REPORT.md"
      cat "$LOGS/REPORT.md"
    fi
  }
  after_failure() { show_report; }
  step check in_root "cd $GUEST && CIFAR_EXP_DEPS_PREFIX=build-gpu-deps GPU_CHECK_ON_CPU=1 scripts/gpu_check.sh --suite $suite"
  step report test -s "$ROOT$GUEST/gpu-check/REPORT.md"
  show_report
fi
# The test runners' closing lines, for whoever reads only this output.
grep -hE '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+|^\[  PASSED  \] [0-9]+ tests' \
  "$LOGS"/*.log "$LOGS/REPORT.md" 2> /dev/null | sed 's/^/  /' || true
say "passed:"
printf '  %s\n' "${report[@]}"
