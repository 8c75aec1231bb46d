"""The paper's claims, tested on our runs: paired by seed, with a verdict that can say no.

The claims are data (``tkd/claims.csv``, one row each, with the paper's words, scope and
source). A claim compares a *subject* with a *reference* in one cell (dataset, arch) on one
quantity, in a claimed direction and, where the paper states one, a claimed size:

* a side is ``METHODS@GENERATION``. METHODS selects methods by their patriarch's loss and
  loss parameters (``loss=tsd``, ``loss=ce|ls|cp``, ``loss=tsd&eta=0.6``, ``loss=tsd&eta!=0.6``),
  or ``same`` (the subject's method); an ``each:`` prefix makes one row per matching method.
  GENERATION is ``0`` (the patriarch), ``student`` (the best of generations >= 1), ``best``
  (the best of all) or ``ensemble`` (the ensemble of all generations of the chain).
* Where a side chooses (several methods or generations), it chooses on half a of the test
  set and both sides are scored on half b (:mod:`tkd.selection`): nothing is chosen and
  scored on the same images.
* The two sides are paired by seed, and :func:`tkd.stats.effect_verdict` judges the
  differences.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SpecError
from .selection import half, held_out_best
from .stats import effect_verdict

__all__ = ["load_claims", "claims_table", "CLAIM_COLUMNS", "OUTPUT_COLUMNS", "QUANTITIES"]

CLAIM_COLUMNS = ["claim", "words", "source", "dataset", "arch", "quantity", "subject", "reference", "direction",
                 "claimed_low", "claimed_high", "note"]
OUTPUT_COLUMNS = ["claim", "dataset", "arch", "metric", "claimed", "subject", "reference", "estimate", "ci_low",
                  "ci_high", "n", "verdict", "seeds_needed", "why", "words", "source", "note"]
# quantity -> (runs.csv column, has test halves, is an error rate)
QUANTITIES = {
    "top1": ("test_top1", True, False),
    "top5": ("test_top5", True, False),
    "top1_err": ("test_top1", True, True),
    "top5_err": ("test_top5", True, True),
    "mean_top1_prob": ("mean_top1_prob", False, False),
    "probe_top1": ("probe_top1", False, False),
}
GENERATIONS = ("0", "student", "best", "ensemble")


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """The claims; the packaged ``claims.csv`` unless ``path`` is given. Checked as data."""
    source = Path(path) if path else resources.files("tkd") / "claims.csv"
    if not source.is_file():
        raise SpecError(f"claims file {str(source)!r} does not exist")
    with source.open() as f:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise SpecError(f"{source}: column {missing[0]!r} is missing; expected {CLAIM_COLUMNS}")
    for i, row in df.iterrows():
        where = f"{source}: claim {row['claim']} (row {i + 2})"
        if row["quantity"] not in QUANTITIES:
            raise SpecError(f"{where}: quantity {row['quantity']!r} is unknown; choose one of {sorted(QUANTITIES)}")
        if row["direction"] not in ("<", ">"):
            raise SpecError(f"{where}: direction {row['direction']!r} must be < or >")
        for side in ("subject", "reference"):
            try:
                Side.parse(row[side])
            except ValueError as err:
                raise SpecError(f"{where}: {side}: {err}") from None
    for c in ("claimed_low", "claimed_high"):
        df[c] = [float(v) if v else math.nan for v in df[c]]
    return df


@dataclass(frozen=True)
class Side:
    """One side of a comparison: which methods, which generation, one row per method or not."""

    conditions: tuple  # ((key, negated, values), ...); empty with same
    generation: str
    each: bool = False
    same: bool = False

    @classmethod
    def parse(cls, text: str) -> "Side":
        each = text.startswith("each:")
        methods, sep, generation = text.removeprefix("each:").partition("@")
        if not sep or generation not in GENERATIONS:
            raise ValueError(f"{text!r}: expected METHODS@GENERATION, GENERATION one of {list(GENERATIONS)}")
        if methods == "same":
            return cls((), generation, each, same=True)
        conditions = []
        for cond in methods.split("&"):
            negated = "!=" in cond
            key, _, values = cond.partition("!=" if negated else "=")
            if not key or not values:
                raise ValueError(f"{text!r}: {cond!r} is not KEY=VALUE[|VALUE] or KEY!=VALUE")
            conditions.append((key, negated, tuple(values.split("|"))))
        return cls(tuple(conditions), generation, each)

    def methods(self, info: pd.DataFrame) -> list[str]:
        """The methods of one cell whose patriarch matches (``info``: one row per method)."""
        ok = pd.Series(True, index=info.index)
        for key, negated, values in self.conditions:
            column = info.get("loss" if key == "loss" else f"spec_{key}")
            if column is None:
                ok &= negated
                continue
            hit = column.map(lambda v: any(_same(v, w) for w in values))
            ok &= ~hit if negated else hit
        return sorted(info.index[ok])


def _same(value, wanted: str) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value) == wanted


def method_info(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, method): the patriarch's loss and loss parameters (from generation 0)."""
    patriarchs = runs[runs.generation == 0]
    info = patriarchs.groupby(["dataset", "arch", "method"]).first()
    return info.assign(loss=info["spec_loss"]) if "spec_loss" in info else info.assign(loss=np.nan)


