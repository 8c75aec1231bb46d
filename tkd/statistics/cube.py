"""One (dataset, arch) cell's runs as arrays indexed by method, generation and seed.

The claims compare sides of a cell many times over (every claim, every tolerant method);
arrays make each comparison a few numpy operations instead of many pandas selections. The
ensemble of all generations of a chain stands in the cube as generation -1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Cube", "ENSEMBLE"]

ENSEMBLE = -1  # the generation index of the ensemble of all generations of a chain
# ensembles.csv columns under their runs.csv names
_ENSEMBLE_COLUMNS = {c: f"test_{c}" for c in ("top1", "top5", "top1_a", "top5_a", "top1_b", "top5_b")}


@dataclass
class Cube:
    methods: list[str]
    generations: list[int]
    seeds: list[int]
    columns: dict[str, np.ndarray]  # name -> [method, generation, seed], NaN where there is no value
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # what readers computed of it once

    @classmethod
    def of(cls, runs: pd.DataFrame, ensembles: pd.DataFrame | None = None,
           transfer: pd.DataFrame | None = None) -> "Cube":
        """The cube of one cell's ``runs`` (runs.csv rows), with the widest ensemble of generations
        0..m of each chain (``ensembles``) and the linear probes (``transfer``), where given."""
        frames = [runs]
        if ensembles is not None and len(ensembles):
            first = ensembles[ensembles.kind == "first"]
            first = first[first["size"] == first.groupby(["method", "seed"])["size"].transform("max")]
            frames.append(first.rename(columns=_ENSEMBLE_COLUMNS).assign(generation=ENSEMBLE))
        rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else runs.reset_index(drop=True)
        if transfer is not None and len(transfer):
            keys = ["method", "seed", "generation"]
            rows = rows.drop(columns=["probe_top1"], errors="ignore").merge(
                transfer[keys + ["probe_top1"]], on=keys, how="left")
        m, methods = pd.factorize(rows.method, sort=True)
        g, generations = pd.factorize(rows.generation.astype(int), sort=True)
        s, seeds = pd.factorize(rows.seed.astype(int), sort=True)
        shape = (len(methods), len(generations), len(seeds))
        columns = {}
        for name in rows.columns:
            if pd.api.types.is_numeric_dtype(rows[name]) and name not in ("seed", "generation"):
                cube = np.full(shape, np.nan)
                cube[m, g, s] = rows[name].to_numpy(float)
                columns[name] = cube
        return cls(list(methods), [int(x) for x in generations], [int(x) for x in seeds], columns)

    def groups(self, methods: list[str], generation: str) -> list[tuple[int, int]]:
        """The (method, generation) indices a side may choose from: ``generation`` is "0" (the
        patriarch), "student" (generations >= 1), "best" (any generation) or "ensemble"."""
        want = {"0": lambda g: g == 0, "student": lambda g: g >= 1, "best": lambda g: g >= 0,
                "ensemble": lambda g: g == ENSEMBLE}[generation]
        ran = ~np.isnan(self.columns["test_top1"]).all(axis=2) if "test_top1" in self.columns else None
        return [(mi, gi) for mi, method in enumerate(self.methods) if method in methods
                for gi, gen in enumerate(self.generations) if want(gen) and (ran is None or ran[mi, gi])]

    def matrix(self, groups: list[tuple[int, int]], column: str) -> np.ndarray:
        """seeds × groups of ``column`` (NaN where missing, and where the column is absent)."""
        if column not in self.columns or not groups:
            return np.full((len(self.seeds), len(groups)), np.nan)
        mi, gi = np.array(groups).T
        return self.columns[column][mi, gi, :].T

    def label(self, group: tuple[int, int]) -> tuple[str, int]:
        return self.methods[group[0]], self.generations[group[1]]
