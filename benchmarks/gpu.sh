#!/usr/bin/env bash
# Issue 6's GPU figures, one JSON file per case under ${OUT:-benchmarks/out}:
# the standard recipe against tkd (eager and compiled) at the paper's batch sizes.
#   bash benchmarks/gpu.sh          # about 5 minutes on an H100, compilation included
set -euo pipefail
out=${OUT:-benchmarks/out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
common=(--device cuda --workers 8 --steps 100 --warmup 10 --repeats 3)
python benchmarks/throughput.py --arch resnet56_cifar --batch-size 128 "${common[@]}" --json-out "$out/resnet56_b128.json"
python benchmarks/throughput.py --arch densenet_bc_100_cifar --batch-size 64 "${common[@]}" --json-out "$out/densenet_bc_100_b64.json"
python benchmarks/throughput.py --arch resnet56_cifar --batch-size 128 --student "${common[@]}" --json-out "$out/resnet56_b128_student.json"
