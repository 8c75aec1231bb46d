"""``tkd status``: how far a grid is, what failed, what it has cost and what is left.

Reads the results folder and the config and runs nothing. Each training run of the grid is
**done** (``metrics.json`` written), **running** (its process is alive: by pid on this host,
or its SLURM job in ``squeue``), **queued** (a SLURM job for it waits in ``squeue``),
**interrupted** (it started and its process is gone: killed, preempted, timed out, or its
outputs deleted while it ran; running it again resumes it), **failed** (its last attempt
recorded an error) or **pending** (nothing of it exists yet): from the files a run keeps in
its directory (:mod:`tkd.runstate`), never from the wording of its log. Then the GPU-hours
spent (Snakemake's benchmark files × the GPUs each job asked for) and an estimate of what is
left from the finished runs of the same architecture.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import grid, layout, terminal
from . import waves
from ..runstate import state_of

STATES = ("done", "running", "queued", "interrupted", "failed", "pending")


@dataclass(frozen=True)
class Launches:
    """Where, and as which SLURM runs, snakemake ran this results folder's workflow (recorded by
    the Snakefile's onstart): the directories, and the SLURM executor's run names (its jobs'
    names; empty where none was recorded: then the directory alone decides)."""

    workdirs: frozenset[str]
    runs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, results: Path) -> "Launches":
        def lines(name):
            path = Path(results) / name
            return [line.strip() for line in (path.read_text().splitlines() if path.is_file() else []) if line.strip()]

        workdirs = frozenset(str(Path(d).resolve()) for d in lines(layout.LAUNCHED))
        return cls(workdirs, frozenset(lines(layout.SLURM_RUNS)))

    def submitted(self, workdir: str, name: str) -> bool:
        """Whether a job submitted from ``workdir`` under the name ``name`` is one of this folder's."""
        return str(Path(workdir).resolve()) in self.workdirs and (not self.runs or name in self.runs)


