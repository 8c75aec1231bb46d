"""The Snakemake workflow: the paper grid's DAG, parse-time config errors, data as rule outputs,
and the demo end to end (its tables, claims and HTML report)."""
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from helpers import REPO, expected_counts, job_counts, snakemake, tkd, too_wide, write_fake_cifar100


def test_paper_grid_dry_run_job_counts(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    out = snakemake("-n", "--forceall", "--config", f"results={tmp_path}/results")
    assert out.returncode == 0, out.stderr + out.stdout
    counts = job_counts(out.stdout)
    assert counts == expected_counts(config)
    assert counts["train"] == 4 * 5 * 3 * 6 and counts["data"] == 2, "CIFAR-100 and CIFAR-10 are rule outputs"


def train_jobs(*args):
    """(wildcards, input files) of every train job in a dry-run's job listing."""
    out = snakemake("-n", "--forceall", *args)
    assert out.returncode == 0, out.stderr
    jobs = []
    for block in out.stdout.split("rule train:")[1:]:
        fields = dict(re.findall(r"^    (\w+): (.*)$", block.split("\n[")[0], re.M))
        wildcards = dict(kv.split("=") for kv in fields["wildcards"].split(", "))
        jobs.append((wildcards, fields.get("input", "").split(", ")))
    return jobs


def test_each_student_depends_on_its_own_teacher_and_every_run_on_its_data(tmp_path):
    results = f"{tmp_path}/results"
    jobs = train_jobs("--config", f"results={results}")
    assert len(jobs) == 4 * 5 * 3 * 6
    students = 0
    for w, inputs in jobs:
        assert f"{results}/data/cifar100.json" in inputs, "no training before the data is found"
        gen = int(w["generation"])
        models = [f for f in inputs if f.endswith("model.pt")]
        if gen == 0:
            assert models == [], "a patriarch has no teacher"
            continue
        students += 1
        teacher = f"{results}/{w['dataset']}/{w['arch']}/{w['method']}/seed{w['seed']}/gen{gen - 1}/model.pt"
        assert models == [teacher]
    assert students == 4 * 5 * 3 * 5


def write_override(tmp_path, text):
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return str(path)


SLOW = pytest.mark.slow  # the same path as the first two; tkd.grid.config is unit-tested in tests/test_config.py


@pytest.mark.parametrize("override,needle", [
    ("grid:\n- {dataset: cifar100, archs: [resnet57_cifar], methods: [ce], seeds: [0], generations: 1}\n",
     "resnet57_cifar"),
    ("grid:\n- {dataset: cifar100, archs: [resnet56_cifar], methods: [tsd-0.8], seeds: [0], generations: 1}\n",
     "grid[0].methods: 'tsd-0.8' is not defined in methods"),
    pytest.param("methods:\n  tsd-0.6: {loss: tsd, eta: 1.5}\n", "eta", marks=SLOW),
    pytest.param("grid:\n- {dataset: cifar100, archs: [resnet56_cifar], methods: [ce], seeds: [0], generations: -1}\n",
                 "generations", marks=SLOW),
    pytest.param("recipes:\n  resnet_cifar: {epochs: 164, batch_size: 128, lr: 0.1, wieght_decay: 0.0005}\n",
                 "wieght_decay", marks=SLOW),
    pytest.param("methods:\n  ce: {loss: ce, epsilon: 0.1}\n", "epsilon", marks=SLOW),
    pytest.param("datasets:\n  ilsvrc2012: {kind: imagefolder, path: null, eval_resize: 200}\n",
                 "datasets.ilsvrc2012.eval_resize: 200 is smaller than image_size 224", marks=SLOW),
    pytest.param("execution: {compile: sometimes}\n", "sometimes", marks=SLOW),
])
def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path, override, needle):
    out = snakemake("-n", "--configfile", write_override(tmp_path, override))
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert needle in text, text[-2000:]
    assert "Job stats" not in text, "no DAG is built from a bad config"


