"""From run directories to ``runs.csv``: one tidy row per run, built with pandas.

The rules hand every path in (``records``: the run's keys and the exact files the workflow
wrote); nothing here rebuilds the results folder's layout.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from ..files import read_csv, read_json, read_yaml
from . import KEYS

CHAIN_KEYS = ["dataset", "arch", "method", "seed"]
# eval.csv columns that runs.csv takes under another name (top1/top5 come from metrics.json)
EVAL_RENAME = {f"top{k}_{h}": f"test_top{k}_{h}" for k in (1, 5) for h in ("a", "b")}


@functools.lru_cache(maxsize=64)
def _eval_table(path: str) -> pd.DataFrame:
    return read_csv(path, ("generation", "top1", "k"), "evaluation table").set_index("generation")


def run_row(record: dict) -> dict:
    """One run: every spec field (``spec_*``), metric, evaluation measure, wall time and device.

    ``record``: the run's keys and the paths ``metrics``, ``spec``, ``provenance``, ``benchmark``
    (may be missing) and ``eval`` (its chain's eval.csv), or an ``evaluation`` dict instead."""
    row = {k: record[k] for k in KEYS}
    spec = read_yaml(record["spec"], "run spec")
    params = spec.pop("loss_params", None) or {}
    row.update({f"spec_{k}": v for k, v in spec.items() if k != "out_dir"})
    row.update({f"spec_{k}": v for k, v in params.items()})
    row.update(read_json(record["metrics"], "metrics file"))
    evaluation = record.get("evaluation") or _eval_table(str(record["eval"])).loc[int(record["generation"])].to_dict()
    row.update({EVAL_RENAME.get(k, k): v for k, v in evaluation.items() if k not in ("top1", "top5", "k")})
    row["secondary_k"] = int(evaluation["k"])
    prov = read_json(record["provenance"], "provenance file")
    row.update(device_name=prov["device_name"], host=prov["host"], git_commit=prov["git_commit"],
               slurm_job_id=prov["slurm_job_id"])
    bench = record.get("benchmark")
    if bench and Path(bench).is_file():
        b = read_csv(bench, ("s", "max_rss"), "benchmark file", sep="\t")
        row.update(wall_seconds=float(b["s"].iloc[-1]), max_rss_mb=float(b["max_rss"].iloc[-1]))
    return row


def collect_runs(records: list[dict]) -> pd.DataFrame:
    """``runs.csv``: :func:`run_row` of every record."""
    _eval_table.cache_clear()
    return pd.DataFrame([run_row(r) for r in records])


def collect_chains(records: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """Every chain's table (ensembles.csv, transfer.csv) in one tidy frame, keyed by dataset, arch,
    method and seed. ``records``: the chain's keys and its file as ``path``."""
    frames = [read_csv(r["path"], what="chain table").assign(**{k: r[k] for k in CHAIN_KEYS}) for r in records]
    if not frames:
        return pd.DataFrame(columns=CHAIN_KEYS + (columns or []))
    df = pd.concat(frames, ignore_index=True)
    return df[CHAIN_KEYS + [c for c in df.columns if c not in CHAIN_KEYS]]


def summary_table(runs: pd.DataFrame, metric: str = "test_top1", counts: bool = True) -> pd.DataFrame:
    """mean ±std (n) of ``metric`` over seeds: rows = (dataset, arch, method), columns = generation;
    ``counts=False`` leaves the (n) out, for a table whose every cell has the same."""
    g = runs.groupby(["dataset", "arch", "method", "generation"])[metric].agg(["mean", "std", "count"])
    cell = g.apply(lambda r: (f"{r['mean']:.2f} ±{r['std']:.2f}" if r["count"] > 1 else f"{r['mean']:.2f}")
                   + (f" (n={int(r['count'])})" if counts else ""), axis=1)
    table = cell.unstack("generation")
    table.columns = [f"gen {c}" for c in table.columns]
    return table


def summary_markdown(runs: pd.DataFrame, title: str = "Test top-1 accuracy (%), mean ±std over seeds") -> str:
    """The summary a run prints at its end: one table per cell, its seeds in the heading where every
    chain of the cell has the same number (so that six generations fit a 100-column terminal)."""
    parts = [f"# {title}\n"]
    for (dataset, arch), part in runs.groupby(["dataset", "arch"]):
        seeds = part.groupby(["method", "generation"]).size().unique()
        same = len(seeds) == 1
        table = summary_table(part, counts=not same).droplevel([0, 1])
        heading = f"{dataset} / {arch}" + (f" (n={seeds[0]} seeds each)" if same else "")
        parts.append(f"## {heading}\n\n{table.to_markdown()}\n")
    return "\n".join(parts)
