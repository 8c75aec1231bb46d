"""`snakemake --profile slurm` against a real single-node SLURM (tests/slurm/cluster.sh up).

.ci/run starts the cluster and sets TKD_REQUIRE_SLURM=1, so in CI these tests fail,
rather than skip, when SLURM is not there.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from helpers import REPO, snakemake, too_wide
from tkd import layout


def _slurm_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


pytestmark = pytest.mark.slow

if not _slurm_up():
    if os.environ.get("TKD_REQUIRE_SLURM"):
        raise RuntimeError("TKD_REQUIRE_SLURM is set but no SLURM controller answers: tests/slurm/cluster.sh up")
    pytest.skip("no SLURM controller here (tests/slurm/cluster.sh up starts one)", allow_module_level=True)

# The small override a local cluster needs on top of --profile slurm: no accounting
# (so squeue polls), no account, a short wait before the first status check.
LOCAL = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2", "--slurm-no-account"]
FAKE_GPU = """
archs:
  resnet8_tiny_cifar:
    recipe: {recipe}
    resources: {{gpu: 1, cpus_per_gpu: 1, runtime: 10, mem_mb: 2000}}
"""


def _schedule_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location("schedule_check", REPO / "benchmarks" / "schedule_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def submissions(log: str) -> dict[str, list[str]]:
    """SLURM job ids per rule, from Snakemake's log ('... submitted with SLURM jobid N (log: .../rule_X/...)')."""
    found = {}
    for jobid, rule in re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_([a-z_]+)/", log):
        found.setdefault(rule, []).append(jobid)
    return found


def test_missing_data_submits_no_training_job(tmp_path):
    """config.yaml as shipped, no CIFAR-100: the (local) data rule fails once; nothing reaches sbatch."""
    out = snakemake("--profile", "slurm", "-j", "8", "--config", f"results={tmp_path}/results", *LOCAL, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode != 0
    assert submissions(log) == {}, "no job was submitted"
    assert "datasets.cifar100.path" in (tmp_path / "results" / "logs" / "data" / "cifar100.log").read_text()
    assert log.count("Error in rule data") <= 2, "the data rule is not retried (one error each for cifar100, cifar10)"


def long_training(tmp_path, epochs=12):
    """A site file for one patriarch of ``epochs`` epochs on a (fake) GPU: long enough to catch it running."""
    override = tmp_path / "long.yaml"
    override.write_text(FAKE_GPU.format(recipe="long") + f"""
recipes:
  long: {{epochs: {epochs}, batch_size: 64, lr: 0.05}}
execution:
  eval_every: {epochs}
grid:
  - {{dataset: synthetic, archs: [resnet8_tiny_cifar], methods: [ce], seeds: [0], generations: 0}}
""")
    return override


def test_cancelled_training_is_resubmitted_and_resumes(tmp_path):
    results = tmp_path / "results"
    override = long_training(tmp_path)
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "-j", "4", "--configfile", "workflow/demo.yaml",
           str(override), "--config", f"results={results}", "--until", "train", *LOCAL]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    train_log = results / "logs/train/synthetic/resnet8_tiny_cifar/ce/seed0/gen0.log"
    deadline = time.time() + 300
    while time.time() < deadline and "epoch 3/12" not in (train_log.read_text() if train_log.exists() else ""):
        time.sleep(0.5)
    record = json.loads((results / "synthetic/resnet8_tiny_cifar/ce/seed0/gen0" / layout.RUNNING).read_text())
    running = subprocess.run(["squeue", "--me", "-h", "-t", "R", "-o", "%i"], capture_output=True,
                             text=True).stdout.split()
    assert record["slurm_job_id"] in running, "the training job runs under SLURM (other suites' jobs aside)"
    subprocess.run(["scancel", record["slurm_job_id"]], check=True)  # SIGTERM now, SIGKILL after KillWait
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-4000:]
    assert len(submissions(log)["train"]) == 2, "the global retry resubmitted it through sbatch"
    assert re.search(r"resources: .*runtime=20, .*mem_mb=4000", log), "the retry asked for more time and memory"
    text = train_log.read_text()
    resumed = re.search(r"resuming .* at epoch (\d+), step (\d+)", text)
    assert resumed and int(resumed.group(1)) >= 4, text
    assert "epoch 1/12" not in text, "nothing before the checkpoint was recomputed"
    history = pd.read_csv(results / "synthetic/resnet8_tiny_cifar/ce/seed0/gen0/history.csv")
    assert history.epoch.tolist() == list(range(1, 13))


