"""Calendar time: how long a grid takes on N GPUs (or N cores), by simulating its DAG as the
workflow runs it.

A grid's jobs (:func:`jobs_of`) are its trainings (a student after its teacher), each chain's
evaluation and transfer probe, each cell's checkpoint after each of its waves (the cell's next
wave's trainings wait for it, and only for it: cells go at their own pace), each cell's tables,
and the final tables. :func:`simulate` runs them on ``slots`` GPUs (or cores): whenever a slot is
free, the ready job with the longest remaining path to its cell's next checkpoint starts (the
scheduler knows no wave that is not asked for yet), a job that does not fit is passed over for
one that does. ``latency`` hours pass between a cluster job's end (one that holds a slot) and the
moment its successors can start (the executor's status polling, the cluster's queue); 0 by
default. The result is the makespan in
hours; the planner reports days.

How long each job takes comes from :class:`Durations`: Snakemake's benchmark files of finished
jobs where they exist (per rule and architecture), else the configured ``runtime`` of a training
run (labelled an estimate) and, for the short jobs that run on the submit host, their
benchmarks or nothing.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import layout

__all__ = ["Job", "Durations", "jobs_of", "simulate", "replay"]

CHECKPOINT = "wave"
TRANSFER_HOURS = 1.0  # a transfer probe's requested runtime (workflow/rules/analysis.smk), until its benchmarks say


def _measured(results: Path, pattern: str, arch: str | None = None) -> list[float]:
    """The seconds (column ``s``) of every benchmark file of ``pattern`` under ``results``, of one
    architecture where given; unreadable files are skipped."""
    import glob
    import re

    keys = dict.fromkeys(re.findall(r"{(\w+)}", pattern), "*")
    if arch is not None and "arch" in keys:
        keys["arch"] = glob.escape(arch)
    out = []
    for path in glob.glob(str(results / pattern.format(**keys))):
        try:
            with open(path) as f:
                header, *rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
            out += [float(row[header.index("s")]) for row in rows]
        except (OSError, ValueError, IndexError):
            continue
    return [x for x in out if math.isfinite(x) and x >= 0]


@dataclass(frozen=True)
class Job:
    name: str
    hours: float
    slots: int  # GPUs (or cores) it holds while it runs; 0: a job on the submit host
    needs: tuple[str, ...] = ()
    horizon: bool = False  # a checkpoint: the scheduler sees nothing beyond it until it is done


@dataclass
class Durations:
    """Hours and slots of each kind of job. ``train``: per architecture (hours, slots, source);
    ``rules``: per rule name (and per architecture where measured) the hours of one job; ``local``:
    whether the submit host's jobs hold a slot too (a run on N cores: every job holds one)."""

    train: dict[str, tuple[float, int, str]]
    rules: dict[str, float] = field(default_factory=dict)
    transfer_slots: dict[str, int] = field(default_factory=dict)
    local: bool = False

    @classmethod
    def of(cls, config: dict, local: bool = False) -> "Durations":
        """From the results folder's Snakemake benchmark files where they exist (the mean of each
        rule's, per architecture where its jobs are per chain or run), else a training run's
        configured ``runtime`` (an estimate) and a transfer probe's requested hour; a GPU job holds
        its architecture's GPUs (a CPU job one slot). ``local``: a run on N cores, where every job
        holds one."""
        from .. import grid

        results = Path(config["results"])
        train, rules, transfer_slots = {}, {}, {}
        for arch in grid.archs_used(config):
            res = config["archs"][arch]["resources"]
            slots = 1 if local else max(res["gpu"], 1)
            transfer_slots[arch] = slots
            seconds = _measured(results, layout.BENCHMARKS["train"], arch)
            train[arch] = ((float(np.mean(seconds)) / 3600, slots, f"benchmarks ({len(seconds)})") if seconds else
                           (res["runtime"] / 60, slots, "config runtime (estimate)"))
            seconds = _measured(results, layout.BENCHMARKS["transfer"], arch)
            rules[f"transfer/{arch}"] = float(np.mean(seconds)) / 3600 if seconds else TRANSFER_HOURS
            seconds = _measured(results, layout.BENCHMARKS["evaluate"], arch)
            if seconds:
                rules[f"evaluate/{arch}"] = float(np.mean(seconds)) / 3600
        for name in ("synthetic_data", "data", "wave", "cell_tables", "aggregate", "paper_tables", "paper_figures",
                     "compute_figure"):
            seconds = _measured(results, layout.BENCHMARKS[name])
            if seconds:
                rules["data" if name == "synthetic_data" else name] = float(np.mean(seconds)) / 3600
        return cls(train, rules, transfer_slots, local)

    def rule(self, name: str, arch: str | None = None) -> float:
        return self.rules.get(f"{name}/{arch}", self.rules.get(name, 0.0))

    def slots(self, name: str, arch: str | None = None) -> int:
        if name == "train":
            return self.train[arch][1]
        if name == "transfer":
            return self.transfer_slots.get(arch, 1)
        return 1 if self.local else 0


