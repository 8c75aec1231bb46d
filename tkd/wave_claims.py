"""The claims table judged after every wave of seeds: each row's sample at every look, its
group-sequential evidence (:mod:`tkd.sequential`), the wave that decided it, and the chains the
undecided rows still need. The workflow's checkpoint, ``tkd claims --looks``, ``tkd tables`` and
``tkd plan`` all judge waves here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .claims import ClaimRow, Criteria, finish_table, rows_of
from .errors import SpecError
from .sequential import Design, SequentialTrack, designs, evidence
from .stats import MIN_SEEDS, power
from .verdicts import DECIDED, Row, judge_table

__all__ = ["rows_at_look", "samples_by_look", "judge", "seed_order", "looks_of_runs", "asked", "emulate",
           "Emulated"]


def seed_order(runs: pd.DataFrame) -> dict[tuple, list]:
    """Each cell's seeds in the order the waves add them: ascending (0..n-1 in the workflow,
    whatever their numbers in a finished runs table)."""
    return {cell: sorted(set(part.seed)) for cell, part in runs.groupby(["dataset", "arch"])} if len(runs) else {}


def looks_of_runs(runs: pd.DataFrame, config: dict, looks: list[int] | None, boundary: float
                  ) -> tuple[dict[tuple[str, str], Design], int]:
    """The design of each cell of a finished runs table and the wave to judge it through, for
    ``tkd claims --looks``: the config's waves of each cell (``looks`` None), as the workflow judged
    them, or ``looks`` for every cell; through the last look that some cell's seeds reach, as the
    workflow's last checkpoint did. Refused: a cell the config's grid does not run, a cell with more
    seeds than its last look or fewer than its first, and explicit looks beyond every cell's seeds."""
    from .waves import looks as config_looks

    present = {cell: len(seeds) for cell, seeds in seed_order(runs).items()}
    if looks is None:
        planned = {tuple(cell): n for cell, n in config_looks(config).items()}
        missing = sorted(set(present) - set(planned))
        if missing:
            raise SpecError(f"--looks: the cell {'/'.join(missing[0])} of the runs is not in the config's grid "
                            "(give its config with --configfile, or the seeds per look)")
        cells = {cell: planned[cell] for cell in present}
    else:
        cells = {cell: tuple(looks) for cell in present}
        if looks[-1] > max(present.values()):
            raise SpecError(f"--looks {','.join(map(str, looks))}: the last look is beyond the seeds of the runs "
                            f"(at most {max(present.values())} in a cell)")
    reached = {}
    for cell, n in present.items():
        if n > cells[cell][-1] or n < cells[cell][0]:
            raise SpecError(f"--looks: {'/'.join(cell)} has {n} seeds, outside its looks "
                            f"{','.join(map(str, cells[cell]))}")
        reached[cell] = sum(look <= n for look in cells[cell])
    return designs(cells, boundary), max(reached.values())


def _at_look(frame: pd.DataFrame | None, seeds: dict[tuple, set]) -> pd.DataFrame | None:
    """The rows of ``frame`` whose seed was run by the look (``seeds``: cell -> its seeds by then)."""
    if frame is None or frame.empty:
        return frame
    return frame[[s in seeds.get((d, a), ()) for d, a, s in zip(frame.dataset, frame.arch, frame.seed)]]


def rows_at_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
                 cell_designs: dict[tuple[str, str], Design], look: int, order: dict | None = None) -> list[ClaimRow]:
    """The claims table's rows at look ``look`` (1-based): each cell's first seeds by then
    (``order``: :func:`seed_order` of ``runs``, when the caller has it)."""
    order = seed_order(runs) if order is None else order
    seeds = {cell: set(order.get(cell, [])[: d.looks[min(look, len(d.looks)) - 1]]) for cell, d in cell_designs.items()}
    return rows_of(_at_look(runs, seeds), _at_look(ensembles, seeds), _at_look(transfer, seeds), claims, criteria)


def samples_by_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
                    cell_designs: dict[tuple[str, str], Design], through: int) -> list[list[ClaimRow]]:
    """The claims table's rows at every look 1..``through``: each cell's first seeds by then."""
    per_look = []
    order = seed_order(runs)
    for look in range(1, through + 1):
        rows = rows_at_look(runs, ensembles, transfer, claims, criteria, cell_designs, look, order)
        if per_look and [r.key for r in rows] != [r.key for r in per_look[0]]:
            raise ValueError(f"the claims table's rows differ between waves 1 and {look}")
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


def asked(next_wave: list[dict], needs) -> list[dict]:
    """The runs of the next wave (:func:`tkd.grid.wave_runs`) that the open rows ask for: those of
    the chains (dataset, arch, method) they need (:func:`judge`'s ``needs``)."""
    wanted = set(map(tuple, needs))
    return [r for r in next_wave if (r["dataset"], r["arch"], r["method"]) in wanted]


@dataclass
class Emulated:
    """The waves of one grid as the workflow runs them: the last wave's table and family, the wave
    the grid stopped after, and the runs it made."""

    table: pd.DataFrame
    family: object
    waves: int
    runs: pd.DataFrame


def emulate(config: dict, runs: pd.DataFrame, claims: pd.DataFrame, criteria: Criteria,
            cell_designs: dict[tuple[str, str], Design]) -> Emulated:
    """The workflow's waves over ``runs``, a runs table of every run the grid may make (simulated):
    wave 1's runs, then after each wave the claims judged (:func:`judge`) and only the runs that
    the open rows ask for (:func:`asked`) added, until none is asked for or the last wave; the same
    steps as the workflow's checkpoint (:func:`tkd.jobs.wave`), by the same functions."""
    from . import grid

    index = runs.set_index(list(grid.KEYS)).index
    position = dict(zip(index, range(len(index))))

    def rows(keys: list[dict]) -> list[int]:
        return [position[tuple(k[c] for c in grid.KEYS)] for k in keys]

    made = rows(grid.runs(config, wave=1))
    looked, wave = [], 0
    most = max(len(d.looks) for d in cell_designs.values())
    while True:
        wave += 1
        present = runs.iloc[sorted(made)]
        looked.append(rows_at_look(present, None, None, claims, criteria, cell_designs, wave))
        table, family, needs = judge(present, None, None, claims, criteria, cell_designs, wave, plan=False,
                                     looked=looked)
        more = asked(grid.wave_runs(config, wave + 1), needs) if wave < most else []
        if not more:
            return Emulated(table, family, wave, present.reset_index(drop=True))
        made += rows(more)
