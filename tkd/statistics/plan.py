"""``tkd plan``: before (and while) a grid runs, what each design costs in GPU-hours and calendar
days on your GPUs, what share of the claim rows it decides, and how many seeds each claim row
needs. Runs nothing.

* **Designs** (:mod:`tkd.statistics.designs`): the grid as configured, the fixed design at the waves' most
  seeds, and the waves; with ``--days``, designs that give the slowest architecture fewer, larger
  waves than the others. Each is simulated as the workflow runs it (each cell at its own pace, only
  the chains an open row asks for getting seeds) on ``plan.simulations`` grids per scenario — the
  paper's claims hold (:func:`tkd.statistics.simulate.paper_holds`), and nothing holds — and its runs are
  scheduled on ``--gpus`` GPUs (:mod:`tkd.statistics.schedule`): GPU-hours, days and the share of rows
  decided, each with its Monte-Carlo standard error.
* **GPU-hours of a run**: Snakemake's benchmark files of finished runs of that architecture, else
  its ``runtime`` in the config, labelled as an estimate.
* **Seeds per row**: with two seeds of your runs, the fewest seeds with 80 % power (noncentral t)
  to decide the row at the family level; before that, the first wave by which the simulated waves
  decide it in 80 % of grids where the paper holds (and, ``seeds_if_null``, where nothing holds).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import designs as designs_
from .. import grid, terminal
from .claims import load_claims, rows_of
from .stats import seeds_text

__all__ = ["plan", "render", "Plan"]

COLUMNS = ["claim", "dataset", "arch", "metric", "seeds", "source", "seeds_if_null", "methods", "runs_per_seed",
           "gpu_h_per_run", "gpu_h_source", "gpu_h", "within_budget"]
SCENARIOS = designs_.SCENARIOS
DESIGN_COLUMNS = ["design", "scenario", "gpu_h", "gpu_h_se", "days", "days_se", "decided", "decided_se",
                  "of_fixed_most", "frontier"]


def hours_per_run(config: dict, durations=None) -> dict[str, tuple[float, str]]:
    """GPU-hours of one training run per architecture (a CPU job: its hours), and where the figure
    comes from: the results folder's benchmark files, else the config's runtime (an estimate)."""
    from .schedule import Durations

    durations = durations or Durations.of(config)
    return {arch: (h * slots, where) for arch, (h, slots, where) in durations.train.items()}


def sequential_config(config: dict, chain_days: dict[str, float] | None = None) -> dict:
    """The config with every block of fixed seeds in the waves of ``plan.sequential``, but for the
    architectures whose chain of generations takes longer than ``plan.long_chain_days``: each wave
    of theirs would add as many days, so they run ``plan.sequential``'s most seeds in one wave.
    ``chain_days``: per architecture (default: from its configured runtime)."""
    waves, longest = config["plan"]["sequential"], config["plan"]["long_chain_days"]
    blocks = []
    for b in config["grid"]:
        if grid.wave_count(b["seeds"]) > 1:
            blocks.append(b)
            continue
        days = chain_days or {a: config["archs"][a]["resources"]["runtime"] / 60 * (b["generations"] + 1) / 24
                              for a in b["archs"]}
        long = [a for a in b["archs"] if days[a] > longest]
        short = [a for a in b["archs"] if a not in long]
        blocks += ([dict(b, archs=short, seeds=dict(waves))] if short else []) + \
                  ([dict(b, archs=long, seeds=list(range(waves["max"])))] if long else [])
    return dict(config, grid=blocks)


class Simulated:
    """The waves' outcomes in one scenario as :func:`row_plan` reads them: the rows of the final
    table, which the simulation could test, per grid the wave that decided each row (``decided``)
    and the chains' runs made, and (``fixed``) whether the fixed design at the most seeds decided it."""

    def __init__(self, outcome: designs_.Outcome, rows: list, cells: dict, fixed: designs_.Outcome | None = None):
        self.outcome, self.rows, self.cells = outcome, rows, cells
        self.decided, self.tested, self.made = outcome.waves, list(outcome.tested), outcome.made
        self.fixed = None if fixed is None else ~np.isnan(fixed.waves)

    def share(self, which: np.ndarray) -> tuple[float, float]:
        """The mean share of tested rows decided per grid, and its Monte-Carlo standard error."""
        per_grid = which[:, self.tested].mean(axis=1)
        return float(per_grid.mean()), float(per_grid.std(ddof=1) / math.sqrt(len(per_grid))) \
            if len(per_grid) > 1 else math.nan