def jobs_of(runs: list[dict], durations: Durations, transfer: bool = False) -> list[Job]:
    """The jobs of a grid whose runs (dicts of the grid's keys and ``wave``, the wave of its cell
    that asked for it; 1 in the fixed design) are ``runs``."""
    jobs: list[Job] = [Job("data", durations.rule("data"), durations.slots("data"))]
    cells: dict[tuple, dict[int, list[dict]]] = {}
    for r in runs:
        cells.setdefault((r["dataset"], r["arch"]), {}).setdefault(int(r.get("wave", 1)), []).append(r)
    finals = []
    for (dataset, arch), by_wave in sorted(cells.items()):
        hours, slots, _ = durations.train[arch]
        waves = sorted(by_wave)
        sequential = len(waves) > 1 or waves[0] > 1
        before = "data"
        for wave in waves:
            wave_jobs = []
            chains: dict[tuple, list[int]] = {}
            for r in by_wave[wave]:
                chains.setdefault((r["method"], r["seed"]), []).append(int(r["generation"]))
            for (method, seed), gens in sorted(chains.items()):
                chain = f"{dataset}/{arch}/{method}/seed{seed}"
                for g in sorted(gens):
                    needs = (f"train/{chain}/gen{g - 1}",) if g > 0 else (before,)
                    jobs.append(Job(f"train/{chain}/gen{g}", hours, slots, needs))
                last = f"train/{chain}/gen{max(gens)}"
                jobs.append(Job(f"evaluate/{chain}", durations.rule("evaluate", arch), durations.slots("evaluate"),
                                (last,)))
                wave_jobs.append(f"evaluate/{chain}")
                if transfer:
                    jobs.append(Job(f"transfer/{chain}", durations.rule("transfer", arch),
                                    durations.slots("transfer", arch), (last,)))
                    wave_jobs.append(f"transfer/{chain}")
            if sequential:
                name = f"{CHECKPOINT}/{dataset}/{arch}/{wave}"
                jobs.append(Job(name, durations.rule(CHECKPOINT), durations.slots(CHECKPOINT),
                                tuple(wave_jobs) + ((before,) if before != "data" else ()), horizon=True))
                before, wave_jobs = name, []
        cell_done = f"cell_tables/{dataset}/{arch}"
        jobs.append(Job(cell_done, durations.rule("cell_tables"), durations.slots("cell_tables"),
                        (before,) if sequential else tuple(j.name for j in jobs if j.name.startswith(
                            ("evaluate/", "transfer/")) and j.name.split("/")[1:3] == [dataset, arch])))
        finals.append(cell_done)
    jobs.append(Job("aggregate", durations.rule("aggregate"), durations.slots("aggregate"), tuple(finals)))
    for name in ("paper_tables", "paper_figures", "compute_figure"):
        jobs.append(Job(name, durations.rule(name), durations.slots(name), ("aggregate",)))
    return jobs


def _priorities(jobs: dict[str, Job], children: dict[str, list[str]]) -> dict[str, float]:
    """Each job's longest remaining path (hours) to its horizon: itself and its descendants up to,
    not beyond, a checkpoint (the scheduler cannot see the waves a checkpoint has not asked for)."""
    out: dict[str, float] = {}
    order = _topological(jobs)
    for name in reversed(order):
        job = jobs[name]
        beyond = 0.0 if job.horizon else max((out[c] for c in children.get(name, ())), default=0.0)
        out[name] = job.hours + beyond
    return out


