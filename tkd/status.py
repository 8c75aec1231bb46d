"""``tkd status``: how far a grid is, what failed, what it has cost and what is left.

Reads the results folder and the config and runs nothing: per dataset × arch × method, how
many training runs are done (``metrics.json`` written), failed (the log's last attempt ends
in an error), running (a resume state or a log, and no error) and pending (nothing yet);
the GPU-hours spent (Snakemake's benchmark files × the GPUs each job asked for) and an
estimate of what is left from the finished runs of the same architecture.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from . import grid, layout

STATES = ("done", "running", "failed", "pending")
_START = re.compile(r"^(training |starting \d+ DDP)")


def last_error(log: Path) -> str | None:
    """The error that ended the last attempt logged in ``log``, if it ended in one.

    Attempts append to the same log; only what follows the last training start counts (an
    error before any start, such as missing data, counts too)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if _START.match(line)]
    tail = lines[starts[-1]:] if starts else lines
    for i in reversed(range(len(tail))):
        if tail[i].startswith("tkd: error:"):
            return tail[i]
        if tail[i].startswith("Traceback (most recent call last):"):
            exc = next((line for line in tail[i + 1:] if line and not line.startswith(" ")), "Traceback")
            return None if "TrainingInterrupted" in exc else exc  # a signal: the retry resumes it
    return None


def run_state(results: Path, run: dict) -> tuple[str, str]:
    """(state, detail) of one run of the grid."""
    run_dir = layout.run_path(results, run)
    if layout.run_path(results, run, "metrics").is_file():
        return "done", ""
    log = Path(results) / layout.TRAIN_LOG.format(**run)
    error = last_error(log) if log.is_file() else None
    if error:
        return "failed", error
    if layout.resume_path(run_dir).is_file() or log.is_file():
        return "running", ""
    return "pending", ""


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
    """The runs the grid has asked for so far: all of them in the fixed design; in waves, the first
    wave and each one a judged wave asked for."""
    if not grid.sequential(config):
        return grid.runs(config)
    from .files import read_json

    runs = grid.runs(config, wave=1)
    for path in layout.wave_files(config["results"]):
        runs += read_json(path, "wave decision")["next_runs"]
    return runs


def waves_report(config: dict) -> list[str]:
    """Lines on a sequential grid's waves: which was judged last, what it decided, what comes next."""
    if not grid.sequential(config):
        return []
    from .files import read_json

    files = layout.wave_files(config["results"])
    most = max(grid.waves(b["seeds"]) for b in config["grid"] if grid.block_on(config, b))
    if not files:
        return [f"seeds on demand: wave 1 of at most {most} running (no wave judged yet)"]
    last = read_json(files[-1], "wave decision")
    lines = [f"seeds on demand: wave {last['wave']} of at most {most} judged: {last['decided']} claim rows decided, "
             f"{last['undecided']} undecided; "
             + ("stopped" if last["stop"] else f"wave {last['wave'] + 1} runs {len(last['next_runs'])} trainings "
                                                f"for {len(last['chains'])} chains")]
    lines += [f"  undecided: {row}" for row in last["undecided_rows"][:20]]
    return lines


def status(config: dict) -> tuple[pd.DataFrame, list[dict]]:
    """The per-cell table and the failed runs (with their errors)."""
    results = Path(config["results"])
    rows, failed = [], []
    for run in planned_runs(config):
        state, detail = run_state(results, run)
        gpus = config["archs"][run["arch"]]["resources"]["gpu"]
        hours = _hours(results, run) if state == "done" else math.nan
        rows.append(dict(run, state=state, hours=hours, gpu_hours=hours * gpus if gpus else 0.0, gpus=gpus))
        if state == "failed":
            failed.append(dict(run, error=detail, log=str(results / layout.TRAIN_LOG.format(**run))))
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


def render(table: pd.DataFrame, failed: list[dict], results: str) -> str:
    """The status as a terminal shows it."""
    totals = {s: int(table[s].sum()) for s in STATES + ("total",)}
    show = table.assign(gpu_hours=table.gpu_hours.map(lambda x: f"{x:.2f}"),
                        left_estimate=table.left_estimate.map(lambda x: "unknown" if math.isnan(x) else f"{x:.2f}"))
    show = show.drop(columns=["hours"]).rename(columns={"gpu_hours": "GPU-h spent", "left_estimate": "GPU-h left (est.)"})
    left = table.left_estimate.sum(min_count=1)
    lines = [f"results: {results}",
             f"runs: {totals['done']} done, {totals['running']} running, {totals['failed']} failed, "
             f"{totals['pending']} pending, of {totals['total']}",
             f"GPU-hours spent: {table.gpu_hours.sum():.2f}; left (estimate from finished runs of each arch; CPU jobs "
             f"in hours): {'unknown' if pd.isna(left) else f'{left:.2f}'}"
             + ("" if not table.left_estimate.isna().any() else " (unknown for archs with no finished run)"),
             "", show.to_markdown(index=False)]
    if failed:
        lines += ["", f"failed runs ({len(failed)}):"]
        lines += [f"  {f['dataset']}/{f['arch']}/{f['method']}/seed{f['seed']}/gen{f['generation']}: {f['error']}  "
                  f"(log: {f['log']})" for f in failed[:20]]
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more")
    return "\n".join(lines)