@pytest.mark.parametrize("word", ["off", pytest.param("yes", marks=pytest.mark.slow)])  # the rest: tests/test_spec.py
def test_on_off_words_as_users_write_them(tmp_path, word):
    """YAML reads off/no as false and on/yes as true: the config accepts them all."""
    out = snakemake("-n", "--configfile", write_override(tmp_path, f"execution:\n  compile: {word}\n"),
                    "--config", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow
def test_missing_data_stops_once_before_any_training(tmp_path):
    """config.yaml as shipped, no CIFAR-100 on disk: the data rule fails once, naming the folder to
    fill and the keys to set, and no training job starts."""
    out = snakemake("--cores", "2", "--config", f"results={tmp_path}/results", timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "rule train" not in text and "localrule train" not in text, "no training job was started"
    assert not (tmp_path / "results" / "logs" / "train").exists()
    log = (tmp_path / "results" / "logs" / "data" / "cifar100.log").read_text()
    assert "data/cifar100" in log and "datasets.cifar100.path" in log and "datasets.cifar100.download: true" in log
    assert "Traceback" not in log and log.count("tkd: error:") == 1


@pytest.mark.slow
def test_data_on_disk_is_found_checked_and_described(tmp_path):
    """A (hand-made) CIFAR-100 in torchvision's layout passes the data rule; its manifest says what was found."""
    write_fake_cifar100(tmp_path / "cifar")
    override = write_override(tmp_path, yaml.safe_dump({
        "datasets": {"cifar100": {"kind": "cifar100", "path": str(tmp_path / "cifar"), "checksums": False}},
        "transfer": {"enabled": False}}))
    out = snakemake("--cores", "1", "--configfile", "config.yaml", override, "--config", f"results={tmp_path}/r",
                    "--until", "data", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    manifest = json.loads((tmp_path / "r" / "data" / "cifar100.json").read_text())
    assert (manifest["train_images"], manifest["test_images"], manifest["classes"]) == (200, 100, 100)


@pytest.mark.slow
def test_paper_grid_dry_run_through_the_slurm_profile(tmp_path):
    """Works on a machine without SLURM: a dry-run submits nothing."""
    out = snakemake("-n", "--profile", "slurm", "--config", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "gpu=1, cpus_per_gpu=8" in out.stdout and "runtime=1440" in out.stdout  # DenseNet-BC-190's request


@pytest.mark.slow
def test_ilsvrc2012_grid_is_off_until_its_path_is_given_then_asks_for_all_gpus(tmp_path, imagefolder):
    """The ResNet-18 jobs: each one SLURM job with every GPU of its request (DDP inside)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["datasets"]["ilsvrc2012"]["path"] is None
    assert all(w["dataset"] != "ilsvrc2012" for w, _ in train_jobs("--config", f"results={tmp_path}/off"))

    override = write_override(tmp_path, yaml.safe_dump(
        {"datasets": {"ilsvrc2012": {"kind": "imagefolder", "path": str(imagefolder)}}}))
    out = snakemake("-n", "--forceall", "--profile", "slurm", "--configfile", "config.yaml", override,
                    "--config", f"results={tmp_path}/on")
    assert out.returncode == 0, out.stderr[-2000:]
    config["datasets"]["ilsvrc2012"]["path"] = str(imagefolder)
    counts = job_counts(out.stdout)
    assert counts == expected_counts(config)
    request = config["archs"]["resnet18"]["resources"]
    assert request["gpu"] > 1
    blocks = [b.split("\n[")[0] for b in out.stdout.split("rule train:")[1:]]
    blocks = [b for b in blocks if "dataset=ilsvrc2012" in b]
    assert len(blocks) == counts["train"] - 4 * 5 * 3 * 6 == 2 * 1 * 4
    for block in blocks:
        assert f"gpu={request['gpu']}, cpus_per_gpu={request['cpus_per_gpu']}" in block
    # what the SLURM executor plugin turns that into
    from types import SimpleNamespace

    from snakemake_executor_plugin_slurm.utils import set_gres_string

    class Resources(dict):
        __getattr__ = dict.get

    job = SimpleNamespace(resources=Resources(gpu=request["gpu"], cpus_per_gpu=request["cpus_per_gpu"]))
    assert set_gres_string(job).strip() == f"--gpus={request['gpu']}"


def test_lint_is_clean():
    out = snakemake("--lint")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr


def test_parse_path_imports_no_torch(tmp_path):
    """A dry-run of the paper grid must not pay for importing torch (or timm)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--forceall",
                          "--config", f"results={tmp_path}"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "snakemake" in imported and "tkd.grid" in imported, "the probe sees the dry-run's imports"
    assert "torch" not in imported and "timm" not in imported


@pytest.mark.slow
def test_demo_runs_end_to_end(demo):
    results, out = demo
    runs = pd.read_csv(results / "summary" / "runs.csv")
    demo_cfg = yaml.safe_load((REPO / "workflow/demo.yaml").read_text())
    assert len(runs) == expected_counts(demo_cfg)["train"]
    assert set(runs.method) == {"ce", "ls", "cp", "tsd"}
    for column in ("spec_lr", "spec_eta", "test_top1", "test_top5", "test_top1_a", "test_top1_b", "wall_seconds",
                   "device", "secondary_in_superclass", "mean_top1_prob", "dist_c", "dist_s"):
        assert column in runs.columns, column
    assert "Test top-1 accuracy" in out.stdout and "\nC3 " in out.stdout, "the demo ends with its table and claims"
    assert not too_wide(out.stdout, results), too_wide(out.stdout, results)  # what the demo prints fits a terminal
    assert "claim rows need data sets or architectures this grid does not run" in " ".join(out.stdout.split())
    assert (results / "summary" / "summary.md").read_text().count("| tsd ") == 1


@pytest.mark.slow
def test_the_schedule_simulation_predicts_the_demo(demo):
    """The demo's jobs, each as long as its own benchmark file says, scheduled on this machine's
    cores as Snakemake ran them: within 25 % of the time the run took."""
    import os

    from tkd.grid.config import load
    from tkd.statistics.schedule import replay

    results, out = demo
    config = load(["workflow/demo.yaml"])
    config["results"] = str(results)
    predicted = replay(config, os.cpu_count(), local=True) * 3600
    assert 0.75 <= predicted / out.seconds <= 1.25, (predicted, out.seconds)


@pytest.mark.slow
def test_the_demo_means_something(demo, tmp_path):
    """What the README promises of the demo: every run learns, seeds agree, and the tolerant
    patriarch is visibly less confident than the one-hot one."""
    results, _ = demo
    runs = pd.read_csv(results / "summary" / "runs.csv")
    assert runs.test_top1.min() >= 60.0, runs.groupby(["method", "generation"]).test_top1.min()
    spread = runs.groupby(["method", "generation"]).test_top1.std()
    assert spread.max() <= 8.0, spread
    conf = runs[runs.generation == 0].groupby("method").mean_top1_prob.mean()
    assert conf["tsd"] < conf["ce"] - 0.1, conf
    claims = pd.read_csv(results / "summary" / "paper" / "claims.csv")
    c1 = claims[(claims.claim == "C1") & (claims.metric == "mean_top1_prob")].iloc[0]
    assert c1.verdict == "supported", c1
    # `tkd claims` on the demo's runs.csv gives the workflow's verdicts, judged as the same family
    runs_csv = str(results / "summary" / "runs.csv")
    wrong = tkd("claims", runs_csv)  # config.yaml's methods: the demo's table needs its config, and says so
    assert wrong.returncode == 2 and "--configfile workflow/demo.yaml" in wrong.stderr, wrong.stderr
    out = tkd("claims", runs_csv, "--configfile", "workflow/demo.yaml", "-o", str(tmp_path / "claims.csv"))
    assert out.returncode == 0, out.stderr
    again = pd.read_csv(tmp_path / "claims.csv")
    assert again.verdict.tolist() == claims.verdict.tolist() and "Verdicts judged as a family" in out.stdout


@pytest.mark.slow
def test_transfer_probe_end_to_end(tmp_path):
    """The demo runs no transfer probe (a process per chain costs it a minute); a one-chain grid
    does: features of both generations on a second synthetic task, the table, the figure, C8."""
    override = write_override(tmp_path, yaml.safe_dump({
        "datasets": {"synthetic-transfer": {"kind": "synthetic", "seed": 1, "train_per_class": 8,
                                            "test_per_class": 4}},
        "transfer": {"enabled": True, "dataset": "synthetic-transfer"},
        "recipes": {"demo": {"epochs": 2}},
        "grid": [{"dataset": "synthetic", "archs": ["resnet8_tiny_cifar"], "methods": ["ce", "tsd"], "seeds": [0],
                  "generations": 1}]}))
    results = tmp_path / "results"
    out = snakemake("--cores", "2", "--configfile", "workflow/demo.yaml", override, "--config", f"results={results}",
                    timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    probes = pd.read_csv(results / "summary" / "transfer.csv")
    assert len(probes) == 4 and set(probes.generation) == {0, 1} and (probes.probe_top1 > 1.0).all()
    assert set(probes.feature_dim) == {32}, "the half-width ResNet-8's penultimate features"
    figure = results / "summary" / "paper" / "figures" / "synthetic" / "resnet8_tiny_cifar" / "transfer.png"
    assert figure.stat().st_size > 1000
    assert "Transferred features" in (results / "summary" / "paper" / "tables.md").read_text()
    c8 = pd.read_csv(results / "summary" / "paper" / "claims.csv").query("claim == 'C8'").iloc[0]
    assert c8.verdict == "inconclusive" and c8.n == 1


@pytest.mark.slow
def test_demo_changed_parameter_reruns_exactly_the_affected_jobs(demo, tmp_path):
    results, _ = demo
    base = ["-n", "--configfile", "workflow/demo.yaml"]  # an override file follows demo.yaml in the same flag
    same = snakemake(*base, "--config", f"results={results}")
    assert "Nothing to be done" in same.stdout + same.stderr, same.stdout[-2000:]
    demo_cfg = yaml.safe_load((REPO / "workflow/demo.yaml").read_text())
    seeds, gens = len(demo_cfg["grid"][0]["seeds"]), demo_cfg["grid"][0]["generations"]
    paper = {"cell_tables": 1, "aggregate": 1, "paper_tables": 1, "paper_figures": 1, "compute_figure": 1, "all": 1}
    # a student parameter of one method: its students rerun, its patriarchs do not
    tsd = dict(demo_cfg["methods"]["tsd"], lam=0.5)
    out = snakemake(*base, write_override(tmp_path, yaml.safe_dump({"methods": {"tsd": tsd}})),
                    "--config", f"results={results}")
    chains = {"evaluate": seeds}  # the demo runs no transfer probe
    assert job_counts(out.stdout) == {"train": seeds * gens, **chains, **paper, "total": seeds * gens + seeds + len(paper)}
    # a patriarch parameter: the whole chain of that method reruns
    out = snakemake(*base, write_override(tmp_path, "methods:\n  cp: {loss: cp, beta: 0.2}\n"),
                    "--config", f"results={results}")
    assert job_counts(out.stdout) == {"train": seeds * (gens + 1), **chains, **paper,
                                      "total": seeds * (gens + 1) + seeds + len(paper)}
    # how a job runs is no parameter: another device reruns nothing
    out = snakemake(*base, write_override(tmp_path, "execution: {device: auto, threads: 2, compile: off}\n"),
                    "--config", f"results={results}")
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_demo_renders_claims_paper_tables_figures_and_html_report(demo, tmp_path):
    results, _ = demo
    paper = results / "summary" / "paper"
    md = (paper / "tables.md").read_text()
    assert md.startswith("# The paper's claims") and "## synthetic / resnet8_tiny_cifar" in md
    assert "| best | best on test |" in md and "| ens 0-" in md
    assert r"\toprule" in (paper / "tables.tex").read_text()
    comparison = pd.read_csv(paper / "comparison.csv")
    assert set(comparison.verdict) <= {"not run", "not compared"}, "the paper reports nothing on synthetic data"
    claims = pd.read_csv(paper / "claims.csv")
    assert set(claims.verdict) <= {"supported", "contradicted", "inconclusive", "not run"}
    ran = claims[(claims.dataset == "synthetic") & (claims.metric != "probe_top1")]
    assert len(ran) >= 4 and (ran.verdict != "not run").all(), "every claim the demo's grid can test is tested"
    for name in ("accuracy", "tolerance", "secondary", "ensembles"):
        for ext in ("png", "svg"):
            f = paper / "figures" / "synthetic" / "resnet8_tiny_cifar" / f"{name}.{ext}"
            assert f.stat().st_size > 1000, f
    assert (paper / "compute.png").stat().st_size > 1000
    # `snakemake report` is a target that is already complete after the demo
    again = snakemake("report", "-n", "--configfile", "workflow/demo.yaml", "--config", f"results={results}")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_html_report_landing_page_in_a_real_browser(demo, tmp_path):
    """The landing page lists the metadata under their names (git commit, tkd, torch, ...), not
    docutils' parts of each value; checked in headless Chromium as a user would see it."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        assert not os.environ.get("TKD_REQUIRE_CHROMIUM"), "TKD_REQUIRE_CHROMIUM is set but Chromium is missing"
        pytest.skip("no Chromium here (.ci/run installs it)")
    results, _ = demo
    html = tmp_path / "report.html"
    out = snakemake("--report", str(html), "--configfile", "workflow/demo.yaml", "--config", f"results={results}",
                    "--report-metadata", "workflow/report/metadata.yaml")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
                          html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # the landing page's metadata list, as the report's script renders it: a heading, then its value
    items = re.findall(r'<li class="uppercase font-bold p-1">([^<]*)</li><li class="p-1">(.*?)</li>', dom, re.S)
    headings = [name for name, _ in items]
    assert headings == ["git commit", "git dirty", "tkd", "torch", "timm", "snakemake"], headings
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert commit in items[0][1], items[0]
    assert not {"whole", "encoding", "errors", "version"} & {h.lower() for h in headings}
    assert "Tables" in dom and "Figures" in dom


def test_preflight_builds_the_train_rules_exact_request():
    from tkd.grid.slurm import sbatch_args, training_requests

    reqs = {r["arch"]: r for r in training_requests([str(REPO / "config.yaml")])}
    assert set(reqs) == {"resnet56_cifar", "resnet110_cifar", "densenet_bc_100_cifar", "densenet_bc_190_cifar"}
    args = sbatch_args(reqs["densenet_bc_190_cifar"], "gpu", "lab", "a100")
    assert args == ["-t", "1440", "--mem", "32000", "--gpus=a100:1", "--cpus-per-gpu=8", "-p", "gpu", "-A", "lab"]
    on = REPO / "tests" / "data" / "ilsvrc_on.yaml"
    reqs = {r["arch"]: r for r in training_requests([str(REPO / "config.yaml"), str(on)])}
    assert "--gpus=8" in sbatch_args(reqs["resnet18"], None, None, None), "ILSVRC2012 on: the 8-GPU DDP job"
    demo = training_requests([str(REPO / "config.yaml"), str(REPO / "workflow/demo.yaml")])
    assert [r["gpu"] for r in demo] == [0] and "--cpus-per-task=1" in sbatch_args(demo[0], None, None, None)


@pytest.mark.parametrize("args,needle", [
    (["make-synthetic", "{tmp}/never.npz", "--train-per-class", "0"], "train_per_class"),
    (["slurm-check", "--configfile", "{tmp}/nonexistent.yaml"], "--configfile '{tmp}/nonexistent.yaml'"),
])
def test_cli_bad_options_are_one_clear_error(tmp_path, args, needle):
    args, needle = [a.format(tmp=tmp_path) for a in args], needle.format(tmp=tmp_path)
    out = subprocess.run([sys.executable, "-m", "tkd", *args], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("tkd: error:") and needle in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "never.npz").exists()