def candidates(runs: pd.DataFrame, ensembles: pd.DataFrame | None, methods: list[str], generation: str):
    """The runs (or ensembles) of one cell that a side may choose from."""
    part = runs[runs.method.isin(methods)]
    if generation == "0":
        return part[part.generation == 0]
    if generation == "student":
        return part[part.generation >= 1]
    if generation == "best":
        return part
    if ensembles is None or ensembles.empty:
        return part.iloc[0:0]
    e = ensembles[ensembles.method.isin(methods) & (ensembles.kind == "first")]
    e = e[e["size"] == e.groupby(["method", "seed"])["size"].transform("max")]
    rename = {c: f"test_{c}" for c in ("top1", "top5", "top1_a", "top5_a", "top1_b", "top5_b")}
    return e.rename(columns=rename).assign(generation=-1)


def _groups(rows: pd.DataFrame) -> int:
    return len(rows.groupby(["method", "generation"]))


def _label(rows: pd.DataFrame) -> str:
    method, gen = rows.method.iloc[0], int(rows.generation.iloc[0])
    return f"{method} " + ("ensemble of all generations" if gen < 0 else f"gen {gen}")


def _values(rows: pd.DataFrame, quantity: str, held_out: bool, transfer: pd.DataFrame | None) -> pd.Series:
    """The quantity per seed of one chosen (method, generation)."""
    column, halves, is_error = QUANTITIES[quantity]
    if quantity == "probe_top1":
        if transfer is None or transfer.empty:
            return pd.Series(dtype=float)
        keys = ["dataset", "arch", "method", "seed", "generation"]
        rows = rows[keys].merge(transfer[keys + ["probe_top1"]], on=keys)
    elif halves and held_out:
        column = half(column, "b")
    if column not in rows:
        return pd.Series(dtype=float)
    values = rows.set_index("seed")[column].astype(float)
    return 100.0 - values if is_error else values


