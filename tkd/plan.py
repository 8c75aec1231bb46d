"""``tkd plan``: before (and while) a grid runs, how many seeds each claim row needs, what that
costs in GPU-hours, and what running the seeds in waves would save. Runs nothing.

* **Seeds per row**: the fewest seeds with 80 % power (noncentral t) to decide the row at the
  family level, were every claim to hold as planned (Benjamini-Hochberg then decides at about
  its per-decision rate, 2.5 %): from the row's own finished runs once two seeds exist, else from
  a prior — the paper's size (the middle of its range) or ``plan.effect`` where it states none,
  and a per-seed difference sd of sqrt(2) x the architecture's ``seed_sd``.
* **GPU-hours of a run**: Snakemake's benchmark files of finished runs of that architecture, else
  its SLURM ``runtime`` in the config, labelled as an estimate.
* **Designs**: the fixed design at the config's seeds and at the waves' most seeds, and the
  sequential one (expected and worst case), by simulating the grid with the noise model of
  :mod:`tkd.simulate` in two scenarios: the paper's claims hold (:func:`tkd.simulate.paper_holds`),
  and nothing holds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import grid, simulate, waves
from .claims import load_claims, rows_of
from .stats import seeds_text

__all__ = ["plan", "render"]

COLUMNS = ["claim", "dataset", "arch", "metric", "seeds", "source", "seeds_if_null", "methods", "runs_per_seed",
           "gpu_h_per_run", "gpu_h_source", "gpu_h", "within_budget"]


def hours_per_run(config: dict, runs: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """GPU-hours of one training run per architecture, and where the figure comes from."""
    out = {}
    for arch in grid.archs_used(config):
        res = config["archs"][arch]["resources"]
        gpus = max(res["gpu"], 1)  # a CPU job: its hours
        done = runs[runs.arch == arch] if len(runs) and "wall_seconds" in runs else pd.DataFrame()
        if len(done) and done.wall_seconds.notna().any():
            out[arch] = (float(done.wall_seconds.mean()) / 3600 * gpus, f"benchmarks ({done.wall_seconds.notna().sum()})")
        else:
            out[arch] = (res["runtime"] / 60 * gpus, "config runtime (estimate)")
    return out


def sequential_config(config: dict) -> dict:
    """The config with every block of fixed seeds in the waves of ``plan.sequential``."""
    waves = config["plan"]["sequential"]
    return dict(config, grid=[dict(b, seeds=b["seeds"] if grid.waves(b["seeds"]) > 1 else dict(waves))
                              for b in config["grid"]])


@dataclass
class Simulated:
    """Simulated grids of one scenario, each run through its waves as the workflow runs them
    (:func:`tkd.wave_claims.emulate`): per grid, the wave at which each claim row was decided
    (NaN: never), whether the fixed design at the waves' most seeds decides it, and the training
    runs the waves made per architecture."""

    rows: list
    tested: list[bool]
    decided: np.ndarray  # grids x rows: the wave of the decision
    fixed: np.ndarray  # grids x rows: decided by the fixed design at the most seeds
    made: list[dict]  # per grid: chain (dataset, arch, method) -> training runs made
    cells: dict

    def share(self, which: np.ndarray) -> tuple[float, float]:
        """The mean share of tested rows decided per grid, and its Monte-Carlo standard error."""
        per_grid = which[:, self.tested].mean(axis=1)
        return _mean_se(per_grid)


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def scenario_truth(config: dict, scenario: str):
    """The simulated truth (top-1, confidence) of a scenario: the paper's claims hold
    (:func:`tkd.simulate.paper_holds` at ``plan.effect``), or nothing holds."""
    if scenario == "the paper holds":
        return simulate.paper_holds(config["methods"], effect=config["plan"]["effect"],
                                    confidence_effect=config["plan"]["confidence_effect"])
    return simulate.flat(72.0), None


def simulate_waves(config: dict, simulations: int, scenario: str, rng_seed: int = 0) -> Simulated:
    """Simulated grids of the sequential design, each run through its waves as the workflow runs
    them: only the chains an open row asks for get the next wave's seeds, futility included, and
    each row is judged on the seeds it has (:func:`tkd.wave_claims.emulate`). Beside it, the fixed
    design at the waves' most seeds, on every run of the same grid."""
    from .claims import Criteria, claims_table
    from .sequential import designs
    from .wave_claims import emulate
    from .verdicts import DECIDED

    seq = sequential_config(config)
    cells = designs(waves.looks(seq), config["paper"]["boundary"])
    truth, confidence = scenario_truth(config, scenario)
    noise = {a: simulate.REGIMES["realistic"].scaled_to(config["archs"][a]["seed_sd"]) for a in grid.archs_used(seq)}
    claims, rng = load_claims(config["paper"]["claims"]), np.random.default_rng(rng_seed)
    criteria = Criteria.of(config["paper"])
    decided, fixed, made, rows, tested = [], [], [], None, None
    for _ in range(simulations):
        runs = simulate.grid_runs(seq, truth, noise, rng, confidence)
        waves_run = emulate(seq, runs, claims, criteria, cells)
        at_most = claims_table(runs, claims=claims, criteria=criteria, plan=False)
        if rows is None:
            rows = rows_of(runs, None, None, claims, criteria)
            tested = at_most.n.gt(0).tolist()
        decided.append(waves_run.table.wave.to_numpy(float))
        fixed.append(at_most.verdict.isin(DECIDED).to_numpy())
        made.append(waves_run.runs.groupby(["dataset", "arch", "method"]).size().to_dict())
    return Simulated(rows, tested, np.array(decided), np.array(fixed), made, cells)


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


