"""Seeds on demand: the claims table judged after every wave of seeds, valid under early stopping.

A sequential block of the grid (``seeds: {start: 3, step: 2, max: 10}``) runs its seeds in
waves: seeds 0..start-1 first, then ``step`` more per wave up to ``max``. After each wave the
claims are judged; the next wave runs only the chains (dataset, arch, method) that an undecided
row needs, and the grid stops once every row is decided or at ``max``.

Judging after every wave with the fixed design's intervals, and stopping at the first decision,
decides wrongly more often than the fixed design says (every look is another chance; the tests
measure it). So each row's test is **group-sequential**, with an O'Brien-Fleming boundary: on
the scale of B-values (``z_k * sqrt(t_k)``, ``t_k`` the share of the block's ``max`` seeds at look
k) the boundary is one constant ``c`` at every look, very strict early and close to the fixed
design's at the last look (so power at ``max`` is nearly the fixed design's). A row's evidence
after look k is its **repeated p-value**: the probability, with no effect, that the largest
B-value over the planned looks reaches the largest one seen so far (Jennison & Turnbull 2000,
ch. 9); it is valid whenever the row stops, and the claims table is then judged as a family on
these p-values exactly as a fixed table is (:mod:`tkd.verdicts`). A t-statistic's p-value is
turned into z before it enters (the usual approximation for an unknown variance; the simulated
grids of the tests check the family's error under it). The probabilities come from scipy's
multivariate normal distribution (Genz's algorithm), computed once per design.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as st

from .stats import MIN_SEEDS, Region, Sample, p_values
from .verdicts import Track

__all__ = ["Design", "SequentialTrack", "designs", "evidence", "samples_by_look", "judge"]

_C = np.linspace(-1.0, 8.0, 91)  # the B-value boundaries on which crossing probabilities are computed


@dataclass(frozen=True)
class Design:
    """The planned looks of a block: how many seeds each look has (one look: the fixed design)."""

    looks: tuple[int, ...]

    @property
    def t(self) -> np.ndarray:
        return np.asarray(self.looks, float) / self.looks[-1]

    def crossing(self, c: float) -> float:
        """P(some look's B-value reaches ``c``) with no effect."""
        if len(self.looks) == 1:
            return float(st.norm.sf(c))
        if c > _C[-1]:  # far in the tail: the union bound is exact to double precision
            return float(st.norm.sf(c / np.sqrt(self.t)).sum())
        return float(np.exp(np.interp(c, _C, _log_crossing(self.looks))))

    def boundary(self, alpha: float) -> float:
        """The B-value boundary ``c`` whose crossing probability is ``alpha``."""
        if len(self.looks) == 1:
            return float(st.norm.isf(alpha))
        logs = _log_crossing(self.looks)
        if math.log(alpha) < logs[-1]:
            from scipy.optimize import brentq

            return float(brentq(lambda c: self.crossing(c) - alpha, _C[-1], 40.0))
        return float(np.interp(math.log(alpha), logs[::-1], _C[::-1]))

    def nominal(self, alpha: float, look: int) -> float:
        """The one-sided level at look ``look`` (0-based) of the boundary for family level ``alpha``."""
        return float(st.norm.sf(self.boundary(alpha) / math.sqrt(self.t[look])))

    def repeated_p(self, z: list[float]) -> float:
        """The repeated p-value of z-statistics at the first ``len(z)`` looks."""
        b = np.asarray(z, float) * np.sqrt(self.t[: len(z)])
        return self.crossing(float(np.max(b)))


@functools.lru_cache(maxsize=32)
def _log_crossing(looks: tuple[int, ...]) -> np.ndarray:
    """log P(max_k B(t_k) >= c) on the grid ``_C``: the sum over k of P(B below c before k, above at k),
    each a rectangle probability of a multivariate normal computed directly (small numbers keep
    their precision)."""
    t = np.asarray(looks, float) / looks[-1]
    cov = np.minimum.outer(t, t)
    rng = np.random.default_rng(0)  # Genz's algorithm is quasi-random: fixed, the curve is reproducible
    out = []
    for c in _C:
        total = float(st.norm.sf(c / math.sqrt(t[0])))
        for k in range(2, len(t) + 1):
            flip = cov[:k, :k].copy()
            flip[-1, :] *= -1
            flip[:, -1] *= -1
            upper = np.full(k, c)
            upper[-1] = -c
            total += st.multivariate_normal.cdf(upper, np.zeros(k), flip, abseps=1e-14, releps=1e-3,
                                                maxpts=2000 * k, rng=rng)
        out.append(math.log(max(total, 1e-300)))
    return np.minimum.accumulate(np.array(out))  # monotone in c, whatever the quasi-random error


# --------------------------------------------------------------------------- the grid's waves
def designs(looks: dict[str, list[int]]) -> dict[tuple[str, str], Design]:
    """The design of every cell, from :func:`tkd.grid.looks` ("dataset/arch" -> seeds per wave)."""
    return {tuple(cell.split("/")): Design(tuple(n)) for cell, n in looks.items()}


# --------------------------------------------------------------------------- judging after a wave
@dataclass
class SequentialTrack(Track):
    """A row's samples at each look so far, and its repeated p-values."""

    design: Design = None
    samples: list = field(default_factory=list)  # Sample (or None) at each look
    best: dict = field(default_factory=dict)  # kind -> the look where its evidence was strongest

    @classmethod
    def of(cls, samples: list[Sample | None], z: dict[str, np.ndarray], design: Design) -> "SequentialTrack | None":
        """The track of a row's ``samples`` at its looks so far, with the z-statistics of each
        decision at those looks (:func:`evidence`); None while no look can decide."""
        if not any(s is not None and s.n >= MIN_SEEDS for s in samples):
            return None
        b = {kind: v[: len(samples)] * np.sqrt(design.t[: len(samples)]) for kind, v in z.items()}
        best = {kind: int(np.argmax(v)) for kind, v in b.items()}
        p = (design.crossing(float(b["supported"].max())), design.crossing(float(b["contradicted"].max())))
        latest = next(s for s in reversed(samples) if s is not None)
        return cls(latest, p, design, list(samples), best)

    def shown(self, kind: str | None) -> Sample:
        return self.latest if kind is None else self.samples[self.best[kind]]

    def nominal(self, alpha: float, kind: str | None) -> float:
        look = len(self.samples) - 1 if kind is None else self.best[kind]
        return self.design.nominal(alpha, look)


def evidence(samples: list[Sample | None], region: Region) -> dict[str, np.ndarray]:
    """The z-statistic of each decision at each look (a look that cannot decide counts as none)."""
    p = np.array([p_values(s, region) if s is not None and s.n >= MIN_SEEDS else (1.0, 1.0) for s in samples])
    z = st.norm.isf(p)
    return {"supported": z[:, 0], "contradicted": z[:, 1]}


def _at_look(frame: pd.DataFrame | None, seeds: dict[tuple, int]) -> pd.DataFrame | None:
    """The rows of ``frame`` whose seed was run by the look (``seeds``: cell -> seeds at that look)."""
    if frame is None or frame.empty:
        return frame
    limit = np.array([seeds.get((d, a), 0) for d, a in zip(frame.dataset, frame.arch)])
    return frame[frame.seed.to_numpy() < limit]


def samples_by_look(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, tolerance: float,
                    cell_designs: dict[tuple[str, str], Design], through: int):
    """The claims table's rows, and each row's sample at every look 1..``through`` (the seeds each
    cell had by then), with the regions the claims make."""
    from .claims import rows_of

    per_look, regions, base = [], None, None
    for look in range(through):
        seeds = {cell: d.looks[min(look, len(d.looks) - 1)] for cell, d in cell_designs.items()}
        rows, samples, regions = rows_of(_at_look(runs, seeds), _at_look(ensembles, seeds),
                                         _at_look(transfer, seeds), claims, tolerance)
        if base is not None and [r["key"] for r in rows] != [r["key"] for r in base]:
            raise ValueError(f"the claims table's rows differ between waves 1 and {look + 1}")
        per_look.append(samples)
        base = rows
    return base, per_look, regions


def judge(runs: pd.DataFrame, ensembles, transfer, claims: pd.DataFrame, tolerance: float, fdr: float,
          cell_designs: dict[tuple[str, str], Design], through: int, plan: bool = True, looked=None):
    """The claims table after wave ``through``: every row judged on its repeated p-values, with the
    wave at which it was decided. Returns (table, family, needs): ``needs`` lists the
    (dataset, arch, method) chains that the undecided rows need, where their cell has more waves.
    ``looked``: what :func:`samples_by_look` returns for these arguments, when the caller has it."""
    from .claims import finish_table

    base, per_look, regions = looked or samples_by_look(runs, ensembles, transfer, claims, tolerance, cell_designs,
                                                        through)
    cells = [(r["dataset"], r["arch"]) for r in base]
    looks = [len(cell_designs[cell].looks) if cell in cell_designs else 0 for cell in cells]
    by_row = [[samples[i] for samples in per_look][: looks[i]] for i in range(len(base))]
    z = [evidence(row, region) if looks[i] else None for i, (row, region) in enumerate(zip(by_row, regions))]

    def tracks_at(look: int) -> list:
        return [None if not looks[i] else SequentialTrack.of(by_row[i][: look + 1], z[i], cell_designs[cell])
                for i, cell in enumerate(cells)]

    decided_at = _decided_at(tracks_at, per_look, regions, fdr)
    table, family = finish_table(base, per_look[-1], regions, fdr, plan, tracks_at(through - 1))
    table["wave"] = decided_at
    undecided = table.verdict.eq("inconclusive") & table.n.gt(0)
    needs = sorted({(d, a, m) for (d, a), row, open_, k in zip(cells, base, undecided, looks)
                    if open_ and through < k for m in row.get("needs", [])})
    return table, family, needs


def _decided_at(tracks_at, per_look, regions, fdr: float) -> list[float]:
    """The first wave at which each row's verdict was reached (NaN: undecided)."""
    from .verdicts import judge_table

    first = [math.nan] * len(regions)
    for look in range(len(per_look)):
        rows, _ = judge_table(per_look[look], regions, fdr, plan=False, tracks=tracks_at(look))
        for i, row in enumerate(rows):
            if math.isnan(first[i]) and row["verdict"] in ("supported", "contradicted"):
                first[i] = look + 1
    return first


def trainings(rows: list[dict], decided_at, cell_designs: dict[tuple[str, str], Design],
              generations: dict[tuple[str, str], int]) -> dict[tuple, int]:
    """The training runs each chain (dataset, arch, method) makes in waves: a chain gets a wave while
    any tested row that needs it is undecided (``decided_at``: each row's wave, NaN undecided;
    None for a row that cannot be tested). ``generations``: runs per seed of each cell."""
    last: dict[tuple, int] = {}
    for row, wave in zip(rows, decided_at):
        cell = (row["dataset"], row["arch"])
        if wave is None or cell not in cell_designs or not row.get("needs"):
            continue
        w = len(cell_designs[cell].looks) if math.isnan(wave) else int(wave)
        for method in row["needs"]:
            last[cell + (method,)] = max(last.get(cell + (method,), 1), w)
    return {chain: cell_designs[chain[:2]].looks[w - 1] * generations[chain[:2]] for chain, w in last.items()}
