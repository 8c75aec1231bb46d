"""From run directories to ``runs.csv``: one tidy row per run, built with pandas."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

KEYS = ("dataset", "arch", "method", "seed", "generation")


def run_dir(results: Path, run: dict) -> Path:
    return Path(results) / run["dataset"] / run["arch"] / run["method"] / f"seed{run['seed']}" / f"gen{run['generation']}"


def benchmark_file(results: Path, run: dict) -> Path:
    return (Path(results) / "benchmarks" / "train" / run["dataset"] / run["arch"] / run["method"]
            / f"seed{run['seed']}" / f"gen{run['generation']}.tsv")


def collect_runs(runs: list[dict], results: str | Path) -> pd.DataFrame:
    """Every spec field (``spec_*``), metric, evaluation measure, wall time and device, per run."""
    rows = []
    for run in runs:
        d = run_dir(results, run)
        row = {k: run[k] for k in KEYS}
        spec = yaml.safe_load((d / "spec.yaml").read_text())
        params = spec.pop("loss_params", None) or {}
        row.update({f"spec_{k}": v for k, v in spec.items() if k != "out_dir"})
        row.update({f"spec_{k}": v for k, v in params.items()})
        row.update(json.loads((d / "metrics.json").read_text()))
        evals = pd.read_csv(d.parent / "eval.csv").set_index("generation")
        evaluation = evals.loc[int(run["generation"])].to_dict()
        row.update({k: v for k, v in evaluation.items() if k not in ("top1", "top5", "k")})
        row["secondary_k"] = int(evaluation["k"])
        prov = json.loads((d / "provenance.json").read_text())
        row.update(device_name=prov["device_name"], host=prov["host"], git_commit=prov["git_commit"],
                   slurm_job_id=prov["slurm_job_id"])
        bench = benchmark_file(results, run)
        if bench.is_file():
            b = pd.read_csv(bench, sep="\t")
            row.update(wall_seconds=float(b["s"].iloc[-1]), max_rss_mb=float(b["max_rss"].iloc[-1]))
        rows.append(row)
    return pd.DataFrame(rows)


def collect_chains(chains: list, results: str | Path, name: str) -> pd.DataFrame:
    """All chains' ``name`` (ensembles.csv, transfer.csv) in one tidy table, keyed by dataset, arch,
    method and seed."""
    frames = []
    for dataset, arch, method, seed in chains:
        f = Path(results) / dataset / arch / method / f"seed{seed}" / name
        frames.append(pd.read_csv(f).assign(dataset=dataset, arch=arch, method=method, seed=seed))
    df = pd.concat(frames, ignore_index=True)
    keys = ["dataset", "arch", "method", "seed"]
    return df[keys + [c for c in df.columns if c not in keys]]


def summary_table(runs: pd.DataFrame, metric: str = "test_top1") -> pd.DataFrame:
    """mean ± std (n) of ``metric`` over seeds: rows = (dataset, arch, method), columns = generation."""
    g = runs.groupby(["dataset", "arch", "method", "generation"])[metric].agg(["mean", "std", "count"])
    cell = g.apply(lambda r: f"{r['mean']:.2f} ± {r['std']:.2f} (n={int(r['count'])})" if r["count"] > 1
                   else f"{r['mean']:.2f} (n=1)", axis=1)
    table = cell.unstack("generation")
    table.columns = [f"gen {c}" for c in table.columns]
    return table


def summary_markdown(runs: pd.DataFrame) -> str:
    parts = ["# Test top-1 accuracy (%), mean ± std over seeds\n"]
    for (dataset, arch), part in runs.groupby(["dataset", "arch"]):
        table = summary_table(part).droplevel([0, 1])
        parts.append(f"## {dataset} / {arch}\n\n{table.to_markdown()}\n")
    return "\n".join(parts)
