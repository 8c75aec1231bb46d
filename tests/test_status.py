"""`tkd status` and `tkd tables` on a results folder with finished, failed, running and pending runs."""
import json
import shutil
import time

import pandas as pd
import pytest
import yaml

from helpers import REPO, tkd
from tkd import layout
from tkd.config import load
from tkd.status import last_error, status

DEMO = [str(REPO / "config.yaml"), str(REPO / "workflow" / "demo.yaml")]


def fake_results(tmp_path, done, failed=(), running=(), gpu=1):
    """A results folder of the demo grid in which the runs of ``done`` have finished (a benchmark
    file of 3600 s each), ``failed`` logged an error and ``running`` hold a resume state."""
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
    for run, text in failed:
        log = results / layout.TRAIN_LOG.format(**run)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    for run in running:
        state = layout.resume_path(layout.run_path(results, run))
        state.parent.mkdir(parents=True)
        state.write_bytes(b"state")
    return config, [str(override)]


def run(method, seed, gen):
    return dict(dataset="synthetic", arch="resnet8_tiny_cifar", method=method, seed=seed, generation=gen)


TRACEBACK = ("training resnet8_tiny_cifar on synthetic, generation 0 (patriarch, ce), 5 epochs, device cpu, eager\n"
             "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
             "RuntimeError: CUDA out of memory\n")


def test_status_counts_states_hours_and_what_is_left(tmp_path):
    config, _ = fake_results(
        tmp_path, done=[run("ce", 0, 0), run("ce", 0, 1), run("ce", 1, 0)],
        failed=[(run("cp", 0, 0), TRACEBACK),
                (run("ls", 0, 0), "tkd: error: data set 'synthetic' is not there\n"),
                (run("tsd", 0, 0), TRACEBACK + "training resnet8_tiny_cifar again\nepoch 1/5 ...\n")],
        running=[run("ce", 1, 1)])
    table, failed = status(config)
    ce = table.set_index("method").loc["ce"]
    assert (ce.done, ce.running, ce.failed, ce.pending, ce.total) == (3, 1, 0, 2, 6)
    assert ce.gpu_hours == pytest.approx(3.0)
    per_run = 1.0  # GPU-hours of each finished resnet8_tiny_cifar run
    assert ce.left_estimate == pytest.approx(3 * per_run)
    assert {f["method"]: f["error"] for f in failed} == {"cp": "RuntimeError: CUDA out of memory",
                                                         "ls": "tkd: error: data set 'synthetic' is not there"}
    tsd = table.set_index("method").loc["tsd"]
    assert tsd.running == 1, "a retry that started after the error is running, not failed"


def test_a_signal_is_not_a_failure(tmp_path):
    log = tmp_path / "gen0.log"
    log.write_text("training x\nsignal SIGTERM at epoch 2, step 5: resume state saved\nTraceback (most recent call "
                   "last):\n  File ...\ntkd.launch.TrainingInterrupted: stopped by SIGTERM; resume state saved\n")
    assert last_error(log) is None


def test_status_cli_on_a_fresh_folder_and_fast_on_the_full_grid(tmp_path):
    out = tkd("status", "--configfile", *DEMO, "--results", str(tmp_path / "none"))
    assert out.returncode == 0, out.stderr
    assert "0 done, 0 running, 0 failed, 24 pending, of 24" in out.stdout and "unknown" in out.stdout
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
