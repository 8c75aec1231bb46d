"""The Snakemake workflow: the paper grid's DAG, parse-time config errors, and the demo end to end."""
import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake



def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run."""
    table = output.split("Job stats:")[1]
    counts = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def expected_counts(config: dict) -> dict[str, int]:
    datasets_ = config["datasets"]
    # a block runs when enabled and its data set has a path (the ILSVRC2012 one is null until set)
    blocks = [b for b in config["grid"] if b.get("enabled", True) and datasets_[b["dataset"]].get("path", "") is not None]
    chains_of = lambda bs: sum(len(b["archs"]) * len(b["methods"]) * len(b["seeds"]) for b in bs)
    runs = sum(len(b["archs"]) * len(b["methods"]) * len(b["seeds"]) * (b["generations"] + 1) for b in blocks)
    datasets = {b["dataset"] for b in blocks}
    cells = {(b["dataset"], a) for b in blocks for a in b["archs"]}
    counts = {"train": runs, "evaluate": chains_of(blocks), "aggregate": 1, "all": 1, "paper_tables": 1,
              "paper_figures": len(cells), "compute_figure": 1}
    if config.get("transfer", {}).get("enabled", True):  # the probe is for 32x32 sources only
        counts["transfer"] = chains_of([b for b in blocks if datasets_[b["dataset"]]["kind"] != "imagefolder"])
        datasets.add(config.get("transfer", {}).get("dataset", "cifar10"))
    synthetic = [d for d in datasets if datasets_[d]["kind"] == "synthetic"]
    if synthetic:
        counts["synthetic_data"] = len(synthetic)
    counts["total"] = sum(counts.values())
    return counts


def test_paper_grid_dry_run_job_counts(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    out = snakemake("-n", "--forceall", "--config", f"results={tmp_path}/results")
    assert out.returncode == 0, out.stderr + out.stdout
    counts = job_counts(out.stdout)
    assert counts == expected_counts(config)
    assert counts["train"] == 4 * 5 * 3 * 6


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


def test_each_student_depends_on_its_own_teacher(tmp_path):
    results = f"{tmp_path}/results"
    jobs = train_jobs("--config", f"results={results}")
    assert len(jobs) == 4 * 5 * 3 * 6
    students = 0
    for w, inputs in jobs:
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


@pytest.mark.parametrize("override,needle", [
    ("grid:\n- {dataset: cifar100, archs: [resnet57_cifar], methods: [ce], seeds: [0], generations: 1}\n",
     "resnet57_cifar"),
    ("methods:\n  tsd-0.6: {loss: tsd, eta: 1.5}\n", "eta"),
    ("grid:\n- {dataset: cifar100, archs: [resnet56_cifar], methods: [ce], seeds: [0], generations: -1}\n",
     "generations"),
    ("grid:\n- {dataset: cifar100, archs: [resnet56_cifar], methods: [tsd-0.8], seeds: [0], generations: 1}\n",
     "grid[0].methods: 'tsd-0.8' is not defined in methods"),
    ("recipes:\n  resnet_cifar: {epochs: 164, batch_size: 128, lr: 0.1, wieght_decay: 0.0005}\n", "wieght_decay"),
    ("methods:\n  ce: {loss: ce, epsilon: 0.1}\n", "epsilon"),
    ("datasets:\n  ilsvrc2012: {kind: imagefolder, path: null, eval_resize: 200}\n",
     "datasets.ilsvrc2012.eval_resize: 200 is smaller than image_size 224"),
])
def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path, override, needle):
    out = snakemake("-n", "--configfile", write_override(tmp_path, override))
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert needle in text, text[-2000:]
    assert "Job stats" not in text, "no DAG is built from a bad config"


def test_paper_grid_dry_run_through_the_slurm_profile(tmp_path):
    """Works on a machine without SLURM: a dry-run submits nothing."""
    out = snakemake("-n", "--profile", "slurm", "--config", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "gpu=1, cpus_per_gpu=8" in out.stdout and "runtime=1440" in out.stdout  # DenseNet-BC-190's request


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
    assert "snakemake" in imported, "the probe sees the dry-run's imports"
    assert "torch" not in imported and "timm" not in imported


def test_dry_run_benchmark_compares_like_with_like():
    """benchmarks/dryrun.py: every bare Snakefile has the paper grid's jobs (it exits non-zero if not)."""
    out = subprocess.run([sys.executable, "benchmarks/dryrun.py", "--repeats", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["jobs"] == expected_counts(yaml.safe_load((REPO / "config.yaml").read_text()))["total"]
    assert {"ratio_shell", "ratio_script", "ratio_directives"} <= set(result)


def test_demo_runs_end_to_end(demo):
    results, out = demo
    runs = pd.read_csv(results / "summary" / "runs.csv")
    demo_cfg = yaml.safe_load((REPO / "workflow/demo.yaml").read_text())
    assert len(runs) == expected_counts(demo_cfg)["train"] == 24
    assert set(runs.method) == {"ce", "ls", "cp", "tsd"} and set(runs.generation) == {0, 1, 2}
    for column in ("spec_lr", "spec_eta", "test_top1", "test_top5", "wall_seconds", "device",
                   "secondary_in_superclass", "mean_top1_prob", "dist_c", "dist_s"):
        assert column in runs.columns, column
    assert runs.test_top1.min() > 5.0, "every demo model learns something (chance is 1 %)"
    assert "Test top-1 accuracy" in out.stdout, "the demo ends by printing its summary"
    assert (results / "summary" / "summary.md").read_text().count("| tsd ") == 1


def test_demo_changed_parameter_reruns_exactly_the_affected_jobs(demo, tmp_path):
    results, _ = demo
    base = ["-n", "--configfile", "workflow/demo.yaml"]  # an override file follows demo.yaml in the same flag
    same = snakemake(*base, "--config", f"results={results}")
    assert "Nothing to be done" in same.stdout + same.stderr, same.stdout[-2000:]
    # a student parameter of one method: its students rerun, its patriarchs do not
    override = write_override(tmp_path, "methods:\n  tsd: {loss: tsd, eta: 0.6, k: 5, lam: 0.5}\n")
    out = snakemake(*base, override, "--config", f"results={results}")
    paper = {"aggregate": 1, "paper_tables": 1, "paper_figures": 1, "compute_figure": 1, "all": 1}
    assert job_counts(out.stdout) == {"train": 4, "evaluate": 2, "transfer": 2, **paper, "total": 13}
    # a patriarch parameter: the whole chain of that method reruns
    override = write_override(tmp_path, "methods:\n  cp: {loss: cp, beta: 0.2}\n")
    out = snakemake(*base, override, "--config", f"results={results}")
    assert job_counts(out.stdout) == {"train": 6, "evaluate": 2, "transfer": 2, **paper, "total": 15}
    rerun = [json.loads(p.read_text())["spec_digest"] for p in results.glob("synthetic/*/cp/*/gen0/metrics.json")]
    assert len(rerun) == 2  # the dry-runs touched nothing


def test_demo_renders_paper_tables_figures_and_html_report(demo, tmp_path):
    results, _ = demo
    paper = results / "summary" / "paper"
    md = (paper / "tables.md").read_text()
    assert "## synthetic / resnet8_tiny_cifar" in md and "| tsd |" in md
    assert "| ens 0-2 | ens last 2 | ens last 3 |" in md
    ens = pd.read_csv(results / "summary" / "ensembles.csv")
    assert len(ens) == 8 * (3 + 2)  # 8 chains: ensembles 0-0, 0-1, 0-2, last 2, last 3
    assert "no interval" not in md.split("# Reported")[0], "two seeds give an interval"
    assert r"\toprule" in (paper / "tables.tex").read_text()
    comparison = pd.read_csv(paper / "comparison.csv")
    assert set(comparison.verdict) <= {"not run", "not compared"}, "the paper reports nothing on synthetic data"
    for name in ("accuracy", "tolerance", "secondary", "ensembles"):
        for ext in ("png", "svg"):
            f = paper / "figures" / "synthetic" / "resnet8_tiny_cifar" / f"{name}.{ext}"
            assert f.stat().st_size > 1000, f
    assert (paper / "compute.png").stat().st_size > 1000
    # `snakemake report` is a target that is already complete after the demo
    again = snakemake("report", "-n", "--configfile", "workflow/demo.yaml", "--config", f"results={results}")
    assert "Nothing to be done" in again.stdout + again.stderr
    html = tmp_path / "report.html"
    out = snakemake("--report", str(html), "--configfile", "workflow/demo.yaml", "--config", f"results={results}",
                    "--report-metadata", "workflow/report/metadata.yaml")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = html.read_text()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    for needle in ("Tables", "Figures", "Compute", "patriarch tolerance", commit):
        assert needle in text, needle


def test_preflight_builds_the_train_rules_exact_request():
    from tkd.slurm import sbatch_args, training_requests

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
    (["make-synthetic", "/tmp/never.npz", "--train-per-class", "0"], "train_per_class"),
    (["slurm-check", "--configfile", "/nonexistent/config.yaml"], "--configfile '/nonexistent/config.yaml'"),
])
def test_cli_bad_options_are_one_clear_error(args, needle):
    out = subprocess.run([sys.executable, "-m", "tkd", *args], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("tkd: error:") and needle in out.stderr and "Traceback" not in out.stderr
