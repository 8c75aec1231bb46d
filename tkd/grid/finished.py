"""The runs of a grid that have finished, as tidy tables, while the grid still runs: what ``tkd
tables`` and ``tkd plan`` read. Reads the results folder through :mod:`tkd.layout`.

A run counts once its ``metrics.json`` is written (last, so the run is whole). Its measures
come from its chain's ``eval.csv`` where the chain is evaluated, else from its test logits.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import grid, layout
from ..files import read_csv, read_npz
from ..training.measures import chain_ensembles, logit_measures
from .aggregate import collect_chains, collect_runs


def _evaluation(results: Path, run: dict, k: int, cache: dict) -> dict:
    """One run's measures: its chain's eval.csv row, or computed from its saved test logits."""
    eval_csv = layout.chain_path(results, run, "eval")
    if eval_csv.is_file():
        table = cache.setdefault(str(eval_csv), read_csv(eval_csv, ("generation",)).set_index("generation"))
        if run["generation"] in table.index and int(table.loc[run["generation"], "k"]) == k:
            return table.loc[run["generation"]].to_dict()
    z = read_npz(layout.run_path(results, run, "logits"), ("logits", "fine", "coarse"), "test logits")
    return logit_measures(z["logits"], z["fine"], z["coarse"], k=k)


def finished(config: dict) -> tuple[list[dict], int]:
    """The finished runs of the grid and how many it has asked for so far."""
    from .status import planned_runs

    results = Path(config["results"])
    runs = planned_runs(config)
    return [r for r in runs if layout.run_path(results, r, "metrics").is_file()], len(runs)


def collect(config: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict], int]:
    """runs, ensembles and transfer frames of the finished runs, the finished runs and the grid size."""
    results, k = Path(config["results"]), config["analysis"]["secondary_k"]
    done, total = finished(config)
    cache: dict = {}
    records = [dict(layout.run_record(results, r), evaluation=_evaluation(results, r, k, cache)) for r in done]
    runs = collect_runs(records)
    ensembles = []
    for chain in grid.chains(done):
        keys = dict(zip(("dataset", "arch", "method", "seed"), chain))
        gens = sorted(r["generation"] for r in done if all(r[key] == v for key, v in keys.items()))
        logits = {g: read_npz(layout.run_path(results, {**keys, "generation": g}, "logits"),
                              ("logits", "fine"), "test logits") for g in gens}
        fine = logits[gens[0]]["fine"]
        table = chain_ensembles({g: z["logits"] for g, z in logits.items()}, fine, config["analysis"]["ensemble_last"])
        ensembles.append(pd.DataFrame(table).assign(**keys))
    ensembles = pd.concat(ensembles, ignore_index=True) if ensembles else pd.DataFrame()
    chains = [dict(zip(("dataset", "arch", "method", "seed"), c)) for c in grid.chains(done)]
    probes = [dict(c, path=layout.chain_path(results, c, "transfer")) for c in chains]
    transfer = collect_chains([p for p in probes if p["path"].is_file()], ["generation", "probe_top1", "feature_dim"])
    return runs, ensembles, transfer, done, total