def _check(*args):
    """``tkd slurm-check ARGS``, its paragraphs fitting 100 columns, read back unwrapped (``text``)."""
    out = subprocess.run([sys.executable, "-m", "tkd", "slurm-check", *args], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert not too_wide(out.stdout), too_wide(out.stdout)
    out.text = " ".join(out.stdout.split())
    return out


def test_preflight_passes_for_the_demo_and_names_the_status_command():
    out = _check("--configfile", "config.yaml", "workflow/demo.yaml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "--slurm-status-command squeue" in out.text  # no accounting on the test cluster
    assert "a resnet8_tiny_cifar training job can be scheduled" in out.text


def test_preflight_flags_requests_the_site_cannot_grant_and_bad_partitions():
    out = _check()  # the paper grid asks for 4-8 CPUs per GPU; the test node has 2 CPUs
    assert out.returncode == 1
    assert "a densenet_bc_190_cifar training job cannot be scheduled" in out.text
    assert "Fix: lower archs.densenet_bc_190_cifar.resources" in out.text
    out = _check("--configfile", "config.yaml", "workflow/demo.yaml", "--partition", "nonesuch")
    assert out.returncode == 1 and "partition 'nonesuch' does not exist" in out.text


def test_seeds_in_waves_through_the_slurm_profile_and_after_a_crash(demo, tmp_path):
    """Seeds on demand under --profile slurm: the first wave's trainings go through sbatch, each
    granted its (fake) GPU, the checkpoint judges them locally, the next wave is submitted; the runs
    are the local demo's, to the bit; after a crash (a run of the second wave lost, the tables gone)
    --rerun-incomplete makes just what is missing."""
    local_results, _ = demo
    results = tmp_path / "results"
    override = tmp_path / "waves.yaml"
    # a strict family (fdr 0.001) and no futility: three seeds decide nothing and stop nothing, on any
    # CPU, so the second wave is certain; this test is about SLURM, tests/test_sequential.py about when
    override.write_text(FAKE_GPU.format(recipe="demo") + yaml.safe_dump({"grid": [
        {"dataset": "synthetic", "archs": ["resnet8_tiny_cifar"], "methods": ["ce", "tsd"],
         "seeds": {"start": 3, "step": 1, "max": 4}, "generations": 0}],
        "paper": {"fdr": 0.001, "futility": 0.0}}))
    args = ["--profile", "slurm", "-j", "8", "--configfile", "workflow/demo.yaml", str(override),
            "--config", f"results={results}", *LOCAL]
    started = time.monotonic()
    out = snakemake(*args, timeout=1500)
    took = time.monotonic() - started
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    # the planner's schedule simulation, from this run's own benchmark files and the latency SLURM and
    # the executor's polling added to each job (measured on this run), predicts its length within 25 %
    check = _schedule_check()
    predicted = check.predicted(["workflow/demo.yaml", str(override)], results, 2, False,
                                *check.cluster_delays(log, results))
    assert 0.75 <= predicted / took <= 1.25, (predicted, took)
    first = json.loads((results / "summary" / "waves" / "synthetic" / "resnet8_tiny_cifar" / "wave1.json").read_text())
    assert not first["stop"] and len(first["next_runs"]) == 2, first
    jobs = submissions(log)
    # every non-local job went through sbatch (data checks, evaluation, waves, tables stay local)
    assert {k: len(v) for k, v in jobs.items()} == {"synthetic_data": 1, "train": 6 + 2}, "both waves via sbatch"
    runs = pd.read_csv(results / "summary" / "runs.csv")
    assert sorted(runs.seed.unique()) == [0, 1, 2, 3]
    assert {str(int(j)) for j in runs.slurm_job_id} == set(jobs["train"])
    # the GPU request reached SLURM: it granted a (fake) GPU to every training job
    for prov in results.glob("synthetic/*/*/*/*/provenance.json"):
        assert json.loads(prov.read_text())["cuda_visible_devices"] in ("0", "1"), prov
    show = subprocess.run(["scontrol", "show", "job", jobs["train"][0]], capture_output=True, text=True).stdout
    assert "gres/gpu" in show or "gres:gpu:1" in show, show
    # the first wave's runs are the local demo's patriarchs: same files, and (deterministic on the CPU) the same numbers
    tree = lambda root: sorted(str(p.relative_to(root)) for m in ("ce", "tsd")
                               for p in (root / "synthetic").glob(f"*/{m}/seed0/gen0/*") if p.is_file())
    assert tree(results) == tree(local_results)
    local = pd.read_csv(local_results / "summary" / "runs.csv").set_index(["method", "seed", "generation"])
    here = runs[runs.seed < 3].set_index(["method", "seed", "generation"])
    assert (here.test_top1 == local.loc[here.index].test_top1).all()
    # a crash: a second-wave run and the tables are lost
    lost = results / "synthetic/resnet8_tiny_cifar/tsd/seed3/gen0"
    shutil.rmtree(lost)
    shutil.rmtree(results / "summary" / "paper")
    out = snakemake(*args, "--rerun-incomplete", timeout=1500)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert len(submissions(log)["train"]) == 1, "only the lost run is trained again"
    assert (lost / "metrics.json").is_file() and (results / "summary" / "paper" / "claims.csv").is_file()


def test_status_tells_a_live_slurm_run_from_an_interrupted_and_a_deleted_one(tmp_path):
    """tkd status on a real cluster: a training job running under SLURM is running (its SLURM job is
    alive), the same after Snakemake was stopped and SLURM cancelled it is interrupted (its resume
    state is there), and once its directory is deleted it is pending again, its log kept."""
    from helpers import tkd

    results = tmp_path / "results"
    # 400 epochs: it is cancelled long before it could end, however loaded the machine (12 could
    # finish between the status call and the cancel)
    configs = ["--configfile", "workflow/demo.yaml", str(long_training(tmp_path, epochs=400))]
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "-j", "4", *configs, "--config",
           f"results={results}", "--until", "train", "--retries", "0", *LOCAL]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    train_log = results / "logs/train/synthetic/resnet8_tiny_cifar/ce/seed0/gen0.log"
    deadline = time.time() + 300
    while time.time() < deadline and "epoch 2/400" not in (train_log.read_text() if train_log.exists() else ""):
        time.sleep(0.5)

    def status():
        out = tkd("status", *configs, "--results", str(results))
        assert out.returncode == 0, out.stderr
        return out.stdout

    live = status()
    assert "1 running" in live, live
    proc.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs
    log = proc.communicate(timeout=300)[0]
    ours = {job for jobs in submissions(log).values() for job in jobs}  # blind to other suites' jobs
    assert ours, log[-2000:]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)  # the plugin's name for this run's jobs
    assert (results / "logs/slurm_runs.txt").read_text().split() == [run_id]
    while time.time() < deadline and ours & set(subprocess.run(["squeue", "--me", "-h", "-o", "%i"], capture_output=True,
                                                               text=True).stdout.split()):
        time.sleep(1)
    stopped = status()
    assert "0 running" in stopped and "1 interrupted" in stopped and "resume" in stopped, stopped
    shutil.rmtree(results / "synthetic/resnet8_tiny_cifar/ce/seed0/gen0")
    assert train_log.is_file()
    assert "1 pending" in status() and "0 interrupted" in status()


