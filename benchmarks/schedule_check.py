"""Does the planner's schedule simulation (tkd.statistics.schedule) predict how long a real run takes?

Runs the demo and the sequential demo on this machine's cores, and the sequential demo through
the SLURM profile on the local test cluster (tests/slurm/cluster.sh up; two fake GPUs), each timed
from start to end; then predicts each from its own benchmark files (tkd.statistics.schedule.replay). Under
SLURM every job also waits between being ready and starting (sbatch, the scheduler, the executor's
status polling), and holds its GPU a little longer than its script runs (the executor's wrapper):
both are measured on the same run (SLURM's job records, the Snakemake log, the benchmark files) and
given to the simulation, as a user gives plan.latency_hours for their cluster.

    python benchmarks/schedule_check.py            # all three, about 10 minutes on 2 cores
    python benchmarks/schedule_check.py --only demo --only sequential
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DEMO = ["--configfile", "workflow/demo.yaml"]
SEQUENTIAL = ["--configfile", "workflow/demo.yaml", "workflow/demo-sequential.yaml"]
FAKE_GPU = """archs:
  resnet8_tiny_cifar:
    recipe: demo
    resources: {gpu: 1, cpus_per_gpu: 1, runtime: 10, mem_mb: 2000}
"""
SLURM = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2", "--slurm-no-account"]


def cluster_delays(log: str, results: str | Path) -> tuple[float, float]:
    """(latency, overhead) in seconds of a run's SLURM jobs, from SLURM's own records (scontrol show
    job, kept MinJobAge seconds) and the run's Snakemake log and benchmark files: the latency, from a
    job's end to Snakemake noticing it (its "Finished jobid" line); the overhead, how much longer a
    training job held its GPU than its benchmark says its script ran (the executor's wrapper)."""
    from tkd import layout

    stamp = r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]"
    noticed, wildcards = {}, {}
    for block in re.split(rf"(?={stamp})", log):
        head = re.match(stamp, block)
        if not head:
            continue
        when = datetime.strptime(" ".join(head.group(1).split()), "%a %b %d %H:%M:%S %Y").timestamp()
        noticed.update(dict.fromkeys(re.findall(r"Finished jobid: (\d+)", block), when))
        job, found = re.search(r"jobid: (\d+)", block), re.search(r"wildcards: (.*)", block)
        if re.search(r"^rule train:", block, re.M) and job and found:
            wildcards[job.group(1)] = dict(kv.split("=", 1) for kv in found.group(1).split(", "))
    seen, held = [], []
    for job, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log):
        record = subprocess.run(["scontrol", "show", "job", slurm_id], capture_output=True, text=True).stdout
        times = {k: datetime.fromisoformat(v).timestamp() for k, v in re.findall(r"(StartTime|EndTime)=(\S+)", record)}
        if len(times) < 2 or job not in noticed:
            continue
        seen.append(noticed[job] - times["EndTime"])
        if job in wildcards:
            bench = Path(results) / layout.TRAIN_BENCHMARK.format(**wildcards[job])
            held.append(times["EndTime"] - times["StartTime"] - float(pd.read_csv(bench, sep="\t")["s"].iloc[-1]))
    mean = lambda x: float(sum(x) / len(x)) if x else 0.0  # noqa: E731
    return mean(seen), max(0.0, mean(held))


def timed(args: list[str], results: Path) -> tuple[float, str]:
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "snakemake", *args, "--config", f"results={results}"], cwd=REPO,
                         capture_output=True, text=True, timeout=3000)
    took = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
    return took, out.stdout + out.stderr


def predicted(configfiles: list[str], results: Path, slots: int, local: bool, latency: float = 0.0,
              overhead: float = 0.0) -> float:
    """The seconds tkd.statistics.schedule.replay predicts for a finished results folder."""
    from tkd.grid.config import load
    from tkd.statistics.schedule import replay

    config = load(configfiles)
    config["results"] = str(results)
    return replay(config, slots, local=local, latency=latency / 3600, overhead=overhead / 3600) * 3600


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=["demo", "sequential", "slurm"])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cores = os.cpu_count()
        for name, configs in (("demo", DEMO), ("sequential", SEQUENTIAL)):
            if args.only and name not in args.only:
                continue
            took, _ = timed(["--cores", "all", *configs], tmp / name)
            guess = predicted(configs[1:], tmp / name, cores, local=True)
            rows.append(dict(run=f"{name} (--cores {cores})", measured_s=took, predicted_s=guess, latency_s=0.0))
        if not args.only or "slurm" in args.only:
            override = tmp / "fake_gpu.yaml"
            override.write_text(FAKE_GPU)
            configs = [*SEQUENTIAL, str(override)]
            took, log = timed(["--profile", "slurm", "-j", "8", *configs, *SLURM], tmp / "slurm")
            latency, overhead = cluster_delays(log, tmp / "slurm")
            for lat, over in ((0.0, 0.0), (latency, overhead)):
                rows.append(dict(run=f"sequential, SLURM (2 GPUs; latency {lat:.1f} s, overhead {over:.1f} s)",
                                 measured_s=took, latency_s=lat, overhead_s=over,
                                 predicted_s=predicted(configs[1:], tmp / "slurm", 2, False, lat, over)))
    table = pd.DataFrame(rows)
    table["predicted / measured"] = table.predicted_s / table.measured_s
    print(table.to_markdown(index=False, floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