def slurm_jobs(launched: Launches | None = None) -> dict[str, tuple[str, str]] | None:
    """This user's SLURM jobs (``squeue --me``): job id -> (state, comment), None without
    SLURM. The SLURM executor plugin comments each job ``rule_<rule>_wildcards_<values>``, names
    it after its run and submits it from the directory snakemake runs in; a job that was not
    submitted from one of this results folder's directories, or (where its runs' names are
    known) by one of its runs, keeps its state but not its comment, so it is never taken for one
    of this folder's runs."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(["squeue", "--me", "-h", "-o", "%i|%T|%Z|%j|%k"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    jobs = {}
    for line in out.stdout.splitlines():
        job, state, workdir, name, comment = (line.split("|", 4) + [""] * 4)[:5]
        ours = launched is not None and launched.submitted(workdir.strip(), name.strip())
        jobs[job.strip()] = (state.strip(), comment.strip() if ours else "")
    return jobs


def slurm_run_id(workflow) -> str | None:
    """The run ID by which the SLURM executor plugin names every job of one snakemake run (logged
    as "SLURM run ID"); None under another executor. No public API gives it: read from the
    executor where it is there."""
    executor = getattr(getattr(workflow, "scheduler", None), "_executor", None)
    if type(executor).__module__.startswith("snakemake_executor_plugin_slurm"):
        return getattr(executor, "run_uuid", None)
    return None


def record_launch(results: str | Path, slurm_run: str | None = None) -> None:
    """Remember the directory snakemake runs from, and the SLURM executor's run name where there is
    one, for :func:`slurm_jobs` (atomic; each once)."""
    _remember(Path(results) / layout.LAUNCHED, str(Path(os.getcwd()).resolve()))
    if slurm_run:
        _remember(Path(results) / layout.SLURM_RUNS, slurm_run)


def _remember(path: Path, line: str) -> None:
    from ..files import write_text

    known = path.read_text().splitlines() if path.is_file() else []
    if line not in known:
        write_text(path, "\n".join(known + [line]) + "\n")


def slurm_comment(run: dict) -> str:
    """The comment the SLURM executor plugin gives the train job of ``run``."""
    return "rule_train_wildcards_" + "_".join(str(run[k]) for k in grid.KEYS)


def run_state(results: Path, run: dict, jobs: dict[str, tuple[str, str]] | None = None,
              by_comment: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """(state, detail) of one run of the grid (``jobs``: squeue's jobs; ``by_comment``: the same by comment)."""
    state, detail = state_of(layout.run_path(results, run), None if jobs is None else {j: s for j, (s, _) in jobs.items()})
    if state in ("pending", "interrupted", "failed") and by_comment:
        job = by_comment.get(slurm_comment(run))
        if job is not None:  # SLURM has it: waiting, or started before its heartbeat was written
            return ("running" if job[1] == "RUNNING" else "queued"), f"SLURM job {job[0]} ({job[1]})"
    return state, detail


def _hours(results: Path, run: dict) -> float:
    """Wall-clock hours of a finished run: its benchmark file, else its own training time."""
    bench = Path(results) / layout.TRAIN_BENCHMARK.format(**run)
    try:
        return float(pd.read_csv(bench, sep="\t")["s"].iloc[-1]) / 3600
    except (OSError, ValueError, KeyError, IndexError, pd.errors.ParserError):
        import json

        try:
            return json.loads(layout.run_path(results, run, "metrics").read_text())["train_seconds"] / 3600
        except (OSError, ValueError, KeyError):
            return math.nan


def planned_runs(config: dict) -> list[dict]:
    """The runs the grid has asked for so far (:meth:`tkd.grid.waves.Waves.asked`)."""
    return waves.from_files(config).asked()


def waves_report(config: dict) -> list[str]:
    """Lines on a sequential grid's waves, one per cell that runs in waves: which of its waves was
    judged last, what it decided, what comes next."""
    w = waves.from_files(config)
    if not w.sequential:
        return []
    lines = ["seeds on demand (each cell at its own pace):"]
    for cell in w.sequential_cells():
        judged, most, name = w.judged(cell), len(w.cells[cell]), "/".join(cell)
        if not judged:
            lines.append(f"  {name}: wave 1 of at most {most} running (no wave judged yet)")
            continue
        last = judged[-1]
        lines.append(f"  {name}: wave {last['wave']} of at most {most} judged: {last['decided']} claim rows decided, "
                     f"{last['undecided']} undecided; "
                     + ("stopped" if last["stop"] else f"wave {last['wave'] + 1} runs {len(last['next_runs'])} "
                                                        f"trainings for {len(last['chains'])} chains"))
        lines += [f"    undecided: {row}" for row in last["undecided_rows"][:10]]
    return lines


def run_states(config: dict) -> list[tuple[dict, str, str]]:
    """(run, state, detail) of every run the grid asks for so far."""
    results = Path(config["results"])
    jobs = slurm_jobs(Launches.of(results))
    by_comment = {comment: (job, state) for job, (state, comment) in (jobs or {}).items() if comment}
    return [(run, *run_state(results, run, jobs, by_comment)) for run in planned_runs(config)]


def status(config: dict) -> tuple[pd.DataFrame, list[dict]]:
    """The per-cell table and the failed runs (with their errors)."""
    results = Path(config["results"])
    rows, failed = [], []
    for run, state, detail in run_states(config):
        gpus = config["archs"][run["arch"]]["resources"]["gpu"]
        hours = _hours(results, run) if state == "done" else math.nan
        rows.append(dict(run, state=state, hours=hours, gpu_hours=hours * gpus if gpus else 0.0, gpus=gpus))
        if state in ("failed", "interrupted"):
            failed.append(dict(run, state=state, error=detail, log=str(results / layout.TRAIN_LOG.format(**run))))
    runs = pd.DataFrame(rows)
    # per arch: the mean GPU-hours (or, for CPU jobs, hours) of a finished run, for what is left
    done = runs[runs.state == "done"]
    per_run = done.groupby("arch").apply(lambda d: (d.gpu_hours if d.gpus.iloc[0] else d.hours).mean(),
                                         include_groups=False) if len(done) else pd.Series(dtype=float)
    table = runs.groupby(["dataset", "arch", "method"], sort=True).agg(
        **{s: ("state", lambda x, s=s: int((x == s).sum())) for s in STATES}, total=("state", "size"),
        gpu_hours=("gpu_hours", "sum"), hours=("hours", "sum")).reset_index()
    table["left_estimate"] = [per_run.get(a, math.nan) * (t - d) for a, t, d in zip(table.arch, table.total, table.done)]
    return table, failed


SHORT = {"interrupted": "intr."}  # a header short enough for the table to fit a terminal


def render(table: pd.DataFrame, failed: list[dict], results: str, width: int = terminal.WIDTH) -> str:
    """The status as a terminal shows it, within ``width`` columns: totals, then each cell's
    methods with the states some run is in (every state is counted on the runs line)."""
    totals = {s: int(table[s].sum()) for s in STATES + ("total",)}
    left = table.left_estimate.sum(min_count=1)
    lines = [f"results: {results}",
             "runs: " + ", ".join(f"{totals[s]} {s}" for s in STATES) + f", of {totals['total']}",
             f"GPU-hours spent: {table.gpu_hours.sum():.2f}; left (estimate from finished runs of each arch; CPU jobs "
             f"in hours): {'unknown' if pd.isna(left) else f'{left:.2f}'}"
             + ("" if not table.left_estimate.isna().any() else " (unknown for archs with no finished run)")]
    lines = [terminal.prose(line, width, indent="  ") for line in lines]
    shown = [s for s in STATES if totals[s]] or ["pending"]
    for (dataset, arch), rows in table.groupby(["dataset", "arch"], sort=False):
        show = pd.DataFrame({"method": rows.method, **{SHORT.get(s, s): rows[s].astype(str) for s in shown},
                             "total": rows.total.astype(str), "GPU-h": rows.gpu_hours.map(lambda x: f"{x:.2f}"),
                             "left (est.)": rows.left_estimate.map(lambda x: "unknown" if math.isnan(x) else f"{x:.2f}")})
        lines += ["", f"{dataset} / {arch}", "",
                  terminal.table(show, colalign=["left"] + ["right"] * (show.shape[1] - 1))]
    if "interrupted" in shown:
        lines += ["", "intr.: interrupted (a run of the workflow resumes it)"]
    if failed:
        lines += ["", f"failed or interrupted runs ({len(failed)}; run the workflow again: interrupted ones resume):"]
        lines += [terminal.prose(f"  {f['state']}: {f['dataset']}/{f['arch']}/{f['method']}/seed{f['seed']}/"
                                 f"gen{f['generation']}: {f['error']} (log: {f['log']})", width, indent="    ")
                  for f in failed[:20]]
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more")
    return "\n".join(lines)
