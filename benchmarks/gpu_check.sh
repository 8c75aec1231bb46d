#!/usr/bin/env bash
# The GPU check: tkd train end to end on CUDA (compiled and eager, kill and resume), the
# throughput of the standard recipe against tkd for the paper's four CIFAR architectures, how many
# trainings one GPU should hold (1, 2, 4, 8 copies of the step), and from those the seconds per
# epoch, GPU-hours and SLURM runtimes. Everything lands in $OUT (results.json, summary.md,
# log.txt, profile_*.txt); parts run in order of importance, each under its own time limit, and a
# part is skipped when the overall deadline would be passed.
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh            # on a GPU machine, about 8 minutes
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh --small    # a CPU dry run of the same code, ~3 minutes
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}  # the interpreter that holds torch (on the GPU machine: python3; tkd need not be installed)
small=${1:-}
deadline=$(( $(date +%s) + ${DEADLINE_S:-470} ))
log="$out/log.txt"
work=$(mktemp -d "${TMPDIR:-/tmp}/tkd-gpu-check.XXXXXX")  # scratch: data and runs, never under $OUT
trap 'rm -rf "$work"' EXIT

part() {  # part SECONDS ARGS...: run one part unless the deadline would be passed
    local limit=$1; shift
    local left=$(( deadline - $(date +%s) ))
    if (( left < limit / 2 )); then
        echo "== skipped (deadline): $*" >>"$log"
        return
    fi
    (( limit > left )) && limit=$left
    echo "== $(date +%T) $* (limit ${limit}s)" >>"$log"
    timeout -k 10 "$limit" "$py" benchmarks/gpu_check.py "$@" --out "$out" --work "$work" >>"$log" 2>&1
    echo "== exit $? after $* " >>"$log"
}

if [[ $small == --small ]]; then
    common=(--device cpu --steps 2 --warmup 1 --repeats 1 --workers 0)
    part 60 device
    part 200 e2e --small --timeout 150
    part 60 throughput --arch resnet8_cifar --batch-size 32 "${common[@]}"
    part 60 throughput --arch resnet8_cifar --batch-size 32 --student "${common[@]}"
    part 60 pack --arch resnet8_cifar --batch-size 32 --device cpu --copies 1 2 --seconds 2 --warmup 2 --timeout 50
    part 60 profile --arch resnet8_cifar --batch-size 32 --device cpu
    part 30 summary
    exit 0
fi

nvidia-smi >>"$log" 2>&1
common=(--device cuda --steps 60 --warmup 10 --repeats 2 --workers 8)
part 30 device
part 150 throughput --arch resnet56_cifar --batch-size 128 "${common[@]}"
part 300 e2e --timeout 280
part 180 throughput --arch densenet_bc_100_cifar --batch-size 64 "${common[@]}"
# how many trainings one GPU should hold: decides whether the SLURM profile packs trainings per job
part 150 pack --arch resnet56_cifar --batch-size 128 --device cuda --seconds 8 --warmup 20 --timeout 140
part 150 pack --arch densenet_bc_100_cifar --batch-size 64 --device cuda --seconds 8 --warmup 15 --timeout 140
part 120 throughput --arch resnet56_cifar --batch-size 128 --student "${common[@]}"
part 150 throughput --arch densenet_bc_100_cifar --batch-size 64 --student "${common[@]}"
part 150 throughput --arch resnet110_cifar --batch-size 128 "${common[@]}"
part 150 throughput --arch resnet110_cifar --batch-size 128 --student "${common[@]}"
part 240 throughput --arch densenet_bc_190_cifar --batch-size 64 "${common[@]}"
part 240 throughput --arch densenet_bc_190_cifar --batch-size 64 --student "${common[@]}"
# a profile only where a speed target was missed: where the step's time goes
"$py" - "$out" <<'PY' >>"$log" 2>&1 && part 90 profile --arch resnet56_cifar --batch-size 128
import json, sys
r = json.load(open(f"{sys.argv[1]}/results.json")).get("throughput/resnet56_cifar/b128/patriarch", {})
sys.exit(0 if r.get("ratio", 0) < 3.0 else 1)
PY
part 30 summary
