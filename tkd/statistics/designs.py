"""Designs of a grid, and what each costs and decides: which seeds each architecture runs, all at
once or in waves, priced in GPU-hours and calendar days and judged by the share of claim rows it
decides — each simulated as the workflow runs it (:func:`tkd.statistics.wave_claims.emulate`, each cell at
its own pace) on grids of known truth (:mod:`tkd.statistics.simulate`), and scheduled on the user's GPUs
(:mod:`tkd.statistics.schedule`).

A design (:class:`Candidate`) gives each architecture of the grid its seeds: a list (the fixed
design) or waves ``{start, step, max}``. :func:`base_candidates` are the grid as configured, the
fixed design at the waves' most seeds and the config's waves (``plan.sequential`` for blocks of
fixed seeds); :func:`search_candidates` adds designs that give the slowest architecture fewer,
larger waves (or none) than the others, for ``tkd plan --days``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import grid
from . import schedule, simulate
from ..grid import waves

__all__ = ["Candidate", "Outcome", "base_candidates", "search_candidates", "evaluate", "spec_of", "spec_text",
           "frontier", "scenario_truth", "SCENARIOS"]

SCENARIOS = ("the paper holds", "nothing holds")


def spec_of(seeds) -> tuple:
    """A block's seeds as a hashable spec: ("fixed", seeds...) or ("waves", start, step, max)."""
    if isinstance(seeds, list):
        return ("fixed",) + tuple(seeds)
    return ("waves", seeds["start"], seeds["step"], seeds["max"])


def seeds_of(spec: tuple):
    """The config value of a spec (the inverse of :func:`spec_of`)."""
    if spec[0] == "fixed":
        return list(spec[1:])
    return dict(zip(("start", "step", "max"), spec[1:]))


def spec_text(spec: tuple) -> str:
    """How a spec reads: "fixed 10" (seeds 0..9), "fixed 0,2,5", or "waves 4+1 to 10"."""
    if spec[0] == "fixed":
        seeds = list(spec[1:])
        return f"fixed {len(seeds)}" if seeds == list(range(len(seeds))) else "fixed " + ",".join(map(str, seeds))
    return f"waves {spec[1]}+{spec[2]} to {spec[3]}"


@dataclass(frozen=True)
class Candidate:
    """One design: each architecture's seeds (``specs``: (arch, spec) pairs)."""

    name: str
    specs: tuple

    @property
    def fixed(self) -> bool:
        return all(spec[0] == "fixed" for _, spec in self.specs)

    def config(self, config: dict) -> dict:
        """``config`` with its grid as this design runs it: each enabled block split by the seeds its
        architectures get (an architecture the design does not name keeps its block's)."""
        specs = dict(self.specs)
        blocks = []
        for block in config["grid"]:
            if not grid.block_on(config, block):
                blocks.append(block)
                continue
            groups: dict[tuple, list[str]] = {}
            for arch in block["archs"]:
                groups.setdefault(specs.get(arch, spec_of(block["seeds"])), []).append(arch)
            blocks += [dict(copy.deepcopy(block), archs=archs, seeds=seeds_of(spec)) for spec, archs in groups.items()]
        return dict(config, grid=blocks)

    def describe(self) -> str:
        """Each spec and the architectures that get it."""
        groups: dict[tuple, list[str]] = {}
        for arch, spec in self.specs:
            groups.setdefault(spec, []).append(arch)
        return "; ".join(f"{spec_text(spec)}: {', '.join(archs)}" for spec, archs in groups.items())


def _specs(config: dict, seeds_of_block) -> tuple:
    return tuple((arch, seeds_of_block(block)) for block in config["grid"] if grid.block_on(config, block)
                 for arch in block["archs"])


def base_candidates(config: dict) -> list[Candidate]:
    """The grid as configured, the fixed design at the waves' most seeds, and the waves (each block
    of fixed seeds in ``plan.sequential``'s waves, its long chains in one: :func:`tkd.statistics.plan.sequential_config`)."""
    from .plan import sequential_config

    waves_of = config["plan"]["sequential"]
    most = lambda b: list(range(b["seeds"]["max"] if isinstance(b["seeds"], dict) else waves_of["max"]))  # noqa: E731
    out = [Candidate("as configured", _specs(config, lambda b: spec_of(b["seeds"]))),
           Candidate("fixed, most seeds", _specs(config, lambda b: spec_of(most(b)))),
           Candidate("waves", _specs(sequential_config(config), lambda b: spec_of(b["seeds"])))]
    seen, unique = set(), []
    for c in out:  # a grid already in waves is its own "waves" design
        if c.specs not in seen:
            seen.add(c.specs)
            unique.append(c)
    return unique