def _claimed(direction: str, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{direction} 0"
    if low == high:
        return f"{low:+g}"
    if math.isinf(high):
        return f">= {low:+g}"
    return f"{low:+g} to {high:+g}"


def _scopes(claim: pd.Series, cells: list[tuple]) -> list[tuple]:
    want = [(d, a) for d, a in cells if claim["dataset"] in ("*", d) and claim["arch"] in ("*", a)]
    return want or [(claim["dataset"], claim["arch"])]


def _compare(claim, cell_runs, cell_ens, info, transfer, tolerance, subject_methods) -> dict:
    subject, reference = Side.parse(claim["subject"]), Side.parse(claim["reference"])
    ref_methods = subject_methods if reference.same else reference.methods(info)
    out = {}
    if not subject_methods or not ref_methods:
        side = "subject" if not subject_methods else "reference"
        return dict(verdict="not run", n=0, why=f"no method of the grid matches the {side} {claim[side]!r}")
    s_rows = candidates(cell_runs, cell_ens, subject_methods, subject.generation)
    r_rows = candidates(cell_runs, cell_ens, ref_methods, reference.generation)
    if s_rows.empty or r_rows.empty:
        return dict(verdict="not run", n=0, why="no finished runs of one side")
    held_out = _groups(s_rows) > 1 or _groups(r_rows) > 1
    if _groups(s_rows) > 1:
        _, s_rows = held_out_best(s_rows, ["method", "generation"])
    if _groups(r_rows) > 1:
        _, r_rows = held_out_best(r_rows, ["method", "generation"])
    out.update(subject=_label(s_rows), reference=_label(r_rows))
    s = _values(s_rows, claim["quantity"], held_out, transfer)
    r = _values(r_rows, claim["quantity"], held_out, transfer)
    diffs = (s - r).dropna()
    if diffs.empty:
        why = ("no transfer probes in these results (transfer.enabled: false?)" if claim["quantity"] == "probe_top1"
               else f"no runs of both sides share a seed, or the runs have no {claim['quantity']} column")
        return dict(out, verdict="not run", n=0, why=why)
    claimed = None if math.isnan(claim["claimed_low"]) else (claim["claimed_low"], claim["claimed_high"])
    v = effect_verdict(diffs.to_numpy(), claim["direction"], claimed, tolerance)
    out.update(estimate=v.estimate, ci_low=v.ci_low, ci_high=v.ci_high, n=v.n, verdict=v.verdict, why=v.why,
               seeds_needed=v.seeds_needed)
    if held_out:
        out["why"] += "; chosen on test half a, scored on half b"
    return out


def claims_table(runs: pd.DataFrame, ensembles: pd.DataFrame | None = None, transfer: pd.DataFrame | None = None,
                 claims: pd.DataFrame | None = None, tolerance: float = 0.5) -> pd.DataFrame:
    """One row per claim and cell (and per method for ``each:`` claims), tidy."""
    claims = load_claims() if claims is None else claims
    info = method_info(runs) if len(runs) else pd.DataFrame()
    cells = sorted({(d, a) for d, a in zip(runs.dataset, runs.arch)}) if len(runs) else []
    rows = []
    for _, claim in claims.iterrows():
        base = dict(claim=claim["claim"], metric=claim["quantity"], words=claim["words"], source=claim["source"],
                    note=claim["note"], claimed=_claimed(claim["direction"], claim["claimed_low"], claim["claimed_high"]))
        for dataset, arch in _scopes(claim, cells):
            key = (dataset, arch)
            if key not in cells:
                rows.append(dict(base, dataset=dataset, arch=arch, verdict="not run", n=0,
                                 why="this dataset / arch is not in the runs"))
                continue
            cell_runs = runs[(runs.dataset == dataset) & (runs.arch == arch)]
            cell_ens = None if ensembles is None or ensembles.empty else \
                ensembles[(ensembles.dataset == dataset) & (ensembles.arch == arch)]
            cell_info = info.loc[key]
            subject = Side.parse(claim["subject"])
            matched = subject.methods(cell_info)
            for methods in ([[m] for m in matched] if subject.each and matched else [matched]):
                rows.append(dict(base, dataset=dataset, arch=arch,
                                 **_compare(claim, cell_runs, cell_ens, cell_info, transfer, tolerance, methods)))
    out = pd.DataFrame(rows)
    for c in OUTPUT_COLUMNS:
        if c not in out:
            out[c] = math.nan
    return out[OUTPUT_COLUMNS]


def summary_text(table: pd.DataFrame) -> str:
    """The claims table as a terminal reads it."""
    show = table.assign(interval=[("–" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]")
                                  for lo, hi in zip(table.ci_low.astype(float), table.ci_high.astype(float))],
                        estimate=table.estimate.map(lambda x: "–" if pd.isna(x) else f"{x:+.2f}"),
                        seeds_needed=table.seeds_needed.map(lambda x: "" if pd.isna(x) else f"{int(x)}"))
    cols = ["claim", "dataset", "arch", "metric", "subject", "reference", "claimed", "estimate", "interval", "n",
            "verdict", "seeds_needed"]
    return show[cols].fillna("").to_markdown(index=False)