def _topological(jobs: dict[str, Job]) -> list[str]:
    indegree = {n: 0 for n in jobs}
    children: dict[str, list[str]] = {}
    for job in jobs.values():
        for need in job.needs:
            children.setdefault(need, []).append(job.name)
            indegree[job.name] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    order = []
    while ready:
        n = ready.pop()
        order.append(n)
        for c in children.get(n, ()):
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(order) != len(jobs):
        raise ValueError("the jobs' dependencies have a cycle")
    return order


def simulate(jobs: list[Job], slots: int, latency: float = 0.0, overhead: float = 0.0) -> float:
    """The makespan (hours) of ``jobs`` on ``slots`` GPUs (or cores): list scheduling, the ready job
    with the longest remaining path first; a job's successors are ready ``latency`` hours after it
    ends where it held a slot (a cluster job, seen late), at once where it ran on the submit host;
    a cluster job holds its slot ``overhead`` hours beyond its own (its executor's wrapper)."""
    by_name = {j.name: j for j in jobs}
    missing = {n for j in jobs for n in j.needs if n not in by_name}
    if missing:
        raise ValueError(f"jobs need jobs that are not there: {sorted(missing)[:3]}")
    if any(j.slots > slots for j in jobs):
        raise ValueError(f"a job needs more than the {slots} slots there are")
    children: dict[str, list[str]] = {}
    waiting = {j.name: len(j.needs) for j in jobs}
    for j in jobs:
        for need in j.needs:
            children.setdefault(need, []).append(j.name)
    priority = _priorities(by_name, children)
    ready: list[tuple[float, float, str]] = []  # (-priority, ready time, name)
    pending: list[tuple[float, str]] = []  # (ready time, name): ready but within its latency
    for name, n in waiting.items():
        if n == 0:
            heapq.heappush(pending, (0.0, name))
    running: list[tuple[float, str]] = []
    ready_at: dict[str, float] = {}
    free, now, done = slots, 0.0, 0
    while done < len(jobs):
        while pending and pending[0][0] <= now + 1e-12:
            t, name = heapq.heappop(pending)
            heapq.heappush(ready, (-priority[name], t, name))
        passed = []
        while ready:
            item = heapq.heappop(ready)
            job = by_name[item[2]]
            if job.slots <= free:
                free -= job.slots
                heapq.heappush(running, (now + job.hours + (overhead if job.slots else 0.0), job.name))
            else:
                passed.append(item)
        for item in passed:
            heapq.heappush(ready, item)
        events = [t for t in (running[0][0] if running else None, pending[0][0] if pending else None) if t is not None]
        if not events:
            raise ValueError("the schedule is stuck: a job can never start")
        now = min(events)
        while running and running[0][0] <= now + 1e-12:
            _, name = heapq.heappop(running)
            free += by_name[name].slots
            done += 1
            noticed = now + (latency if by_name[name].slots else 0.0)  # a cluster job's end is seen late
            for child in children.get(name, ()):
                waiting[child] -= 1
                ready_at[child] = max(ready_at.get(child, 0.0), noticed)
                if waiting[child] == 0:
                    heapq.heappush(pending, (ready_at[child], child))
    return now


def replay(config: dict, slots: int, local: bool = False, latency: float = 0.0, overhead: float = 0.0) -> float:
    """The makespan (hours) the schedule simulation predicts for a results folder's grid as it ran:
    its runs as its waves asked for them (:meth:`tkd.grid.waves.Waves.asked_by_wave`), each job's hours
    from that run's own benchmark files. ``local``: a run on ``slots`` cores (``--cores``);
    ``latency``, ``overhead``: as :func:`simulate` takes them."""
    from .. import grid
    from ..grid.waves import from_files

    runs = from_files(config).asked_by_wave()
    transfer = bool(grid.transfer_chains(config, grid.chains(runs)))
    return simulate(jobs_of(runs, Durations.of(config, local), transfer), slots, latency, overhead)
