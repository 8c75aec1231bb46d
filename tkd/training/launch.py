"""Starting the DDP ranks of one run, and turning signals into a clean stop.

``tkd train`` with several processes starts one fresh interpreter per rank here (not
multiprocessing's spawn, which re-runs the caller's main script), so it works from any
script, Snakemake's included. Signals reach every rank; a rank that fails ends the rest.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import SpecError, TrainingInterrupted

__all__ = ["stop_on_signals", "process_count", "launch", "init_method", "TrainingInterrupted"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
INIT_METHOD = "TKD_INIT_METHOD"  # how the ranks tkd starts find each other; torchrun's ranks use env://


@contextlib.contextmanager
def stop_on_signals():
    """Turn SIGTERM/SIGINT/SIGUSR1 into a list the step loop polls."""
    caught: list[int] = []
    try:
        old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        yield caught
        return
    try:
        yield caught
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def process_count(spec) -> int:
    """How many ranks the run takes: ``spec.processes``, or one per visible GPU (1 on CPU)."""
    import torch

    from .runtime import resolve_device

    device = resolve_device(spec.device)
    visible = torch.cuda.device_count() if device.type == "cuda" else 0
    n = spec.processes or max(1, visible)
    if device.type == "cuda" and n > 1:
        if device.index is not None:
            raise SpecError(f"device={spec.device!r} names one GPU; use device: cuda (or auto) with processes > 1")
        if n > visible:
            raise SpecError(f"processes={n} is invalid: only {visible} CUDA device(s) are visible")
    if spec.batch_size % n:
        raise SpecError(f"batch_size={spec.batch_size} is invalid: it does not split over {n} processes")
    return n


def init_method() -> str:
    """Where this rank meets the others: the file tkd's launcher names, else torchrun's env://."""
    return os.environ.get(INIT_METHOD, "env://")


def launch(spec_dict: dict, world: int, entry: str = "tkd.training.train:rank_main") -> dict:
    """Start ``world`` ranks of ``entry`` on this machine, pass signals on to them, wait for all,
    and return rank 0's report (its metrics). A rank's SpecError or failure is raised here."""
    module, func = entry.split(":")
    # the ranks import the tkd this process runs, even where it is on sys.path only (Snakemake's
    # script adapters put the repository there, e.g. under --sdm conda)
    package_root = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="tkd-ranks-") as tmp, stop_on_signals() as caught:
        reports = [Path(tmp) / f"rank{r}.json" for r in range(world)]
        print(f"starting {world} DDP processes", flush=True)
        procs = []
        for r in range(world):
            # the ranks meet through a file, not a TCP port: no port to pick, so two runs (or test
            # suites) on one machine cannot collide on one
            env = {**os.environ, INIT_METHOD: f"file://{tmp}/rendezvous", "RANK": str(r), "WORLD_SIZE": str(world),
                   "LOCAL_RANK": str(r), "TKD_RANK_REPORT": str(reports[r]), "TKD_RANK_SPEC": json.dumps(spec_dict),
                   "PYTHONPATH": pythonpath}
            procs.append(subprocess.Popen([sys.executable, "-c", f"from {module} import {func}; {func}()"], env=env))
        _wait(procs, caught)
        results = {r: json.loads(f.read_text()) for r, f in enumerate(reports) if f.exists()}
    return _outcome([p.returncode for p in procs], results)


def _wait(procs: list, caught: list[int]) -> None:
    """Until every rank has ended: forward signals; once a rank fails, end the others soon
    (they may wait forever in a collective)."""
    forwarded, deadline = 0, None
    while any(p.poll() is None for p in procs):
        time.sleep(0.2)
        for signum in caught[forwarded:]:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signum)
        forwarded = len(caught)
        if deadline is None and any(p.returncode for p in procs):
            deadline = time.monotonic() + (120 if caught else 30)
        if deadline is not None and time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()


def _outcome(codes: list[int], results: dict) -> dict:
    if all(c == 0 for c in codes) and results.get(0, {}).get("kind") == "ok":
        return results[0]["metrics"]
    for kind, error in (("spec", SpecError), ("error", RuntimeError)):
        for r, res in sorted(results.items()):
            if res["kind"] == kind:
                raise error(f"rank {r}: {res['message']}")
    interrupted = [c - 128 for c in codes if c and c > 128]
    if interrupted:
        raise TrainingInterrupted(interrupted[0])
    raise RuntimeError(f"DDP processes ended with exit codes {codes}")


def report_rank(run) -> None:
    """The body of one started rank: ``run(spec_dict)`` and a report for :func:`launch`."""
    import traceback

    report = Path(os.environ["TKD_RANK_REPORT"])
    try:
        metrics = run(json.loads(os.environ["TKD_RANK_SPEC"]))
        report.write_text(json.dumps({"kind": "ok", "metrics": metrics}))
    except SpecError as err:
        report.write_text(json.dumps({"kind": "spec", "message": str(err)}))
        sys.exit(2)
    except TrainingInterrupted as err:
        sys.exit(128 + err.signum)
    except BaseException as err:
        traceback.print_exc()
        report.write_text(json.dumps({"kind": "error", "message": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
