"""`tkd status` and `tkd tables` on a results folder with finished, failed, running and pending runs."""
import json
import os
import shutil
import time

import pandas as pd
import pytest
import yaml

from helpers import REPO, tkd, too_wide
from tkd import layout
from tkd.grid.config import load
from tkd import runstate
from tkd.grid.status import status

DEMO = [str(REPO / "config.yaml"), str(REPO / "workflow" / "demo.yaml")]


LIVE = []


def fake_results(tmp_path, done, failed=(), running=(), interrupted=(), gpu=1):
    """A results folder of the demo grid in which the runs of ``done`` have finished (a benchmark
    file of 3600 s each), ``failed`` recorded an error, ``running`` are marked running by this very
    (live) process, and ``interrupted`` hold a resume state and no live process."""
    results = tmp_path / "results"
    override = tmp_path / "site.yaml"
    override.write_text(yaml.safe_dump({"results": str(results), "archs": {"resnet8_tiny_cifar": {
        "recipe": "demo", "resources": {"gpu": gpu, "runtime": 10, "mem_mb": 2000}}}}))
    config = load(DEMO + [str(override)])
    for run in done:
        d = layout.run_path(results, run)
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"train_seconds": 1000.0}))
        bench = results / layout.TRAIN_BENCHMARK.format(**run)
        bench.parent.mkdir(parents=True, exist_ok=True)
        bench.write_text("s\th:m:s\tmax_rss\n3600.0\t1:00:00\t100\n")
    for run, error in failed:
        layout.run_path(results, run).mkdir(parents=True)
        runstate.failed(layout.run_path(results, run), error)
    for run in running:
        layout.run_path(results, run).mkdir(parents=True)
        context = runstate.running(layout.run_path(results, run))
        context.__enter__()  # this process is the run: alive while the test runs
        LIVE.append(context)  # kept, or its clean-up would run when it is collected
    for run in interrupted:
        state = layout.resume_path(layout.run_path(results, run))
        state.parent.mkdir(parents=True)
        state.write_bytes(b"state")
    return config, [str(override)]


def run(method, seed, gen):
    return dict(dataset="synthetic", arch="resnet8_tiny_cifar", method=method, seed=seed, generation=gen)


def test_status_counts_states_hours_and_what_is_left(tmp_path):
    from tkd.errors import SpecError

    config, override = fake_results(
        tmp_path, done=[run("ce", 0, 0), run("ce", 0, 1), run("ce", 1, 0)],
        failed=[(run("cp", 0, 0), RuntimeError("CUDA out of memory")),
                (run("ls", 0, 0), SpecError("data set 'synthetic' is not there"))],
        running=[run("ce", 1, 1)], interrupted=[run("tsd", 0, 0)])
    table, failed = status(config)
    ce = table.set_index("method").loc["ce"]
    assert (ce.done, ce.running, ce.failed, ce.pending, ce.total) == (3, 1, 0, 2, 6)
    assert ce.gpu_hours == pytest.approx(3.0)
    per_run = 1.0  # GPU-hours of each finished resnet8_tiny_cifar run
    assert ce.left_estimate == pytest.approx(3 * per_run)
    assert {f["method"]: f["error"] for f in failed if f["state"] == "failed"} == {
        "cp": "RuntimeError: CUDA out of memory", "ls": "SpecError: data set 'synthetic' is not there"}
    assert table.set_index("method").loc["tsd"].interrupted == 1
    out = tkd("status", "--configfile", "workflow/demo.yaml", *override)  # every state but queued, in 100 columns
    assert out.returncode == 0 and not too_wide(out.stdout, tmp_path), too_wide(out.stdout, tmp_path)
    header = next(line.split() for line in out.stdout.splitlines() if line.startswith("method "))
    assert header == ["method", "done", "running", "intr.", "failed", "pending", "total", "GPU-h", "left", "(est.)"]
    assert "intr.: interrupted" in out.stdout and "failed: synthetic/resnet8_tiny_cifar/cp/seed0/gen0" in out.stdout


