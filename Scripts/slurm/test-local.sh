#!/bin/bash
# A real Slurm cluster on this machine (one node, localhost, 2 CPUs), and mpq's sharded jobs run on it:
#
#   sudo Scripts/slurm/test-local.sh            (or MPQ_SLURM_TEST=1 .ci/run)
#
# 1. installs Debian's slurm-wlm and munge (apt-get, needs root), writes a private slurm.conf (nothing in /etc
#    changes but munge's key, created if missing), starts munged, slurmctld and slurmd;
# 2. runs a small sensitivity sweep of the embedded demo detector, a compare and an evaluation of the demo test
#    split in one process each (timed);
# 3. submits the same jobs with Scripts/slurm/submit.sh (sensitivity as an array of 4 shards, compare of 3,
#    evaluate of 2, each with its merge step --dependency=afterok); kills one running sensitivity task after
#    its first units and requeues it (scontrol requeue), and cancels one running evaluate task (scancel) and
#    resubmits its index (with a new merge step): both resume from their journals;
# 4. compares the merged reports with the one-process ones byte for byte (sensitivity.json/.csv/.svg, compare
#    .svg, evaluate's scores JSON; sensitivity.md/report.html and compare.json/.md/.html after blanking the
#    run's own times) and prints the wall times. Exit 0 only when every file is identical.
#
# Stops the daemons it started (by pid) on exit. MPQ=path uses that binary instead of building the release one;
# MPQ_SLURM_WORK sets the work folder (default /tmp/mpq-slurm-test, emptied first).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
work=${MPQ_SLURM_WORK:-/tmp/mpq-slurm-test}
say() { echo "test-local: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (apt-get, munged, slurmd)"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if [ -z "${MPQ:-}" ]; then
    say "building the release binary"
    swift build -c release -Xswiftc -Ounchecked -Xcc -march=native --product mpq >&2
    MPQ=$repo/.build/release/mpq
fi
export MPQ
[ -x "$MPQ" ] || fail "no mpq binary at $MPQ"

rm -rf "$work"
mkdir -p "$work"/{state,spool,one,slurm}
host=$(hostname -s)
conf=$work/slurm.conf
cat >"$conf" <<CONF
ClusterName=mpqtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=3600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf

started=()
cleanup() {
    for pidfile in "${started[@]}"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}
trap cleanup EXIT

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    started+=(/run/munge/munged.pid)
    munge -n | unmunge >/dev/null || fail "munged does not answer"
fi
slurmctld -f "$conf"
started+=("$work/slurmctld.pid")
slurmd -f "$conf"
started+=("$work/slurmd.pid")
for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || fail "the node is '$state', not idle (see $work/slurmd.log, $work/slurmctld.log)"
say "cluster up: $(sinfo -h -o '%P %D nodes %c CPUs %t')"

demo=$repo/VOCdevkit/MPQDemo
model=$demo/model/mb2-ssd-lite-demo.pth
sens_args=(--model "$model" --voc-root "$demo" --bits 2,4 --limit 20 --calib-images 8)
cmp_args=(--model "$model" --voc-root "$demo" --methods rtn,multipoint --avg-bits 4.25 --limit 50 --calib-images 8)
eval_args=(--model "$model" --voc-root "$demo" --split test)
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

say "one process: sensitivity, compare, evaluate (2 threads)"
t0=$(now)
"$MPQ" sensitivity "${sens_args[@]}" --threads 2 --report "$work/one/sens" >"$work/one/sens.log" 2>&1
t1=$(now)
"$MPQ" compare "${cmp_args[@]}" --threads 2 --report "$work/one/compare" >"$work/one/compare.log" 2>&1
t2=$(now)
"$MPQ" evaluate "${eval_args[@]}" --threads 2 --results "$work/one/eval" --json "$work/one/eval.json" \
    >"$work/one/eval.log" 2>&1
t3=$(now)
"$MPQ" sensitivity "${sens_args[@]}" --threads 1 --report "$work/one/sens-1thread" >"$work/one/sens-1thread.log" 2>&1
t4=$(now)
one_sens=$(elapsed "$t0" "$t1") one_cmp=$(elapsed "$t1" "$t2") one_eval=$(elapsed "$t2" "$t3")
one_sens1=$(elapsed "$t3" "$t4")
same_json=$(cmp -s "$work/one/sens/sensitivity.json" "$work/one/sens-1thread/sensitivity.json" && echo same || echo DIFFERENT)
say "sensitivity.json with 1 and 2 threads: $same_json"
[ "$same_json" = same ] || fail "sensitivity depends on the thread count"

say "Slurm: sensitivity 4 shards, compare 3, evaluate 2, each with its merge step"
s0=$(now)
read -r sens_array sens_merge < <(Scripts/slurm/submit.sh sensitivity 4 "$work/slurm/sens" "${sens_args[@]}")
read -r cmp_array cmp_merge < <(Scripts/slurm/submit.sh compare 3 "$work/slurm/compare" "${cmp_args[@]}")
read -r eval_array eval_merge < <(Scripts/slurm/submit.sh evaluate 2 "$work/slurm/eval" "${eval_args[@]}")
say "jobs: sensitivity $sens_array (merge $sens_merge), compare $cmp_array ($cmp_merge), evaluate $eval_array ($eval_merge)"

# Sensitivity task 1, once it has finished a unit (mid-array, mid-sweep), is killed and requeued as a failing
# node's task is: `scontrol requeue` kills the running task and puts it back in the queue (its afterok merge step
# stays valid). A requeued task waits out Slurm's requeue delay; StartTime=now skips it.
journal=$work/slurm/sens/shard-1/units.journal
for _ in $(seq 600); do
    [ -f "$journal" ] && [ "$(wc -l <"$journal")" -ge 3 ] && break
    sleep 0.2
done
[ -f "$journal" ] || fail "sensitivity task 1 never started"
task_state=$(squeue -h -j "${sens_array}_1" -o %T 2>/dev/null || true)
[ "$task_state" = RUNNING ] || fail "sensitivity task 1 is '$task_state' when it should be killed mid-run"
say "killing running task ${sens_array}_1 ($(($(wc -l <"$journal") - 1)) units in its journal): scontrol requeue"
scontrol requeue "${sens_array}_1"
while [ "$(squeue -h -j "${sens_array}_1" -o %T 2>/dev/null || true)" != PENDING ]; do sleep 0.2; done
scontrol update JobId="${sens_array}_1" StartTime=now
say "task 1 requeued: $(squeue -h -j "${sens_array}_1" -o '%i %T' 2>/dev/null || true)"

# Evaluate task 1 is cancelled outright (scancel) once it has finished an image, and its index resubmitted. A
# cancelled task makes the array's afterok dependency unsatisfiable, so the merge step is submitted again, after
# the other tasks and the resubmitted one.
ejournal=$work/slurm/eval/shard-1/progress.journal
for _ in $(seq 3000); do
    [ -f "$ejournal" ] && [ "$(wc -l <"$ejournal")" -ge 3 ] && break
    sleep 0.1
done
task_state=$(squeue -h -j "${eval_array}_1" -o %T 2>/dev/null || true)
[ "$task_state" = RUNNING ] || fail "evaluate task 1 is '$task_state' when it should be cancelled mid-run"
say "cancelling running task ${eval_array}_1 ($(($(wc -l <"$ejournal") - 1)) images in its journal): scancel"
scancel "${eval_array}_1"
while [ -n "$(squeue -h -j "${eval_array}_1" 2>/dev/null || true)" ]; do sleep 0.2; done
scancel "$eval_merge"
eval_again=$(sbatch --parsable --array=1 --export=ALL,MPQ_SHARDS=2 --output="$work/slurm/eval/logs/%x-1.log" \
    Scripts/slurm/evaluate.sbatch "$work/slurm/eval" "${eval_args[@]}")
eval_merge=$(sbatch --parsable --dependency=afterok:"${eval_array}_0":"$eval_again" --export=ALL,MPQ_SHARDS=2 \
    --output="$work/slurm/eval/logs/%x.log" Scripts/slurm/merge.sbatch evaluate "$work/slurm/eval" "${eval_args[@]}")
say "evaluate index 1 resubmitted as $eval_again, merge step $eval_merge"

wait_job() {
    local id=$1 state=""
    for _ in $(seq 1800); do
        state=$(scontrol show job "$id" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1)
        case "$state" in COMPLETED) return 0 ;; FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
        if scontrol show job "$id" 2>/dev/null | grep -q 'Reason=DependencyNeverSatisfied'; then
            state="DependencyNeverSatisfied"
            break
        fi
        sleep 1
    done
    fail "job $id ended $state (logs in $(dirname "$work")/$(basename "$work")/slurm/*/logs)"
}
wait_job "$sens_merge"
s1=$(now)
wait_job "$cmp_merge"
wait_job "$eval_merge"
s2=$(now)
slurm_sens=$(elapsed "$s0" "$s1") slurm_all=$(elapsed "$s0" "$s2")

