"""The claims table judged after every wave of seeds: each row's sample at every look, its
group-sequential evidence (:mod:`tkd.statistics.sequential`), the wave that decided it, and the chains the
undecided rows still need.

Each (dataset, arch) cell goes at its own pace (:mod:`tkd.grid.waves`): after each of its waves its
checkpoint judges the cell's rows alone (:func:`cell_judge`, a family of the cell's rows) to
decide which of its chains get the next wave, so no cell waits for another. The paper's claims
table is judged once, at the end, over every row of every cell as one family
(:func:`final_table`), each cell through the last wave its seeds reach; ``tkd claims --looks``
calls the same function, and :func:`emulate` runs the whole procedure on a simulated grid for the
planner and the tests.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .claims import ClaimRow, Criteria, RowCache, finish_table, rows_of
from ..errors import SpecError
from .sequential import Design, SequentialTrack, designs, evidence
from .stats import MIN_SEEDS, power
from .verdicts import DECIDED, Row, judge_table

__all__ = ["rows_at_look", "samples_by_look", "judge", "seed_order", "looks_of_runs", "asked", "emulate",
           "Emulated", "cell_judge", "decision", "final_table"]


def seed_order(runs: pd.DataFrame) -> dict[tuple, list]:
    """Each cell's seeds in the order the waves add them: ascending (0..n-1 in the workflow,
    whatever their numbers in a finished runs table)."""
    return {cell: sorted(set(part.seed)) for cell, part in runs.groupby(["dataset", "arch"])} if len(runs) else {}


def looks_of_runs(runs: pd.DataFrame, planned: dict, looks: list[int] | None = None, boundary: float = 0.0,
                  strict: bool = True) -> tuple[dict[tuple[str, str], Design], int]:
    """The design of each cell of a runs table and the wave to judge it through: each cell's
    ``planned`` looks (:func:`tkd.grid.waves.looks` of its config, or their records), as the workflow
    judged them, or ``looks`` for every cell; through the last look that some cell's seeds reach, as
    the workflow's cells did. Refused: a cell the config's grid does not run, a cell with more seeds
    than its last look or (``strict``: a finished grid) fewer than its first, and explicit looks
    beyond every cell's seeds. Not ``strict`` (a grid still running): a cell short of its first look
    is judged at it."""
    from ..grid.waves import from_param

    planned = {tuple(cell): tuple(n) for cell, n in (from_param(planned) if isinstance(planned, list)
                                                      else planned).items()}
    present = {cell: len(seeds) for cell, seeds in seed_order(runs).items()}
    if looks is None:
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
        if n > cells[cell][-1] or (strict and n < cells[cell][0]):
            raise SpecError(f"--looks: {'/'.join(cell)} has {n} seeds, outside its looks "
                            f"{','.join(map(str, cells[cell]))}")
        reached[cell] = max(1, sum(look <= n for look in cells[cell]))
    return designs(cells, boundary), max(reached.values())


def _at_look(frame: pd.DataFrame | None, seeds: dict[tuple, set]) -> pd.DataFrame | None:
    """The rows of ``frame`` whose seed was run by the look (``seeds``: cell -> its seeds by then)."""
    if frame is None or frame.empty:
        return frame
    keep = np.zeros(len(frame), bool)
    dataset, arch, seed = (frame[c].to_numpy() for c in ("dataset", "arch", "seed"))
    for (d, a), wanted in seeds.items():
        keep |= (dataset == d) & (arch == a) & np.isin(seed, list(wanted))
    return frame[keep]


def rows_at_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
                 cell_designs: dict[tuple[str, str], Design], look: int, order: dict | None = None,
                 cache: dict | None = None) -> list[ClaimRow]:
    """The claims table's rows at look ``look`` (1-based): each cell's first seeds by then
    (``order``: :func:`seed_order` of ``runs``, when the caller has it; ``cache``: see
    :func:`tkd.statistics.claims.rows_of`)."""
    order = seed_order(runs) if order is None else order
    seeds = {cell: set(order.get(cell, [])[: d.looks[min(look, len(d.looks)) - 1]]) for cell, d in cell_designs.items()}
    return rows_of(_at_look(runs, seeds), _at_look(ensembles, seeds), _at_look(transfer, seeds), claims, criteria,
                   cache)


def samples_by_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
                    cell_designs: dict[tuple[str, str], Design], through: int,
                    cache: dict | None = None) -> list[list[ClaimRow]]:
    """The claims table's rows at every look 1..``through``: each cell's first seeds by then."""
    per_look = []
    order = seed_order(runs)
    for look in range(1, through + 1):
        rows = rows_at_look(runs, ensembles, transfer, claims, criteria, cell_designs, look, order, cache)
        if per_look and [r.key for r in rows] != [r.key for r in per_look[0]]:
            raise ValueError(f"the claims table's rows differ between waves 1 and {look}")
        per_look.append(rows)
    return per_look


def judge(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
          cell_designs: dict[tuple[str, str], Design], through: int, plan: bool = True, looked=None,
          cache: dict | None = None, tabulate: bool = True):
    """The claims table after wave ``through``: every row judged on its repeated p-values, with the
    wave at which it was decided (``wave``) or stopped asking for seeds as futile (``futile``).
    Returns (table, family, needs): ``needs`` lists the (dataset, arch, method) chains that the open
    rows need, where their cell has more waves. ``looked``: :func:`samples_by_look` of these
    arguments, when the caller has it. ``tabulate`` False: no table (None), the family and the
    needs alone, from the same judgement (the emulated waves ask for no more)."""
    per_look = looked or samples_by_look(runs, ensembles, transfer, claims, criteria, cell_designs, through, cache)
    base = per_look[-1]
    designs_ = [cell_designs.get(row.cell) for row in base]
    by_row = [[rows[i].sample for rows in per_look][: len(d.looks)] if d else [] for i, d in enumerate(designs_)]
    z = [evidence(samples, row.region) if d else None for samples, row, d in zip(by_row, base, designs_)]

    def table_at(look: int) -> list[Row]:
        return [ClaimRow(row.sample, row.region, labels=row.labels, untested=True) if d is None else
                _tracked(row, by_row[i][: look + 1], z[i], d)
                for i, (row, d) in enumerate(zip(per_look[look], designs_))]

    decided_at = _decided_at(table_at, len(per_look), criteria.fdr)
    if not tabulate:
        judged, family = judge_table(table_at(through - 1), criteria.fdr, plan=False)
        futile = _futile_at(by_row, base, designs_, decided_at, criteria)
        needs = sorted({row.cell + (m,) for row, d, r, f in zip(base, designs_, judged, futile)
                        if r["verdict"] == "inconclusive" and r["n"] > 0 and math.isnan(f) and d
                        and through < len(d.looks) for m in row.needs})
        return None, family, needs
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
            chance = _chance(s.mean, s.sd, design.looks[-1], row.region, alpha)
            if chance < criteria.futility:
                out[i] = look + 1
                break
    return out


def asked(next_wave: list[dict], needs) -> list[dict]:
    """The runs of the next wave (:func:`tkd.grid.wave_runs`) that the open rows ask for: those of
    the chains (dataset, arch, method) they need (:func:`judge`'s ``needs``)."""
    wanted = set(map(tuple, needs))
    return [r for r in next_wave if (r["dataset"], r["arch"], r["method"]) in wanted]


def cell_judge(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria,
               cell: tuple[str, str], design: Design, wave: int, looked=None):
    """One cell's rows after its wave ``wave``, judged as a family of their own on the cell's runs
    (its checkpoint's judgement: it sees no other cell, so no cell waits for another). Returns
    (table of the cell's rows, family, needs); ``looked``: the cell's :func:`rows_at_look` so far."""
    table, family, needs = judge(runs, ensembles, transfer, claims, criteria, {cell: design}, wave, plan=False,
                                 looked=looked)
    mine = [(d, a) == tuple(cell) for d, a in zip(table.dataset, table.arch)]
    return table[mine].reset_index(drop=True), family, needs


def decision(table: pd.DataFrame, wave: int, next_runs: list[dict], needs, runs_so_far: int) -> dict:
    """What a cell's checkpoint writes after its wave ``wave``: stop, or the runs of its next wave."""
    open_rows = table[table.verdict.eq("inconclusive") & table.n.gt(0)]
    return {"wave": wave, "stop": not next_runs, "next_runs": next_runs,
            "chains": [list(c) for c in sorted(set(map(tuple, needs)))], "runs_so_far": runs_so_far,
            "decided": int(table.verdict.isin(DECIDED).sum()), "undecided": len(open_rows),
            "futile": int(table.futile.notna().sum()),
            "undecided_rows": [f"{r.claim} {r.dataset}/{r.arch} {r.metric} ({r.subject} vs {r.reference})"
                               for r in open_rows.itertuples()]}


def final_table(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, criteria: Criteria, planned: dict,
                boundary: float, looks: list[int] | None = None, strict: bool = True, plan: bool = True,
                cache: dict | None = None):
    """The claims table of a grid in waves: every row of every cell judged once, as one family,
    each cell at its ``planned`` waves (or ``looks``) through the last wave its seeds reach
    (:func:`looks_of_runs`). The workflow's paper tables, ``tkd claims --looks``, ``tkd tables`` and
    the planner's emulation all call it. Returns (table, family)."""
    cells, through = looks_of_runs(runs, planned, looks, boundary, strict)
    table, family, _ = judge(runs, ensembles, transfer, claims, criteria, cells, through, plan=plan, cache=cache)
    return table, family


@dataclass
class Emulated:
    """The waves of one grid as the workflow runs them: the final table and family, the wave each
    cell stopped after, and the runs made (with the wave of their cell that asked for them)."""

    table: pd.DataFrame
    family: object
    waves: dict
    runs: pd.DataFrame


def emulate(config: dict, runs: pd.DataFrame, claims: pd.DataFrame, criteria: Criteria,
            cell_designs: dict[tuple[str, str], Design], cache: dict | None = None) -> Emulated:
    """The workflow's waves over ``runs``, a runs table of every run the grid may make (simulated):
    each cell on its own, wave 1's runs, then after each wave the cell's rows judged
    (:func:`cell_judge`) and only the runs its open rows ask for (:func:`asked`) added, until none
    is asked for or its last wave — the steps of the workflow's checkpoint (:func:`tkd.jobs.wave`),
    by the same functions; then the final table (:func:`final_table`). ``cache``: a dict kept across
    emulations of the same ``runs`` (other designs of one simulated grid): see :func:`tkd.statistics.claims.rows_of`."""
    from .. import grid
    from ..grid.waves import Waves

    index = runs.set_index(list(grid.KEYS)).index
    position = dict(zip(index, range(len(index))))

    def rows(keys: list[dict]) -> list[int]:
        return [position[tuple(k[c] for c in grid.KEYS)] for k in keys]

    plan_waves = Waves(config, lambda cell, wave: None)
    if cache is None or not cache.checked:  # checked once here, not again for each wave's subset of it
        cache = RowCache() if cache is None else cache
        from . import runs_table
        from .claims import measures

        runs_table.check(runs, measures=measures(claims)[0])
        cache.checked = True
    made, stopped, wave_of = [], {}, {}
    for cell, looks in plan_waves.cells.items():
        key = ("cell", cell, cell_designs[cell])  # a cell's waves depend on its own design and runs alone
        if key not in cache:
            cache[key] = _emulate_cell(plan_waves, cell, cell_designs[cell], runs, rows, claims, criteria, cache)
        mine, waves_of_cell, stopped[cell] = cache[key]
        made += mine
        wave_of.update(waves_of_cell)
    made = sorted(made)
    present = runs.iloc[made].assign(wave=[wave_of[i] for i in made]).reset_index(drop=True)
    table, family = final_table(present, None, None, claims, criteria, plan_waves.cells, config["paper"]["boundary"],
                                plan=False, cache=cache)
    return Emulated(table, family, stopped, present)


def _emulate_cell(plan_waves, cell, design: Design, runs: pd.DataFrame, rows, claims: pd.DataFrame,
                  criteria: Criteria, cache: RowCache) -> tuple[list[int], dict[int, int], int]:
    """One cell's waves: the positions (in ``runs``) of the runs it makes, the wave that asked for
    each, and the wave after which it stopped."""
    mine = rows(plan_waves.first(cell))
    wave_of = dict.fromkeys(mine, 1)
    looked, wave = [], 0
    while len(design.looks) > 1:
        wave += 1
        present = runs.iloc[sorted(mine)]
        looked.append(rows_at_look(present, None, None, claims, criteria, {cell: design}, wave, cache=cache))
        _, _, needs = judge(present, None, None, claims, criteria, {cell: design}, wave, plan=False, looked=looked,
                            tabulate=False)  # the cell's checkpoint's needs (cell_judge), without its table
        more = asked(plan_waves.next_wave(cell, wave + 1), needs) if wave < len(design.looks) else []
        if not more:
            break
        mine = mine + rows(more)
        wave_of.update(dict.fromkeys(rows(more), wave + 1))
    return mine, wave_of, max(wave, 1)


@functools.lru_cache(maxsize=1 << 14)
def _chance(mean: float, sd: float, most: int, region, alpha: float) -> float:
    """The chance that ``most`` seeds reach either decision, were ``mean`` and ``sd`` the truth
    (cached: a row is judged at the same look after every later wave)."""
    return max(float(power(mean, sd, most, region, alpha, aim)) for aim in ("supported", "against"))