def simulate_waves(config: dict, simulations: int, scenario: str, gpus: int | None = None) -> Simulated:
    """The waves of ``config`` (``plan.sequential`` for blocks of fixed seeds) and the fixed design
    at their most seeds, on ``simulations`` grids of ``scenario`` (:func:`tkd.statistics.designs.evaluate`)."""
    from .schedule import Durations
    from .sequential import designs as cell_designs
    from ..grid import waves

    seq = sequential_config(config)
    fixed, waves_ = designs_.base_candidates(config)[1], designs_.base_candidates(seq)[0]
    outcomes = designs_.evaluate(config, [fixed, waves_], simulations, gpus or config["plan"]["gpus"],
                                 Durations.of(config), (scenario,), workers=1)
    return Simulated(outcomes[1], _rows(seq), cell_designs(waves.looks(seq), config["paper"]["boundary"]),
                     outcomes[0])


def _first_look(decided: np.ndarray, looks: tuple, goal: float = 0.8) -> float:
    """The seeds of the first look by which a row is decided in ``goal`` of the grids (inf: none)."""
    share = [np.mean(decided <= w + 1) for w in range(len(looks))]
    return next((looks[w] for w, p in enumerate(share) if p >= goal), math.inf)


def row_plan(config: dict, finished: pd.DataFrame | None, hours: dict, holds: Simulated,
             null: Simulated) -> pd.DataFrame:
    """One line per claim row the grid can test: its seeds for 80 % power and their GPU-hours, and
    the seeds by which the waves call it not reproduced (negligible) in 80 % of grids where nothing
    holds."""
    from .claims import Criteria, finish_table

    rows, cells = holds.rows, holds.cells
    observed = {}
    if finished is not None and len(finished):
        criteria = Criteria.of(config["paper"])
        found = rows_of(finished, None, None, load_claims(config["paper"]["claims"]), criteria)
        table, _ = finish_table(found, criteria.fdr)
        observed = {row.key: r for row, r in zip(found, table.itertuples()) if r.n >= 2}
    gens = {(b["dataset"], a): b["generations"] + 1 for b in config["grid"] for a in b["archs"]}
    out = []
    for i, (row, simulated) in enumerate(zip(rows, holds.tested)):
        if not row.needs or row.cell not in cells:
            continue
        looks = cells[row.cell].looks
        seen = observed.get(row.key)
        if seen is not None:
            seeds, source = float(seen.seeds_needed), f"your runs (n={seen.n}): noncentral t, fixed design"
        elif not simulated:  # the simulation has no ensembles or linear probes
            seeds, source = math.nan, "not simulated (ensembles, probes): planned from your runs once two seeds exist"
        else:
            seeds = _first_look(holds.decided[:, i], looks)
            source = f"simulated, the paper holds ({len(holds.decided)} grids): waves"
        if_null = _first_look(null.decided[:, i], looks) if simulated else math.nan
        per_run, where = hours[row.labels["arch"]]
        runs_per_seed = len(row.needs) * gens[row.cell]
        out.append(dict({k: row.labels[k] for k in ("claim", "dataset", "arch", "metric")}, seeds=seeds,
                        source=source, seeds_if_null=if_null, methods=", ".join(row.needs),
                        runs_per_seed=runs_per_seed, gpu_h_per_run=per_run, gpu_h_source=where,
                        gpu_h=seeds * runs_per_seed * per_run if math.isfinite(seeds) else seeds))
    return pd.DataFrame(out, columns=COLUMNS[:-1])


