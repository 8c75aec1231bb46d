"""What a training run is doing, as files in its run directory, so that ``tkd status`` can tell a
live run from a dead one without reading the trainer's log.

* ``running.json`` (:data:`tkd.layout.RUNNING`): written when a run starts — the process, its
  host and start time, its SLURM job — and removed when it ends, however it ends; a run killed
  outright leaves it behind, and :func:`alive` then finds no such process.
* ``failed.json``: why the last attempt failed (written by :func:`failed`, removed by the next start).

Neither is a workflow output: Snakemake would delete them with a failed job's outputs.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from . import layout
from .files import read_json, write_json

__all__ = ["running", "failed", "state_of", "alive", "FAILED"]

FAILED = "failed.json"


def _proc_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat): a pid reused by
    another process has another start time. None where there is no such process (or no /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@contextlib.contextmanager
def running(out_dir: str | Path):
    """Mark ``out_dir`` as running for the duration; a failure is recorded by the caller (:func:`failed`)."""
    out = Path(out_dir)
    with contextlib.suppress(FileNotFoundError):
        (out / FAILED).unlink()
    pid = os.getpid()
    write_json(out / layout.RUNNING, {"pid": pid, "host": socket.gethostname(), "proc_start": _proc_start(pid),
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                      "slurm_job_id": os.environ.get("SLURM_JOB_ID")})
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            (out / layout.RUNNING).unlink()


def failed(out_dir: str | Path, error: BaseException) -> None:
    """Record why the last attempt of ``out_dir`` failed."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    write_json(Path(out_dir) / FAILED, {"error": f"{type(error).__name__}: {message}",
                                        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def alive(record: dict, slurm_jobs: dict[str, str] | None = None) -> bool | None:
    """Whether the process a ``running.json`` names still runs: by its pid and start time on this
    host, by its SLURM job elsewhere; None where neither can be checked."""
    if record.get("slurm_job_id") and slurm_jobs is not None:
        return record["slurm_job_id"] in slurm_jobs
    if record.get("host") == socket.gethostname():
        start = _proc_start(int(record["pid"]))
        return start is not None and start == record.get("proc_start")
    return None


def state_of(run_dir: Path, slurm_jobs: dict[str, str] | None = None) -> tuple[str, str]:
    """(state, detail) of a run directory from its files: done, running, failed, interrupted or
    pending. ``slurm_jobs``: the live SLURM jobs (id -> state), where squeue answers."""
    if (run_dir / layout.RUN_FILES["metrics"]).is_file():
        return "done", ""
    heartbeat = run_dir / layout.RUNNING
    if heartbeat.is_file():
        record = read_json(heartbeat, "run heartbeat")
        live = alive(record, slurm_jobs)
        where = f"pid {record['pid']} on {record['host']}" + (f", SLURM job {record['slurm_job_id']}"
                                                              if record.get("slurm_job_id") else "")
        if live is None:
            return "running", f"{where} (not checked from here)"
        if live:
            return "running", where
        return "interrupted", f"{where} is gone" + ("; resume state saved" if layout.resume_path(run_dir).is_file()
                                                     else "")
    if (run_dir / FAILED).is_file():
        return "failed", read_json(run_dir / FAILED, "failure record")["error"]
    if layout.resume_path(run_dir).is_file():
        return "interrupted", "resume state saved"
    return "pending", ""
