#!/bin/bash
# Submits N shards of an mpq job as a Slurm job array and the merge step after it (--dependency=afterok).
#
#   Scripts/slurm/submit.sh sensitivity|compare|evaluate N OUT [mpq options of the job]
#
# e.g. Scripts/slurm/submit.sh sensitivity 8 runs/sens --model mb2.pth --voc-root /data/VOC2007 --bits 2,4,8
# Prints "<array job id> <merge job id>". The merged report lands in OUT/merged. Set MPQ to the mpq binary
# (default: mpq on PATH) and SBATCH_ARGS for extra sbatch options (partition, time, account, --cpus-per-task).
set -euo pipefail
kind=${1:?usage: submit.sh sensitivity|compare|evaluate N OUT [mpq options]}
n=${2:?usage: submit.sh KIND N OUT [mpq options]}
out=${3:?usage: submit.sh KIND N OUT [mpq options]}
shift 3
case "$kind" in sensitivity | compare | evaluate) ;; *) echo "submit.sh: unknown job '$kind'" >&2; exit 64 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/logs"
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((n - 1)) --export=ALL,MPQ_SHARDS="$n" \
    --output="$out/logs/%x-%a.log" "$here/$kind.sbatch" "$out" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency=afterok:"$array" --export=ALL,MPQ_SHARDS="$n" \
    --output="$out/logs/%x.log" "$here/merge.sbatch" "$kind" "$out" "$@")
echo "$array ${merge%%;*}"