resumed=$(grep -h "already in" "$work/slurm/sens/logs/mpq-sensitivity-1.log" | tail -1 || true)
say "requeued sensitivity task 1 said: $resumed"
case "$resumed" in *", 0 already in"* | "") fail "the requeued task did not resume from its journal" ;; esac
eresumed=$(grep -h "resumed\|already" "$work/slurm/eval/logs/mpq-evaluate-1.log" | tail -1 || true)
say "resubmitted evaluate task 1 said: ${eresumed:-nothing about resuming}"

blank_times() { sed -E 's#wall time</td><td[^>]*>[^<]*#wall time</td><td>#; s#^(- wall time: ).*#\1#; s#"seconds" : [0-9.e+-]+#"seconds" : 0#' "$1"; }
blank_cmp_times() {  # compare's time column in the md/html tables
    sed -E 's#"seconds" : [0-9.e+-]+#"seconds" : 0#; s#\| ([0-9]+\.[0-9]) \| (\[|-)#| 0 | \2#; s#(<td>[0-9]+</td>)<td>[0-9]+\.[0-9]</td>#\1<td>0</td>#g' "$1"
}
identical=0 different=0
same() {
    if cmp -s "$1" "$2"; then identical=$((identical + 1)); say "identical: $3"
    else different=$((different + 1)); say "DIFFERENT: $3"; diff "$1" "$2" | head -5 >&2 || true; fi
}
same_after() {
    if cmp -s <("$1" "$2") <("$1" "$3"); then identical=$((identical + 1)); say "identical but for the times: $4"
    else different=$((different + 1)); say "DIFFERENT: $4"; diff <("$1" "$2") <("$1" "$3") | head -5 >&2 || true; fi
}
for f in sensitivity.json sensitivity.csv sensitivity_map_drop.svg sensitivity_heatmap.svg; do
    same "$work/one/sens/$f" "$work/slurm/sens/merged/$f" "sensitivity $f"