def search_candidates(config: dict, chain_hours: dict[str, float]) -> list[Candidate]:
    """Designs for ``tkd plan --days``: the slowest architecture (the longest chain of generations,
    ``chain_hours``) and the others each get one of: every seed in one wave (fixed at the most
    seeds), ``plan.sequential``'s waves, waves of one seed, of two seeds, or two halves."""
    w = config["plan"]["sequential"]
    start, most = w["start"], w["max"]
    options = [("fixed",) + tuple(range(most)), ("waves", start, w["step"], most), ("waves", start, 1, most),
               ("waves", start, 2, most), ("waves", math.ceil(most / 2), most - math.ceil(most / 2), most)]
    options = list(dict.fromkeys(options))
    archs = [a for block in config["grid"] if grid.block_on(config, block) for a in block["archs"]]
    slowest = max(archs, key=lambda a: chain_hours[a])
    out = []
    for rest in options:
        for slow in options:
            specs = tuple((a, slow if a == slowest else rest) for a in archs)
            name = spec_text(rest) if slow == rest else f"{spec_text(rest)}, {slowest} {spec_text(slow)}"
            out.append(Candidate(name, specs))
    return out


def scenario_truth(config: dict, scenario: str):
    """The simulated truth (top-1, confidence) of a scenario: the paper's claims hold
    (:func:`tkd.statistics.simulate.paper_holds` at ``plan.effect``), or nothing holds."""
    if scenario == "the paper holds":
        return simulate.paper_holds(config["methods"], effect=config["plan"]["effect"],
                                    confidence_effect=config["plan"]["confidence_effect"])
    return simulate.flat(72.0), None


@dataclass
class Outcome:
    """One design in one scenario over the simulated grids: per grid the GPU-hours, the calendar
    days on the given GPUs and the share of the testable claim rows it decides; the final tables'
    rows and, per grid and row, the wave that decided it (NaN: never) or whether it was decided."""

    candidate: Candidate
    scenario: str
    gpu_h: np.ndarray
    days: np.ndarray
    decided: np.ndarray
    waves: np.ndarray  # grids x rows
    tested: np.ndarray  # rows
    made: list  # per grid: chain (dataset, arch, method) -> training runs made

    def mean_se(self, what: str) -> tuple[float, float]:
        x = np.asarray(getattr(self, what), float)
        return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def _largest(config: dict, candidates: list[Candidate]) -> dict:
    """A config whose grid holds every run any candidate may make (each block at its most seeds)."""
    most = max(max(seeds_of(spec)["max"] if spec[0] == "waves" else max(spec[1:]) + 1 for _, spec in c.specs)
               for c in candidates)
    return dict(config, grid=[dict(b, seeds=list(range(most))) for b in config["grid"]])


