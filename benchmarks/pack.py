"""How many trainings one GPU should hold: k = 1, 2, 4, 8 copies of tkd's training step, each its
own process on the same GPU, run together; their total images/s and memory for each k.

A CIFAR ResNet-56 step at batch 128 leaves most of a modern GPU idle, so several trainings per GPU
may multiply a grid's throughput. The workers are started once and each compiles its step once
(as the trainer does: torch.compile with CUDA graphs on CUDA, eager on CPU); then phase k lets
the first k of them train together for ``--seconds`` while the rest wait, so every k is timed on
warm processes. Prints a table and the decision, and the same as JSON on the last line.

Decision rule: pack p trainings into one GPU job (Snakemake job groups, or SLURM's GPU sharding
or MPS where the site has them), p the largest number of copies reached while every step up
(1 -> 2 -> 4 -> 8) raised the total images/s by at least 20 % and the copies' memory stays under
80 % of the card; else one training per GPU. (A step that adds less makes every training slower
for little: a grid finishes no sooner.)

    python benchmarks/pack.py --arch resnet56_cifar --batch-size 128          # on a GPU machine
    python benchmarks/pack.py --arch resnet8_cifar --batch-size 32 --device cpu --copies 1 2 --seconds 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tkd from this checkout, installed or not (the GPU machine has a bare copy)
STEP_GAIN, MEMORY_SHARE = 1.2, 0.8  # the decision rule's thresholds


def _wait(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def worker(args) -> None:
    """One copy: build and warm the trainer's step, then time it in each phase it is part of."""
    import torch

    from tkd.training.archs import create
    from tkd.training.data import make_synthetic
    from tkd.training.loaders import DeviceLoader, channel_stats
    from tkd.training.losses import cross_entropy
    from tkd.training.runtime import compile_mode, make_optimizer, make_train_step, prepare_model, resolve_device

    sync, device = Path(args.sync), resolve_device(args.device)
    torch.manual_seed(args.index)
    if device.type == "cpu":
        torch.set_num_threads(1)
    data = make_synthetic(seed=args.index, train_per_class=max(2, 4 * args.batch_size // 100), test_per_class=1).train
    mean, std = channel_stats(data.images)
    amp = device.type == "cuda"
    model = prepare_model(create(args.arch, num_classes=100), device, amp)
    opt = make_optimizer(model, 0.1, 0.9, 1e-4, False, device)
    step = make_train_step(model, opt, cross_entropy, None, 0.6, 1.0, amp, compile_mode(args.compile, device))
    loader = DeviceLoader(data, args.batch_size, device, mean, std, train=True, seed=args.index)

    def batches():
        epoch = 0
        while True:
            yield from loader.epoch(epoch)
            epoch += 1

    it = batches()
    for _ in range(args.warmup):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    (sync / f"ready_{args.index}").touch()
    for k in args.copies:
        if not _wait(sync / f"phase_{k}", args.timeout):
            return
        if args.index >= k:
            continue
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            step(*next(it))
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        (sync / f"result_{k}_{args.index}.json").write_text(json.dumps(
            {"images_per_s": steps * args.batch_size / seconds, "steps": steps, "peak_mib": peak}))


def coordinate(args) -> dict:
    """Start max(copies) workers, run the phases, and decide."""
    import torch

    most = max(args.copies)
    total_mib = torch.cuda.get_device_properties(0).total_memory / 2**20 if args.device != "cpu" else None
    with tempfile.TemporaryDirectory(prefix="tkd-pack-") as tmp:
        sync = Path(tmp)
        common = ["--arch", args.arch, "--batch-size", str(args.batch_size), "--device", args.device,
                  "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--compile", args.compile,
                  "--timeout", str(args.timeout), "--sync", tmp, "--copies", *map(str, args.copies)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--index", str(i), *common], env=env)
                 for i in range(most)]
        try:
            ready = all(_wait(sync / f"ready_{i}", args.timeout) for i in range(most))
            if not ready:
                raise RuntimeError(f"the workers were not warm within {args.timeout} s")
            phases = []
            for k in args.copies:
                (sync / f"phase_{k}").touch()
                results = [sync / f"result_{k}_{i}.json" for i in range(k)]
                if not all(_wait(r, args.seconds + args.timeout) for r in results):
                    raise RuntimeError(f"phase {k} did not finish")
                each = [json.loads(r.read_text()) for r in results]
                peaks = [e["peak_mib"] for e in each if e["peak_mib"] is not None]
                phases.append({"copies": k, "images_per_s": sum(e["images_per_s"] for e in each),
                               "per_copy": [round(e["images_per_s"], 1) for e in each],
                               "peak_mib": sum(peaks) if peaks else None})
        finally:
            for p in procs:
                p.wait(timeout=60) if p.poll() is None else None
    return decide(phases, total_mib) | {"arch": args.arch, "batch_size": args.batch_size, "device": args.device,
                                         "compile": args.compile, "seconds": args.seconds}


def decide(phases: list[dict], total_mib: float | None) -> dict:
    """The number of copies worth packing (the module's rule)."""
    one = phases[0]["images_per_s"]
    for p in phases:
        p["gain"] = p["images_per_s"] / one
    pack = 1
    for before, p in zip(phases, phases[1:]):
        fits = total_mib is None or p["peak_mib"] is None or p["peak_mib"] <= MEMORY_SHARE * total_mib
        if not fits or p["images_per_s"] < STEP_GAIN * before["images_per_s"]:
            break
        pack = p["copies"]
    return {"phases": phases, "total_mib": total_mib, "pack": pack,
            "rule": f"pack p copies: each step up to p raised the total images/s by >= {STEP_GAIN - 1:.0%} and the "
                    f"copies' memory <= {MEMORY_SHARE:.0%} of the card"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet56_cifar")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per phase")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps per worker (compilation)")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for the workers' warm-up")
    ap.add_argument("--json-out", help="also write the result here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sync", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if sorted(args.copies) != args.copies or args.copies[0] != 1:
        ap.error("--copies must rise from 1, e.g. 1 2 4 8")
    if args.worker:
        worker(args)
        return 0
    result = coordinate(args)
    print("| copies | total images/s | x one | per copy | peak MiB (sum) |\n|---|---|---|---|---|")
    for p in result["phases"]:
        print(f"| {p['copies']} | {p['images_per_s']:.0f} | {p['gain']:.2f} | {p['per_copy']} | {p['peak_mib']} |")
    print(f"decision: {result['pack']} training(s) per GPU ({result['rule']})")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