def test_status_sees_only_this_folders_jobs_not_a_second_folders_or_another_users(tmp_path):
    """Held SLURM jobs carry the train comment of one run of the demo grid. Submitted by this user
    from the directory the results folder was launched from, under the name of its SLURM run:
    this folder's (queued). From another directory, as another user (a lab-mate's run of the same
    grid), or from the same directory by another snakemake run (a second results folder launched
    there): the run stays pending."""
    from test_status import fake_results, run

    from tkd.grid.status import record_launch, run_states, slurm_comment

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    config, _ = fake_results(here, done=[])
    target = run("ce", 0, 0)
    os.chdir(here)
    try:
        record_launch(config["results"], "tkd-test-ours")
    finally:
        os.chdir(REPO)
    comment = slurm_comment(target)

    def submit(name, *extra):
        out = subprocess.run(["sbatch", "--parsable", "--hold", "--comment", comment, "--job-name", name, *extra,
                              "--wrap", "sleep 60"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().split(";")[0]

    jobs = [submit("tkd-test-ours", "--chdir", str(elsewhere)),
            submit("tkd-test-ours", "--chdir", str(here), "--uid", "nobody"),  # the user: --me
            submit("tkd-test-second-folder", "--chdir", str(here))]
    try:
        states = {tuple(r.values()): state for r, state, _ in run_states(config)}
        assert states[tuple(target.values())] == "pending", "other folders' and another user's jobs are not ours"
        jobs.append(submit("tkd-test-ours", "--chdir", str(here)))
        states = {tuple(r.values()): state for r, state, _ in run_states(config)}
        assert states.pop(tuple(target.values())) == "queued" and set(states.values()) == {"pending"}
    finally:
        subprocess.run(["scancel", *jobs], capture_output=True)
