"""The claims table judged after every wave of seeds: each row's sample at every look, its
group-sequential evidence (:mod:`tkd.sequential`), the wave that decided it, and the chains the
undecided rows still need. The workflow's checkpoint, ``tkd claims --looks``, ``tkd tables`` and
``tkd plan`` all judge waves here.
"""
from __future__ import annotations

import math

import pandas as pd

from .claims import ClaimRow, Criteria, finish_table, rows_of
from .sequential import Design, SequentialTrack, evidence
from .stats import MIN_SEEDS, power
from .verdicts import DECIDED, Row, judge_table

__all__ = ["samples_by_look", "judge", "seed_order"]


def seed_order(runs: pd.DataFrame) -> dict[tuple, list]:
    """Each cell's seeds in the order the waves add them: ascending (0..n-1 in the workflow,
    whatever their numbers in a finished runs table)."""
    return {cell: sorted(set(part.seed)) for cell, part in runs.groupby(["dataset", "arch"])} if len(runs) else {}


def _at_look(frame: pd.DataFrame | None, seeds: dict[tuple, set]) -> pd.DataFrame | None:
    """The rows of ``frame`` whose seed was run by the look (``seeds``: cell -> its seeds by then)."""
    if frame is None or frame.empty:
        return frame
    return frame[[s in seeds.get((d, a), ()) for d, a, s in zip(frame.dataset, frame.arch, frame.seed)]]


def samples_by_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
                    cell_designs: dict[tuple[str, str], Design], through: int) -> list[list[ClaimRow]]:
    """The claims table's rows at every look 1..``through``: each cell's first seeds by then."""
    per_look = []
    order = seed_order(runs)
    for look in range(through):
        seeds = {cell: set(order.get(cell, [])[: d.looks[min(look, len(d.looks) - 1)]])
                 for cell, d in cell_designs.items()}
        rows = rows_of(_at_look(runs, seeds), _at_look(ensembles, seeds), _at_look(transfer, seeds), claims, criteria)
        if per_look and [r.key for r in rows] != [r.key for r in per_look[0]]:
            raise ValueError(f"the claims table's rows differ between waves 1 and {look + 1}")
        per_look.append(rows)
    return per_look


def judge(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
          cell_designs: dict[tuple[str, str], Design], through: int, plan: bool = True, looked=None):
    """The claims table after wave ``through``: every row judged on its repeated p-values, with the
    wave at which it was decided (``wave``) or stopped asking for seeds as futile (``futile``).
    Returns (table, family, needs): ``needs`` lists the (dataset, arch, method) chains that the open
    rows need, where their cell has more waves. ``looked``: :func:`samples_by_look` of these
    arguments, when the caller has it."""
    per_look = looked or samples_by_look(runs, ensembles, transfer, claims, criteria, cell_designs, through)
    base = per_look[-1]
    designs_ = [cell_designs.get(row.cell) for row in base]
    by_row = [[rows[i].sample for rows in per_look][: len(d.looks)] if d else [] for i, d in enumerate(designs_)]
    z = [evidence(samples, row.region) if d else None for samples, row, d in zip(by_row, base, designs_)]

    def table_at(look: int) -> list[Row]:
        return [ClaimRow(row.sample, row.region, labels=row.labels, untested=True) if d is None else
                _tracked(row, by_row[i][: look + 1], z[i], d)
                for i, (row, d) in enumerate(zip(per_look[look], designs_))]

    decided_at = _decided_at(table_at, len(per_look), criteria.fdr)
    table, family = finish_table(table_at(through - 1), criteria.fdr, plan)
    table["wave"] = decided_at
    table["futile"] = _futile_at(by_row, base, designs_, decided_at, criteria)
    for i in table.index[table.futile.notna()]:
        most = designs_[i].looks[-1]
        table.loc[i, "why"] += (f"; stopped asking for seeds after wave {table.futile[i]:g}: under "
                                f"{criteria.futility:.0%} chance of a decision by {most} seeds at its estimate")
    open_ = table.verdict.eq("inconclusive") & table.n.gt(0) & table.futile.isna()
    needs = sorted({row.cell + (m,) for row, d, is_open in zip(base, designs_, open_)
                    if is_open and d and through < len(d.looks) for m in row.needs})
    return table, family, needs


def _tracked(row: ClaimRow, samples: list, z: dict, design: Design) -> ClaimRow:
    track = SequentialTrack.of(samples, z, design)
    return ClaimRow(row.sample, row.region, track, untested=track is None, labels=row.labels)


def _decided_at(table_at, looks: int, fdr: float) -> list[float]:
    """The first wave at which each row's verdict was reached (NaN: undecided)."""
    first = None
    for look in range(looks):
        rows, _ = judge_table(table_at(look), fdr, plan=False)
        first = first or [math.nan] * len(rows)
        for i, row in enumerate(rows):
            if math.isnan(first[i]) and row["verdict"] in DECIDED:
                first[i] = look + 1
    return first


def _futile_at(by_row, base, designs_, decided_at, criteria: Criteria) -> list[float]:
    """The first wave after which an undecided row stops asking for seeds: the chance, were its
    estimate and spread the truth, that the design's most seeds reach either decision at one row's
    own level is below ``criteria.futility`` (stochastic curtailment; NaN: never). It changes no
    verdict: the row stays inconclusive, and is judged on whatever seeds its chains still get."""
    out = [math.nan] * len(base)
    if not criteria.futility:
        return out
    for i, (samples, row, design) in enumerate(zip(by_row, base, designs_)):
        if design is None:
            continue
        alpha = design.nominal(criteria.fdr / 2, len(design.looks) - 1)
        for look, s in enumerate(samples[: len(design.looks) - 1]):
            if not math.isnan(decided_at[i]) and decided_at[i] <= look + 1:
                break
            if s is None or s.n < MIN_SEEDS or s.constant:
                continue
            chance = max(float(power(s.mean, s.sd, design.looks[-1], row.region, alpha, aim))
                         for aim in ("supported", "against"))
            if chance < criteria.futility:
                out[i] = look + 1
                break
    return out
