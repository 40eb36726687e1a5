#!/usr/bin/env bash
# Runs a smoke sweep through a real one-node Slurm cluster on this machine (Debian's slurm-wlm
# and munge, which CIFAR_EXP_TEST_DEPS=1 scripts/install_deps.sh installs; skipped without them):
# writes a localhost configuration in a temporary folder, starts
# munged, slurmctld and slurmd (loopback only), submits the four smoke configurations x two
# seeds with `scripts/sweep.sh --slurm` (plus one configuration whose weights file is missing),
# waits (bounded) for the final compare job, checks that the four smoke rows are complete and
# the failing one is listed as incomplete, then sweeps a two-point --grid (one row per point,
# not submitted again), and stops the daemons it started. Needs root.
#   tests/slurm/run.sh [CIFAR_EXP_BINARY MAKE_TEST_DATA_BINARY]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/cifar-exp}
MAKE_DATA=${2:-$ROOT/build/tests/make_test_data}
TIMEOUT=${SLURM_TEST_TIMEOUT:-600}
fail() { echo "slurm test: FAIL: $*" >&2; exit 1; }
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: slurm test needs root (it starts munged, slurmctld and slurmd)"
  exit 0
fi

if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  echo "SKIP: slurm-wlm and munge are not installed (CIFAR_EXP_TEST_DEPS=1 scripts/install_deps.sh, which scripts/test.sh runs, installs them)"
  exit 0
fi