@pytest.mark.slow  # a process killed
def test_a_killed_run_is_interrupted_and_a_deleted_one_pending(tmp_path, synthetic_npz):
    """A training process killed outright leaves its heartbeat behind: its pid is gone, so the run
    is interrupted, not running; a run whose directory was deleted (its log kept) is pending."""
    import signal
    import subprocess
    import sys

    import yaml

    from helpers import REPO, tiny_spec
    from tkd.runstate import state_of

    out = tmp_path / "gen0"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(synthetic_npz, out, epochs=50, threads=1)))
    proc = subprocess.Popen([sys.executable, "-m", "tkd", "train", str(spec)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("epoch 2/50"):  # the state of epoch 1 is saved
            break
    assert state_of(out)[0] == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state, detail = state_of(out)
    assert state == "interrupted" and "is gone" in detail and "resume state saved" in detail, detail
    shutil.rmtree(out)
    assert state_of(out) == ("pending", "")


def test_status_cli_on_a_fresh_folder_and_fast_on_the_full_grid(tmp_path):
    out = tkd("status", "--configfile", "workflow/demo.yaml", "--results", str(tmp_path / "none"))  # as snakemake
    assert out.returncode == 0, out.stderr
    assert "0 done, 0 running, 0 queued, 0 interrupted, 0 failed, 24 pending, of 24" in out.stdout
    assert "unknown" in out.stdout
    config = load([str(REPO / "config.yaml")])
    config["results"] = str(tmp_path / "paper")
    t0 = time.perf_counter()
    table, _ = status(config)
    assert table.total.sum() == 360 and time.perf_counter() - t0 < 5.0


@pytest.mark.slow
def test_tables_of_a_partly_finished_grid(demo, tmp_path):
    """The demo's results with some runs taken away: tables, figures and claims of what is there,
    every page marked partial, every cell with its n."""
    results = tmp_path / "results"
    shutil.copytree(demo[0], results, ignore=shutil.ignore_patterns("summary"))
    for method, seed, gen in (("cp", 1, 1), ("tsd", 1, 1), ("tsd", 2, 1)):
        shutil.rmtree(layout.run_path(results, run(method, seed, gen)))
    for name in ("eval.csv", "ensembles.csv", "transfer.csv"):  # that chain's evaluation is stale now
        layout.chain_path(results, run("tsd", 1, 0), name).unlink(missing_ok=True)
    out = tkd("tables", "--configfile", *DEMO, "--results", str(results))
    assert out.returncode == 0, out.stderr[-3000:]
    assert not too_wide(out.stdout, results), too_wide(out.stdout, results)
    partial = results / "summary" / "partial"
    md = (partial / "tables.md").read_text()
    assert md.startswith("> **PARTIAL RESULTS: 21 of 24 runs")
    assert "Partial results: 21 of 24 runs" in (partial / "tables.html").read_text()
    runs = pd.read_csv(partial / "runs.csv")
    assert len(runs) == 21
    counts = runs.groupby(["method", "generation"]).size()
    assert counts[("tsd", 1)] == 1 and counts[("cp", 1)] == 2 and counts[("ce", 1)] == 3
    assert "(n=1)" in md and "(n=2)" in md
    # a run whose chain evaluation is gone gets its measures from its own test logits
    full = pd.read_csv(demo[0] / "summary" / "runs.csv").set_index(["method", "seed", "generation"])
    tsd0 = runs.set_index(["method", "seed", "generation"]).loc[("tsd", 1, 0)]
    assert tsd0.mean_top1_prob == pytest.approx(full.loc[("tsd", 1, 0), "mean_top1_prob"])
    claims = pd.read_csv(partial / "claims.csv")
    assert "C3" in set(claims.claim)
    assert (partial / "figures" / "synthetic" / "resnet8_tiny_cifar" / "accuracy.png").stat().st_size > 1000
    assert not (results / "summary" / "runs.csv").exists(), "nothing of the complete-grid path is written"


def test_a_job_that_slurm_holds_is_queued_or_running(tmp_path):
    """The SLURM executor plugin comments each job with its rule and wildcards: a run with nothing
    on disk yet, whose job squeue lists, is queued (pending there) or running."""
    from tkd.grid.status import run_state, slurm_comment

    r = run("ce", 0, 0)
    assert slurm_comment(r) == "rule_train_wildcards_synthetic_resnet8_tiny_cifar_ce_0_0"
    assert run_state(tmp_path, r, {}, {slurm_comment(r): ("17", "PENDING")}) == ("queued", "SLURM job 17 (PENDING)")
    assert run_state(tmp_path, r, {}, {slurm_comment(r): ("17", "RUNNING")})[0] == "running"
    assert run_state(tmp_path, r, {}, {}) == ("pending", "")


def test_a_run_killed_between_its_files_is_not_finished(tmp_path):
    """A run counts for the partial tables once metrics.json, written last, is there: a run killed
    after its model and logits but before its metrics is not finished."""
    from tkd.grid.finished import finished

    config, _ = fake_results(tmp_path, done=[run("ce", 0, 0)])
    half = layout.run_path(config["results"], run("ce", 1, 0))
    half.mkdir(parents=True)
    for name, file in layout.RUN_FILES.items():
        if name != "metrics":
            (half / file).write_bytes(b"written")
    done, total = finished(config)
    assert done == [run("ce", 0, 0)] and total == 24


def test_a_folders_jobs_are_known_by_where_and_as_which_slurm_run_it_was_launched(tmp_path, monkeypatch):
    from tkd.grid.status import Launches, record_launch
    results = tmp_path / "results"
    monkeypatch.chdir(tmp_path)
    record_launch(results)  # the local executor: a directory, no SLURM run
    assert Launches.of(results) == Launches(frozenset({str(tmp_path.resolve())}))
    assert Launches.of(results).submitted(str(tmp_path), "any name")  # no names known: the directory decides
    for _ in range(2):
        record_launch(results, "run-a")
    record_launch(results, "run-b")
    launched = Launches.of(results)
    assert launched.runs == {"run-a", "run-b"} and len(launched.workdirs) == 1
    assert (results / "logs/slurm_runs.txt").read_text() == "run-a\nrun-b\n"  # each once
    assert launched.submitted(str(tmp_path), "run-b") and not launched.submitted(str(tmp_path), "run-c")
    assert not launched.submitted(str(tmp_path / "elsewhere"), "run-a")
    assert Launches.of(tmp_path / "never") == Launches(frozenset())


def test_the_slurm_run_id_is_read_only_from_the_slurm_executor():
    from types import ModuleType, SimpleNamespace

    from tkd.grid.status import slurm_run_id
    plugin = ModuleType("snakemake_executor_plugin_slurm")
    Executor = type("Executor", (), {"__module__": plugin.__name__})
    executor = Executor()
    executor.run_uuid = "1f2e"
    assert slurm_run_id(SimpleNamespace(scheduler=SimpleNamespace(_executor=executor))) == "1f2e"
    local = SimpleNamespace(run_uuid="not a slurm run")  # another executor's attribute of that name
    assert slurm_run_id(SimpleNamespace(scheduler=SimpleNamespace(_executor=local))) is None
    assert slurm_run_id(SimpleNamespace()) is None  # no scheduler yet


def test_status_asks_squeue_for_this_users_jobs_and_keeps_only_this_folders(tmp_path, monkeypatch):
    """A fake squeue on PATH (the quick loop has no SLURM): asked with --me, and a job submitted from
    another directory, or under another run's name, keeps its state but not its comment, so it is
    never taken for one of this folder's runs."""
    from tkd.grid.status import Launches, slurm_comment, slurm_jobs

    ours, elsewhere = tmp_path / "here", tmp_path / "there"
    comment = slurm_comment(run("ce", 0, 0))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path / "args.txt"}\n'
        'case " $* " in *" --me "*) ;; *) echo "99|RUNNING|/anyone|run-x|someone_elses"; esac\n'
        f'echo "11|PENDING|{ours}|run-a|{comment}"\n'
        f'echo "12|RUNNING|{elsewhere}|run-a|{comment}"\n'
        f'echo "13|RUNNING|{ours}|run-z|{comment}"\n')
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    jobs = slurm_jobs(Launches(frozenset({str(ours)}), frozenset({"run-a"})))
    assert "--me" in (tmp_path / "args.txt").read_text().split()
    assert set(jobs) == {"11", "12", "13"}, "only this user's jobs"
    assert jobs["11"] == ("PENDING", comment)
    assert jobs["12"] == ("RUNNING", "") and jobs["13"] == ("RUNNING", ""), "another folder's, another run's"