def plan(config: dict, budget: float | None = None, simulations: int | None = None,
         finished: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, designs): the plan of every claim row, and each design's GPU-hours and share of
    rows decided per scenario, with Monte-Carlo standard errors."""
    hours = hours_per_run(config, finished if finished is not None else pd.DataFrame())
    simulations = simulations or config["plan"]["simulations"]
    cost = lambda made: sum(n * hours[chain[1]][0] for chain, n in made.items())  # noqa: E731
    worst = sum(hours[r["arch"]][0] for r in grid.runs(sequential_config(config)))
    designs_ = [dict(design="fixed, the config's seeds", scenario="any",
                     gpu_h=sum(hours[r["arch"]][0] for r in grid.runs(config)))]
    simulated = {scenario: simulate_waves(config, simulations, scenario) for scenario in SCENARIOS}
    for scenario, sim in simulated.items():
        share, share_se = sim.share(sim.fixed)
        designs_.append(dict(design="fixed, the waves' most seeds", scenario=scenario, gpu_h=worst, decided=share,
                             decided_se=share_se))
    for scenario, sim in simulated.items():
        spent, spent_se = _mean_se([cost(t) for t in sim.made])
        share, share_se = sim.share(~np.isnan(sim.decided))
        designs_.append(dict(design="sequential, expected", scenario=scenario, gpu_h=spent, gpu_h_se=spent_se,
                             decided=share, decided_se=share_se))
    designs_.append(dict(design="sequential, worst case", scenario="any", gpu_h=worst))
    costs = pd.DataFrame(designs_, columns=DESIGN_COLUMNS)
    costs["of_fixed_most"] = costs.gpu_h / worst
    table = row_plan(config, finished, hours, simulated["the paper holds"], simulated["nothing holds"])
    if budget is not None:
        table["within_budget"] = budget_rows(table, budget)
    return table, costs


SCENARIOS = ("the paper holds", "nothing holds")
DESIGN_COLUMNS = ["design", "scenario", "gpu_h", "gpu_h_se", "decided", "decided_se"]


def _cell(x: float, se: float, fmt: str) -> str:
    if not isinstance(x, float) or math.isnan(x):
        return "–"
    return format(x, fmt) + ("" if math.isnan(se) else f" ± {format(se, fmt)}")


def _designs_text(costs: pd.DataFrame) -> str:
    show = pd.DataFrame({
        "design": costs.design, "scenario": costs.scenario,
        "gpu_h": [_cell(x, se, ".0f") for x, se in zip(costs.gpu_h, costs.gpu_h_se)],
        "decided": [_cell(x, se, ".1%") for x, se in zip(costs.decided, costs.decided_se)],
        "of_fixed_most": costs.of_fixed_most.map(lambda x: f"{x:.2f}")})
    return show.to_markdown(index=False, disable_numparse=True)  # keep the formats above


def render(rows: pd.DataFrame, costs: pd.DataFrame, budget: float | None = None) -> str:
    show = rows.assign(seeds=rows.seeds.map(lambda x: "–" if math.isnan(x) else seeds_text(x)),
                       seeds_if_null=rows.seeds_if_null.map(lambda x: "–" if math.isnan(x) else seeds_text(x)),
                       gpu_h_per_run=rows.gpu_h_per_run.map(lambda x: f"{x:.2f}"),
                       gpu_h=rows.gpu_h.map(lambda x: "–" if not math.isfinite(x) else f"{x:.1f}"))
    cols = [c for c in COLUMNS if c in show and c not in ("runs_per_seed",)]
    lines = ["# Seeds each claim row needs (80 % power at the family level) and their GPU-hours", "",
             show[cols].to_markdown(index=False, disable_numparse=True), "",
             "seeds: where the row has no two seeds of your runs yet, the first wave by which it is decided in 80 % of "
             "grids simulated as if the paper holds (its sizes, plan.effect where it states none, each "
             "architecture's seed_sd); with your runs, the seeds for 80 % power at their estimate and spread. "
             "gpu_h: the row's methods at its seeds (the designs below pay a chain shared by rows once).", "",
             "seeds_if_null: the first wave by which the row is decided (negligible or contradicted) in 80 % of "
             "grids simulated with no effect anywhere.", "",
             "# GPU-hours and rows decided of each design", "", _designs_text(costs), "",
             "± one Monte-Carlo standard error over the simulated grids; decided: the share of the simulated rows "
             "(not C6, C8) with a verdict other than inconclusive; of_fixed_most: GPU-hours over the fixed design "
             "at the waves' most seeds."]
    if budget is not None:
        decided = rows[rows.within_budget]
        lines += ["", f"# A budget of {budget:g} GPU-hours can expect to decide {len(decided)} of {len(rows)} rows", "",
                  "\n".join(f"- {r.claim} {r.dataset}/{r.arch} {r.metric}: {seeds_text(r.seeds)} seeds"
                            for r in decided.itertuples()) or "- none"]
    return "\n".join(lines)