WORK=$(mktemp -d /tmp/cifar-exp-slurm.XXXXXX)
chmod 755 "$WORK"
pids=()
cleanup() {
  scancel --quiet --user root 2> /dev/null || true
  for pidfile in "$WORK/slurmd.pid" "$WORK/slurmctld.pid" "$WORK/munged.pid"; do
    [[ -f "$pidfile" ]] && kill "$(cat "$pidfile")" 2> /dev/null || true
  done
  sleep 1
  if [[ ${KEEP_SLURM_WORK:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# munge: a key of our own and a socket in our folder, so nothing of the system's is touched.
mkdir -p "$WORK/munge-key" "$WORK/munge" "$WORK/spool" "$WORK/state" "$WORK/log"
dd if=/dev/urandom of="$WORK/munge-key/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$WORK/munge-key" "$WORK/munge"
chmod 700 "$WORK/munge-key"
chmod 400 "$WORK/munge-key/munge.key"
chmod 755 "$WORK/munge"
MUNGE_SOCKET="$WORK/munge/munge.socket"
runuser -u munge -- munged --key-file "$WORK/munge-key/munge.key" --socket "$MUNGE_SOCKET" \
  --pid-file "$WORK/munge/munged.pid" --log-file "$WORK/munge/munged.log" --seed-file "$WORK/munge/seed" \
  || fail "munged did not start (see $WORK/munge/munged.log)"
cp "$WORK/munge/munged.pid" "$WORK/munged.pid"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HOST=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
export SLURM_CONF="$WORK/slurm.conf"
cat > "$SLURM_CONF" << CONF
ClusterName=cifarexp
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (see $WORK/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start (see $WORK/log/slurmd.log)"
for ((i = 0; i < 60; i++)); do
  state=$(sinfo -h -o '%t' 2> /dev/null | head -n 1 || true)
  [[ "$state" == idle* ]] && break
  sleep 1
done
[[ "$state" == idle* ]] || { tail -5 "$WORK/log/slurmctld.log" "$WORK/log/slurmd.log"; fail "node not idle (state '$state')"; }
echo "slurm test: one-node cluster up ($HOST, ports $CTLD_PORT/$SLURMD_PORT)"

start=$SECONDS
"$MAKE_DATA" "$WORK/data" 600 300
OUT="$WORK/out"
# A fifth configuration whose tasks fail (weights file missing) must show as incomplete.
cat > "$WORK/broken_tl.json" << JSON
{"name": "broken_tl", "model": {"type": "vgg16_transfer", "weights": "$WORK/nowhere.h5"},
 "data": {"train_limit": 64, "test_limit": 32}, "training": {"epochs": 1}}
JSON
PLOT_PYTHON=/nonexistent CIFAR_EXP_BIN=$BIN "$ROOT/scripts/sweep.sh" --slurm --cpus-per-task 1 \
  --configs "smoke,smoke_aug,smoke_tl,smoke_aug_tl,$WORK/broken_tl.json" --seeds 2 --data-dir "$WORK/data" \
  --output-dir "$OUT" --threads 1 | tee "$WORK/submit.txt"
# Waits (bounded) for the compare job whose id the submission output FILE printed.
wait_for_final() {
  local final i
  final=$(sed -n 's/.*comparison as job \([0-9]*\).*/\1/p' "$1")
  [[ -n "$final" ]] || fail "no job ids printed"
  for ((i = 0; i < TIMEOUT; i++)); do
    [[ -z "$(squeue -h -j "$final" 2> /dev/null)" ]] && break
    sleep 1
  done
  [[ -z "$(squeue -h -j "$final" 2> /dev/null)" ]] || fail "sweep did not finish within $TIMEOUT s"
}
wait_for_final "$WORK/submit.txt"
[[ -f "$OUT/comparison.md" ]] || { cat "$OUT"/slurm/logs/* 2> /dev/null | tail -20; fail "no comparison table"; }
cat "$OUT/comparison.md"

"$BIN" compare "$OUT" --format csv > "$WORK/table.csv"
[[ $(tail -n +2 "$WORK/table.csv" | wc -l) == 5 ]] || fail "expected 5 rows"
grep -q '^broken_tl,vgg16_transfer,false,pretrained,0,0,2,.*missing weights' "$WORK/table.csv" ||
  fail "failed tasks not shown as incomplete: $(grep '^broken_tl' "$WORK/table.csv")"
for name in smoke smoke_aug smoke_tl smoke_aug_tl; do
  IFS=',' read -r -a f <<< "$(grep "^$name," "$WORK/table.csv")"
  [[ "${f[5]:-}" == 2 && "${f[6]:-}" == 0 ]] || fail "$name: expected 2 complete runs, got runs=${f[5]:-?} incomplete=${f[6]:-?}"
done
[[ $(find "$OUT" -name summary.json | wc -l) == 8 ]] || fail "expected 8 run folders"

# A grid through Slurm: 2 grid points x 2 seeds, the grid key a column of the table; submitting
# again runs nothing.
GRID_OUT="$WORK/grid"
grid_sweep() {
  PLOT_PYTHON=/nonexistent CIFAR_EXP_BIN=$BIN "$ROOT/scripts/sweep.sh" --slurm --cpus-per-task 1 \
    --configs smoke --seeds 2 --grid training.batch_size=32,64 --data-dir "$WORK/data" \
    --output-dir "$GRID_OUT" --threads 1
}
grid_sweep | tee "$WORK/grid_submit.txt"
grep -q '= 4 runs (0 of them completed before)' "$WORK/grid_submit.txt" || fail "grid: 4 runs not announced"
wait_for_final "$WORK/grid_submit.txt"
"$BIN" compare "$GRID_OUT" --format csv > "$WORK/grid.csv"
cat "$WORK/grid.csv"
head -n 1 "$WORK/grid.csv" | grep -q '^configuration,training.batch_size,model,' || fail "grid: no batch_size column"
[[ $(tail -n +2 "$WORK/grid.csv" | wc -l) == 2 ]] || fail "grid: expected 2 rows"
for batch in 32 64; do
  IFS=',' read -r -a f <<< "$(grep "^smoke+training.batch_size=$batch,$batch,small_cnn," "$WORK/grid.csv")"
  [[ "${f[6]:-}" == 2 && "${f[7]:-}" == 0 ]] || fail "grid batch $batch: expected 2 complete runs, got runs=${f[6]:-?}"
done
grid_sweep > "$WORK/grid_again.txt"
grep -q 'Nothing to submit: all 4 runs are complete.' "$WORK/grid_again.txt" ||
  { cat "$WORK/grid_again.txt"; fail "grid: re-submission ran runs again"; }
echo "slurm test: 10 array tasks and the compare job done in $((SECONDS - start)) s; 4 rows complete, the failing configuration listed as 2 incomplete runs; a 2-point grid x 2 seeds as 2 rows, not submitted again"
