"""The GPU check of the training path: end to end on CUDA, throughput, how many trainings one GPU
should hold (pack), and the epoch times that set each architecture's SLURM runtime. Run by benchmarks/gpu_check.sh, one part per call, each
part appending its results to one JSON file (so a part that fails or times out loses only itself).

    python benchmarks/gpu_check.py e2e --out DIR [--small]
    python benchmarks/gpu_check.py throughput --out DIR --arch resnet56_cifar --batch-size 128 [--student]
    python benchmarks/gpu_check.py pack --out DIR --arch resnet56_cifar --batch-size 128
    python benchmarks/gpu_check.py summary --out DIR

``--small`` shrinks everything to a CPU-sized dry run (tiny data, ResNet-8, one epoch): it runs
the same code paths, so the script cannot fail on a typo while GPU minutes are counting.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tkd from this checkout, installed or not (the GPU machine has a bare copy)
RESULTS = "results.json"
# the paper grid's runs per architecture: 5 methods x 3 seeds x 6 generations, of which 15 patriarchs
PATRIARCHS, STUDENTS = 15, 75
RUNTIME_MARGIN = 1.5  # SLURM runtime = measured run time x this, rounded up to 30 minutes
TARGETS = {"resnet56_cifar": 3.0, "densenet_bc_100_cifar": 1.5}  # speed issue: tkd / standard recipe


def record(out: Path, key: str, value) -> None:
    path = out / RESULTS
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def tkd_train(spec: Path, *extra: str, timeout: float = 600, stop_after: str | None = None) -> dict:
    """``tkd train SPEC`` as a user runs it; SIGTERM once a line starting with ``stop_after`` appears."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tkd", "train", str(spec), *extra], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, t0, signalled = [], time.perf_counter(), False
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
        if stop_after and not signalled and line.startswith(stop_after):
            time.sleep(0.5)  # into the next epoch
            proc.send_signal(signal.SIGTERM)
            signalled = True
        if time.perf_counter() - t0 > timeout:
            proc.kill()
    return {"code": proc.wait(), "seconds": round(time.perf_counter() - t0, 1), "log": "".join(lines[-40:])}


def history(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "history.csv") as f:
        return [{k: float(v) if v not in ("", "nan") else None for k, v in row.items()} for row in csv.DictReader(f)]


def e2e(args) -> None:
    """ResNet-56 patriarch (TSD) and its student, compile auto and off; one run SIGTERMed and resumed."""
    import yaml

    from tkd.training.data import make_synthetic, save_synthetic

    out, work = Path(args.out), Path(args.work)
    small = args.small
    data = work / "synthetic50k.npz"
    if not data.exists():  # CIFAR-shaped: 100 classes, 50,000 training and 10,000 test images
        save_synthetic(make_synthetic(seed=0, train_per_class=5 if small else 500,
                                      test_per_class=2 if small else 100), data)
    base = dict(dataset="synthetic", data_path=str(data), arch="resnet8_cifar" if small else "resnet56_cifar",
                epochs=2 if small else 4, batch_size=32 if small else 128, lr=0.1, lr_milestones=[0.75],
                weight_decay=1e-4, momentum=0.9, device="cpu" if small else "cuda", eval_every=1,
                threads=2 if small else 0)
    results = {}
    for mode in ("on" if small else "auto", "off"):
        for gen in (0, 1):
            run = work / mode / f"gen{gen}"
            spec = dict(base, out_dir=str(run), compile=mode, generation=gen)
            if gen == 0:
                spec.update(loss="tsd", loss_params={"eta": 0.6, "k": 5})
            else:
                spec.update(teacher=str(work / mode / "gen0" / "model.pt"), lam=0.6)
            f = work / f"{mode}_gen{gen}.yaml"
            f.write_text(yaml.safe_dump(spec))
            r = tkd_train(f, timeout=args.timeout)
            metrics = json.loads((run / "metrics.json").read_text()) if r["code"] == 0 else None
            results[f"{mode}/gen{gen}"] = dict(r, metrics=metrics, history=history(run) if metrics else None)
            record(out, "e2e", results)
    # the compiled and the eager runs agree: same data order, init and recipe; only kernels differ
    checks = {}
    for gen in (0, 1):
        a, b = (results[f"{m}/gen{gen}"]["metrics"] for m in ("on" if small else "auto", "off"))
        if a and b:
            checks[f"gen{gen}"] = {"top1_diff": round(a["test_top1"] - b["test_top1"], 2),
                                   "loss_diff": round(a["train_loss"] - b["train_loss"], 4),
                                   "ok": abs(a["test_top1"] - b["test_top1"]) <= 5.0
                                   and abs(a["train_loss"] - b["train_loss"]) <= 0.1}
    results["agreement"] = dict(checks, tolerance="test top-1 within 5 points, final train loss within 0.1")
    # kill and resume: SIGTERM after the first epoch's line, then run the same spec again
    resume = work / "resume.yaml"
    spec = dict(base, out_dir=str(work / "resume" / "gen0"), compile="on" if small else "auto", loss="tsd",
                loss_params={"eta": 0.6, "k": 5}, epochs=base["epochs"] + 1)
    resume.write_text(yaml.safe_dump(spec))
    first = tkd_train(resume, timeout=args.timeout, stop_after="epoch 1/")
    second = tkd_train(resume, timeout=args.timeout)
    results["resume"] = {"first_code": first["code"], "second_code": second["code"],
                         "resumed": "resuming" in second["log"], "first_log": first["log"][-1500:],
                         "ok": first["code"] == 128 + signal.SIGTERM and second["code"] == 0
                         and "resuming" in second["log"]}
    record(out, "e2e", results)