done
for f in sensitivity.md report.html; do
    same_after blank_times "$work/one/sens/$f" "$work/slurm/sens/merged/$f" "sensitivity $f"
done
same "$work/one/compare/compare.svg" "$work/slurm/compare/merged/compare.svg" "compare compare.svg"
for f in compare.json compare.md compare.html; do
    same_after blank_cmp_times "$work/one/compare/$f" "$work/slurm/compare/merged/$f" "compare $f"
done
same "$work/one/eval.json" "$work/slurm/eval/merged/scores.json" "evaluate scores (mAP, per-class AP, interval)"

printf 'test-local: wall time, one process (2 threads): sensitivity %.1f s (1 thread: %.1f s), compare %.1f s, evaluate %.1f s (%.1f s in all)\n' \
    "$one_sens" "$one_sens1" "$one_cmp" "$one_eval" "$(awk -v a="$one_sens" -v b="$one_cmp" -v c="$one_eval" 'BEGIN { print a + b + c }')"
printf 'test-local: wall time, Slurm (2 CPUs, 1 per task, submit to merged): sensitivity %.1f s with the kill and requeue; all three jobs %.1f s\n' \
    "$slurm_sens" "$slurm_all"
[ "$different" = 0 ] || fail "$different files differ"
say "OK: $identical files identical"