def budget_rows(table: pd.DataFrame, budget: float) -> pd.Series:
    """Which rows a budget of GPU-hours can expect to decide: cheapest first, each row's chains at its
    seeds, a chain that an earlier row already paid for counted once."""
    spent, paid, within = 0.0, {}, pd.Series(False, index=table.index)
    for i in table.sort_values("gpu_h").index:
        r = table.loc[i]
        if not math.isfinite(r.seeds):  # beyond the waves' most seeds, or not planned yet
            continue
        extra = 0.0
        for m in r.methods.split(", "):
            key = (r.dataset, r.arch, m)
            more = max(0, int(r.seeds) - paid.get(key, 0))
            extra += more * (r.runs_per_seed / len(r.methods.split(", "))) * r.gpu_h_per_run
        if spent + extra <= budget:
            spent += extra
            for m in r.methods.split(", "):
                paid[(r.dataset, r.arch, m)] = max(paid.get((r.dataset, r.arch, m), 0), int(r.seeds))
            within[i] = True
    return within


class Plan:
    """What ``tkd plan`` found: the designs table, the rows table, the outcomes behind them."""

    def __init__(self, rows: pd.DataFrame, designs: pd.DataFrame, outcomes: list, chosen: str | None = None):
        self.rows, self.designs, self.outcomes, self.chosen = rows, designs, outcomes, chosen


def plan(config: dict, budget: float | None = None, simulations: int | None = None,
         finished: pd.DataFrame | None = None, gpus: int | None = None, days: float | None = None,
         progress=None) -> Plan:
    """The plan of ``config``'s grid on ``gpus`` GPUs (default ``plan.gpus``): every design's
    GPU-hours, days and share of rows decided per scenario, with Monte-Carlo standard errors, and
    every claim row's seeds. ``days``: also try the designs of :func:`tkd.statistics.designs.search_candidates`
    and choose the cheapest expected to finish within that many days in both scenarios."""
    from .schedule import Durations
    from .sequential import designs as cell_designs
    from ..grid import waves

    durations = Durations.of(config)
    hours = hours_per_run(config, durations)
    simulations = simulations or config["plan"]["simulations"]
    gpus = gpus or config["plan"]["gpus"]
    candidates = designs_.base_candidates(config)
    if days is not None:
        chain = {a: hours[a][0] * (max(b["generations"] for b in config["grid"] if a in b["archs"]) + 1)
                 for a in grid.archs_used(config)}
        known = {c.specs for c in candidates}
        candidates += [c for c in designs_.search_candidates(config, chain) if c.specs not in known]
    outcomes = designs_.evaluate(config, candidates, simulations, gpus, durations, SCENARIOS,
                                 config["plan"]["latency_hours"], progress)
    table = _designs_table(outcomes)
    chosen = choose(table, days) if days is not None else None
    seq = sequential_config(config)
    cells = cell_designs(waves.looks(seq), config["paper"]["boundary"])
    by = {(o.candidate.name, o.scenario): o for o in outcomes}
    waves_design = next(c.name for c in candidates if c.specs == designs_.base_candidates(seq)[0].specs)
    holds, null = (Simulated(by[(waves_design, s)], _rows(seq), cells) for s in SCENARIOS)
    row_table = row_plan(config, finished, hours, holds, null)
    if budget is not None:
        row_table["within_budget"] = budget_rows(row_table, budget)
    return Plan(row_table, table, outcomes, chosen)


def _criteria(config: dict):
    from .claims import Criteria

    return Criteria.of(config["paper"])


def _rows(config: dict) -> list:
    """The claim rows of a grid (one simulated table of it: which rows exist, their cells and chains)."""
    from . import simulate

    runs = simulate.grid_runs(config, simulate.flat(72.0), rng=np.random.default_rng(0),
                              seeds=[0, 1, 2])
    return rows_of(runs, None, None, load_claims(config["paper"]["claims"]), _criteria(config))