def evaluate(config: dict, candidates: list[Candidate], simulations: int, gpus: int,
             durations: schedule.Durations, scenarios=SCENARIOS, latency: float = 0.0, progress=None,
             workers: int | None = None) -> list[Outcome]:
    """Each candidate in each scenario on ``simulations`` simulated grids (the same grids for every
    candidate: their differences are not noise): the waves emulated as the workflow runs them, the
    runs made scheduled on ``gpus``. Grid ``i`` of a scenario is drawn from a generator seeded by
    (the scenario's place in :data:`SCENARIOS`, i), so the figures do not depend on ``workers``,
    the processes sharing the grids (default: one per CPU), nor on which scenarios are asked for.
    ``progress``: called once per simulated grid."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    global _TASKS
    _TASKS = [_Task(config, candidates, gpus, durations, scenario, SCENARIOS.index(scenario), latency)
              for scenario in scenarios]
    jobs = [(s, i) for s in range(len(scenarios)) for i in range(simulations)]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    found: dict[tuple, list] = {}
    if workers > 1:
        import multiprocessing

        # forked workers inherit the tasks (their truth functions are closures: not picklable)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for job, result in zip(jobs, pool.map(_run, jobs)):
                found[job] = result
                if progress:
                    progress()
    else:
        for job in jobs:
            found[job] = _run(job)
            if progress:
                progress()
    outcomes = []
    for s, scenario in enumerate(scenarios):
        for j, candidate in enumerate(candidates):
            per_grid = [found[(s, i)][j] for i in range(simulations)]
            outcomes.append(Outcome(candidate, scenario, *(np.array([r[k] for r in per_grid]) for k in range(4)),
                                    per_grid[0][4], [r[5] for r in per_grid]))
    return outcomes


_TASKS: list = []
_FIXED_DAYS: dict = {}


def _run(job: tuple[int, int]) -> list[tuple]:
    scenario, i = job
    return _TASKS[scenario](i)


class _Task:
    """One simulated grid's outcome for every candidate: (GPU-hours, days, share decided, each row's
    deciding wave, which rows were tested). A class, so that worker processes can run it."""

    def __init__(self, config, candidates, gpus, durations, scenario, rng_seed, latency):
        from .claims import Criteria, load_claims
        from .sequential import designs

        self.config, self.candidates, self.gpus, self.durations = config, candidates, gpus, durations
        self.scenario, self.rng_seed, self.latency = scenario, rng_seed, latency
        self.truth, self.confidence = scenario_truth(config, scenario)
        self.largest = _largest(config, candidates)
        self.noise = {a: simulate.REGIMES["realistic"].scaled_to(config["archs"][a]["seed_sd"])
                      for a in grid.archs_used(self.largest)}
        self.claims, self.criteria = load_claims(config["paper"]["claims"]), Criteria.of(config["paper"])
        self.configs = [c.config(config) for c in candidates]
        self.cells = [designs(waves.looks(cfg), config["paper"]["boundary"]) for cfg in self.configs]
        self.keys = [{tuple(r[k] for k in grid.KEYS) for r in grid.runs(cfg)} for cfg in self.configs]
        self.hours = {arch: h * slots for arch, (h, slots, _) in durations.train.items()}
        self.fixed_days = {i: self._fixed_days(c, cfg) for i, (c, cfg) in enumerate(zip(candidates, self.configs))
                           if c.fixed}
        for cells in self.cells:  # each design's null curve, simulated once here, not in every worker
            for design in cells.values():
                design.crossing(0.0)

    def _fixed_days(self, candidate: Candidate, cfg: dict) -> float:
        """A fixed design's days: the same in every scenario and grid (computed once per process)."""
        key = (candidate.specs, self.gpus, self.latency, id(self.durations))
        if key not in _FIXED_DAYS:
            _FIXED_DAYS[key] = self._days(pd.DataFrame(grid.runs(cfg)).assign(wave=1), cfg)
        return _FIXED_DAYS[key]

    def _days(self, made: pd.DataFrame, cfg: dict) -> float:
        jobs = schedule.jobs_of(made[list(grid.KEYS) + ["wave"]].to_dict("records"), self.durations,
                                transfer=bool(grid.transfer_chains(cfg, grid.chains(grid.runs(cfg)))))
        return schedule.simulate(jobs, self.gpus, self.latency) / 24

    def __call__(self, i: int) -> list[tuple]:
        from .claims import RowCache, claims_table, measures
        from .runs_table import check
        from .verdicts import DECIDED
        from .wave_claims import emulate

        rng = np.random.default_rng([self.rng_seed, i])
        runs = simulate.grid_runs(self.largest, self.truth, self.noise, rng, self.confidence)
        cache = RowCache()
        check(runs, measures=measures(self.claims)[0])
        cache.checked = True
        index = list(zip(*(runs[k] for k in grid.KEYS)))
        out = []
        for j, (candidate, cfg) in enumerate(zip(self.candidates, self.configs)):
            if candidate.fixed:
                made = runs[[k in self.keys[j] for k in index]]
                table = claims_table(made, claims=self.claims, criteria=self.criteria, plan=False, cache=cache)
                decided_wave = np.where(table.verdict.isin(DECIDED), 1.0, np.nan)
                days = self.fixed_days[j]
            else:
                ran = emulate(cfg, runs, self.claims, self.criteria, self.cells[j], cache)
                made, table, decided_wave = ran.runs, ran.table, ran.table.wave.to_numpy(float)
                days = self._days(made, cfg)
            tested = table.n.gt(0).to_numpy()
            decided = float(np.mean(~np.isnan(decided_wave[tested]))) if tested.any() else math.nan
            chains = made.groupby(["dataset", "arch", "method"]).size().to_dict()
            out.append((float(sum(self.hours[a] for a in made.arch)), days, decided, decided_wave, tested, chains))
        return out


def frontier(points: pd.DataFrame) -> pd.Series:
    """Which designs are on the frontier of a scenario: no other design is at most as costly in
    GPU-hours and days and decides at least as large a share of rows, and is better in one (a design
    that runs fewer seeds is cheaper and sooner, and decides less: it does not hide the others)."""
    on = []
    for i, row in points.iterrows():
        others = points.drop(index=i)
        no_worse = (others.gpu_h <= row.gpu_h) & (others.days <= row.days) & (others.decided >= row.decided)
        better = (others.gpu_h < row.gpu_h) | (others.days < row.days) | (others.decided > row.decided)
        on.append(not (no_worse & better).any())
    return pd.Series(on, index=points.index)