def throughput(args) -> None:
    cmd = [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--arch", args.arch,
           "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--device", args.device, "--workers", str(args.workers)]
    if args.student:
        cmd.append("--student")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    print(proc.stdout[-3000:], proc.stderr[-3000:], flush=True)
    key = f"throughput/{args.arch}/b{args.batch_size}/{'student' if args.student else 'patriarch'}"
    result = {"code": proc.returncode, "seconds": round(time.perf_counter() - t0, 1)}
    if proc.returncode == 0:
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    else:
        result["stderr"] = proc.stderr[-2000:]
    record(Path(args.out), key, result)


def pack(args) -> None:
    """How many trainings one GPU should hold: benchmarks/pack.py's phases of 1, 2, 4, 8 copies."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "pack.py"), "--arch", args.arch, "--batch-size",
           str(args.batch_size), "--device", args.device, "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           "--copies", *map(str, args.copies), "--timeout", str(max(60.0, args.timeout / 2))]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    print(proc.stdout[-3000:], proc.stderr[-3000:], flush=True)
    result = {"code": proc.returncode, "seconds": round(time.perf_counter() - t0, 1)}
    if proc.returncode == 0:
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    else:
        result["stderr"] = proc.stderr[-2000:]
    record(Path(args.out), f"pack/{args.arch}/b{args.batch_size}", result)


def profile(args) -> None:
    """Where a compiled ResNet-56 step spends its time (written only when a target was missed)."""
    import torch

    from tkd.training.archs import create
    from tkd.training.data import make_synthetic
    from tkd.training.loaders import DeviceLoader, channel_stats
    from tkd.training.losses import cross_entropy
    from tkd.training.runtime import make_optimizer, make_train_step, prepare_model, resolve_device

    device = resolve_device(args.device)
    data = make_synthetic(seed=0, train_per_class=40, test_per_class=1).train
    mean, std = channel_stats(data.images)
    model = prepare_model(create(args.arch, num_classes=100), device, device.type == "cuda")
    opt = make_optimizer(model, 0.1, 0.9, 1e-4, False, device)
    step = make_train_step(model, opt, cross_entropy, None, 0.6, 1.0, device.type == "cuda",
                           "reduce-overhead" if device.type == "cuda" else None)
    batches = DeviceLoader(data, args.batch_size, device, mean, std, train=True).epoch(0)
    for _ in range(12):
        step(*next(batches))
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA]
                                                          if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(10):
            step(*next(batches))
        if device.type == "cuda":
            torch.cuda.synchronize()
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    (Path(args.out) / f"profile_{args.arch}.txt").write_text(prof.key_averages().table(sort_by=sort, row_limit=25))


def summary(args) -> None:
    """Seconds per epoch per architecture, GPU-hours of one run and of the grid, a runtime to ask SLURM."""
    import yaml

    out = Path(args.out)
    data = json.loads((out / RESULTS).read_text()) if (out / RESULTS).exists() else {}
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    rows, lines = {}, ["| arch | batch | standard img/s | tkd eager | tkd compiled | ratio | target | "
                       "student img/s | peak MiB | s/epoch (patriarch, student) | h per run (p, s) | "
                       "GPU-h of the grid | runtime to ask (min) |", "|" + "---|" * 13]
    for key, r in sorted(data.items()):
        if not key.startswith("throughput/") or r.get("code") != 0:
            continue
        _, arch, batch, step = key.split("/")
        rows.setdefault((arch, batch), {})[step] = r
    for (arch, batch), r in rows.items():
        p, s = r.get("patriarch"), r.get("student")
        arch_cfg = config["archs"].get(arch)  # the paper grid's recipe; none for a --small toy arch
        n, epochs = 50_000, config["recipes"][arch_cfg["recipe"]]["epochs"] if arch_cfg else 0
        sec_p = n / p["tkd_img_s"] if p else None
        sec_s = n / s["tkd_img_s"] if s else None
        hours = [None if x is None or not epochs else x * epochs / 3600 for x in (sec_p, sec_s)]
        grid = None if None in hours else PATRIARCHS * hours[0] + STUDENTS * hours[1]
        ask = None if None in hours else int(-(-max(hours) * 60 * RUNTIME_MARGIN // 30) * 30)
        target = TARGETS.get(arch)
        rows[(arch, batch)] = dict(sec_per_epoch=[sec_p, sec_s], hours_per_run=hours, grid_gpu_hours=grid,
                                   runtime_minutes=ask, ratio=p and p["ratio"], target=target,
                                   met=None if not (p and target) else p["ratio"] >= target)
        f = lambda x, nd=1: "–" if x is None else f"{x:.{nd}f}"
        lines.append(f"| {arch} | {batch[1:]} | {f(p and p['standard_img_s'], 0)} | {f(p and p['tkd_eager_img_s'], 0)}"
                     f" | {f(p and p['tkd_img_s'], 0)} | {f(p and p['ratio'], 2)} | {target or '–'} | "
                     f"{f(s and s['tkd_img_s'], 0)} | {f(p and max(p.get('peak_mib', {}).values(), default=None), 0)} | "
                     f"{f(sec_p)}, {f(sec_s)} | "
                     f"{f(hours[0], 2)}, {f(hours[1], 2)} | {f(grid)} | {ask or '–'} |")
    packs = {k: r for k, r in sorted(data.items()) if k.startswith("pack/") and r.get("code") == 0}
    if packs:
        lines += ["", "| pack: arch | batch | copies: total images/s (x one), peak MiB | trainings per GPU |",
                  "|---|---|---|---|"]
        for key, r in packs.items():
            phases = "; ".join(f"{p['copies']}: {p['images_per_s']:.0f} ({p['gain']:.2f}x), {p['peak_mib']}"
                               for p in r["phases"])
            lines.append(f"| {r['arch']} | {r['batch_size']} | {phases} | {r['pack']} |")
        lines.append(f"pack rule: {next(iter(packs.values()))['rule']}")
    e2e_ = data.get("e2e", {})
    lines += ["", f"device: {data.get('device', '?')}",
              f"end to end: agreement {json.dumps(e2e_.get('agreement'))}; resume {json.dumps({k: v for k, v in e2e_.get('resume', {}).items() if k != 'first_log'})}",
              f"runtime = the slower of a patriarch and a student run (50,000 images x the recipe's epochs, "
              f"evaluation not counted) x {RUNTIME_MARGIN}, rounded up to 30 minutes"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    record(out, "summary", {f"{a}/{b}": {k: v for k, v in r.items()} for (a, b), r in rows.items()})
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["e2e", "throughput", "pack", "profile", "summary", "device"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", help="scratch folder (data, runs); default: a new temporary folder")
    ap.add_argument("--small", action="store_true", help="a CPU-sized dry run of the same code")
    ap.add_argument("--arch", default="resnet56_cifar")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--student", action="store_true")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4, 8], help="pack: copies per phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="pack: timed seconds per phase")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.work is None:  # never a fixed path: two checks (or test suites) on one machine must not collide
        import tempfile

        args.work = tempfile.mkdtemp(prefix="tkd-gpu-check-")
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.part == "device":
        import torch

        name = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (no CUDA)"
        record(Path(args.out), "device", f"{name}; torch {torch.__version__}, CUDA {torch.version.cuda}")
        return
    {"e2e": e2e, "throughput": throughput, "pack": pack, "profile": profile, "summary": summary}[args.part](args)


if __name__ == "__main__":
    main()