def _designs_table(outcomes: list) -> pd.DataFrame:
    out = []
    for o in outcomes:
        (gpu_h, gpu_h_se), (days, days_se), (decided, decided_se) = (o.mean_se(w) for w in ("gpu_h", "days",
                                                                                           "decided"))
        out.append(dict(design=o.candidate.name, scenario=o.scenario, gpu_h=gpu_h, gpu_h_se=gpu_h_se, days=days,
                        days_se=days_se, decided=decided, decided_se=decided_se, specs=o.candidate.describe()))
    table = pd.DataFrame(out)
    fixed_most = table[table.design == "fixed, most seeds"].set_index("scenario")
    table["of_fixed_most"] = [g / fixed_most.gpu_h[s] for g, s in zip(table.gpu_h, table.scenario)]
    table["frontier"] = False
    for _, part in table.groupby("scenario"):
        table.loc[part.index, "frontier"] = designs_.frontier(part)
    return table


def choose(table: pd.DataFrame, days: float, reference: str = "fixed, most seeds") -> str | None:
    """The cheapest design (expected GPU-hours where the paper holds) expected to finish within
    ``days`` in both scenarios while deciding, in each, the ``reference`` design's share of rows
    less at most 2 points and three of its Monte-Carlo standard errors; None when none does."""
    wide = table.pivot(index="design", columns="scenario", values=["gpu_h", "days", "decided", "decided_se"])
    floor = wide["decided"].loc[reference] - 0.02 - 3 * wide["decided_se"].fillna(0)
    fits = wide[(wide["days"] <= days).all(axis=1) & (wide["decided"] >= floor).all(axis=1)]
    if fits.empty:
        return None
    return str(fits["gpu_h"]["the paper holds"].idxmin())


def _cell(x: float, se: float, fmt: str) -> str:
    if not isinstance(x, float) or math.isnan(x):
        return "–"
    return format(x, fmt) + ("" if math.isnan(se) else f" ± {format(se, fmt)}")


BASE = ("as configured", "fixed, most seeds", "waves")


def short_names(table: pd.DataFrame) -> dict[str, str]:
    """Each design's name in the terminal: the base designs' own, the others D1, D2, ..."""
    others = [d for d in dict.fromkeys(table.design) if d not in BASE]
    return {**{d: d for d in BASE}, **{d: f"D{i + 1}" for i, d in enumerate(others)}}


def designs_text(table: pd.DataFrame, chosen: str | None = None) -> str:
    """The designs table as a terminal shows it (fits 100 columns; tried designs as D1, D2, ...)."""
    names = short_names(table)
    show = pd.DataFrame({
        "design": [f"{names[d]}{' *' if d == chosen else ''}" for d in table.design],
        "scenario": table.scenario.map({"the paper holds": "paper holds", "nothing holds": "null"}),
        "GPU-h": [_cell(x, se, ".0f") for x, se in zip(table.gpu_h, table.gpu_h_se)],
        "days": [_cell(x, se, ".1f") for x, se in zip(table.days, table.days_se)],
        "decided": [_cell(100 * x, 100 * se, ".1f") for x, se in zip(table.decided, table.decided_se)],
        "÷ fixed": table.of_fixed_most.map(lambda x: f"{x:.2f}"),
        "frontier": table.frontier.map({True: "yes", False: ""})})
    return terminal.table(show)


def rows_text(rows: pd.DataFrame) -> str:
    """One line per claim and architecture (its rows folded: the claim is decided there when its
    slowest row is): the seeds it needs and their GPU-hours."""
    from .claims import METRIC_NAMES

    def most(values: pd.Series) -> float:
        return values.max() if values.notna().any() else math.nan

    folded = rows.assign(source=[_source_key(x) for x in rows.source]).groupby(["claim", "arch"], sort=False).agg(
        metric=("metric", lambda m: ", ".join(dict.fromkeys(METRIC_NAMES.get(x, x) for x in m))),
        seeds=("seeds", most), seeds_if_null=("seeds_if_null", most), gpu_h=("gpu_h", most),
        source=("source", lambda x: ", ".join(dict.fromkeys(x)))).reset_index()
    show = pd.DataFrame({
        "claim": folded.claim, "arch": folded.arch, "metric": folded.metric,
        "seeds": folded.seeds.map(lambda x: "–" if math.isnan(x) else seeds_text(x)),
        "if null": folded.seeds_if_null.map(lambda x: "–" if math.isnan(x) else seeds_text(x)),
        "GPU-h": folded.gpu_h.map(lambda x: "–" if not math.isfinite(x) else f"{x:.0f}"),
        "from": folded.source})
    return terminal.table(show)


SOURCES = {"your runs": "your runs: noncentral t at their estimate and spread, fixed design",
           "simulated": "simulated: the first wave by which 80 % of grids simulated as if the paper holds decide "
                        "the row (its sizes, plan.effect where it states none, each architecture's seed_sd)",
           "not simulated": "not simulated (ensembles, probes): planned from your runs once two seeds exist"}


def _source_key(source: str) -> str:
    return next(k for k in SOURCES if source.startswith(k))


def render(result: Plan, gpus: int, simulations: int, budget: float | None = None,
           days: float | None = None, written: list[str] = ()) -> str:
    """``tkd plan``'s answer: the designs first, then the rows, the explanations once at the end."""
    table, rows = result.designs, result.rows
    lines = [f"# Designs on {gpus} GPUs ({simulations} simulated grids per scenario)", "",
             designs_text(table, result.chosen), ""]
    if days is not None:
        lines += [f"* the cheapest expected to finish within {days:g} days in both scenarios, deciding as much as the "
                  f"fixed design (2 points and 3 standard errors less at most): {short_names(table)[result.chosen]}"
                  if result.chosen else f"no design tried is expected to finish within {days:g} days in both scenarios "
                  "and decide as much as the fixed design", ""]
    names = short_names(table)
    named = table.drop_duplicates("design")
    lines += [f"{names[d]}: {spec}" for d, spec in zip(named.design, named.specs)] + [""]
    lines += ["# Seeds each claim needs on each architecture and their GPU-hours (80 % power, slowest row)", "",
              rows_text(rows), ""]
    if budget is not None:
        decided = rows[rows.within_budget]
        lines += [f"A budget of {budget:g} GPU-hours can expect to decide {len(decided)} of {len(rows)} rows: "
                  + (", ".join(f"{r.claim} {r.arch} {r.metric} ({seeds_text(r.seeds)} seeds)"
                               for r in decided.itertuples()) or "none"), ""]
    sources = sorted({_source_key(x) for x in rows.source})
    lines += [f"GPU-h of a run: {_hours_note(rows)}. days: the runs made scheduled on {gpus} GPUs as the workflow "
              "runs them (each cell at its own pace; the ready job with the longest path first). decided: the "
              "share of the simulated rows (not C6, C8) with a verdict; ± one Monte-Carlo standard error; "
              "÷ fixed: GPU-hours over the fixed design at the most seeds; frontier: no design is both cheaper and "
              "sooner.",
              "seeds (from: " + "; ".join(SOURCES[k] for k in sources) + "); if null: the first wave by which the "
              "waves call the row not reproduced in 80 % of grids where nothing holds. Full tables: -o."]
    return "\n".join(_wrap(line) for line in lines)


def _hours_note(rows: pd.DataFrame) -> str:
    per = rows.drop_duplicates("arch")
    return ", ".join(f"{a} {h:.2f} ({w})" for a, h, w in zip(per.arch, per.gpu_h_per_run, per.gpu_h_source))


def _wrap(line: str, width: int = terminal.WIDTH) -> str:
    """Prose wrapped to ``width`` columns; tables (the lines with line breaks) as they are (they are built to fit)."""
    return line if "\n" in line or len(line) <= width else terminal.prose(line, width)
