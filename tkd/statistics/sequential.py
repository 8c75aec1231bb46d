"""Seeds on demand, the statistics: one row's group-sequential tests, valid under early stopping.

A sequential block of the grid (``seeds: {start: 4, step: 2, max: 10}``) runs its seeds in
waves: seeds 0..start-1 first, then ``step`` more per wave up to ``max``. After each wave the
claims are judged; the next wave runs only the chains (dataset, arch, method) that an undecided
row needs, and the grid stops once every row is decided or at ``max``.

Judging after every wave with the fixed design's intervals, and stopping at the first decision,
decides wrongly more often than the fixed design says (every look is another chance; the tests
measure it). So each row's two decisions — "supported", and "against" (not reproduced: below the
smallest effect worth claiming, or outside a sized claim's band; :mod:`tkd.statistics.stats`) — are each
**group-sequential** tests with a boundary of their own, computed as if the other did not exist
(so each is conservative, and stopping for futility costs no power control). The boundary is of
the Wang–Tsiatis family: at look k the statistic ``z_k * t_k ** (0.5 - shape)`` (``t_k``, the
share of the block's ``max`` seeds) is held against one constant ``c``; ``shape`` 0 is
O'Brien–Fleming (strict early, close to the fixed design at the last look), 0.5 Pocock (the same
z at every look). A row's evidence after look k is its **repeated p-value**: the probability,
with no effect, that this statistic's largest value over the planned looks reaches the largest
one seen so far (Jennison & Turnbull 2000, ch. 9); valid whenever the row stops. The claims
table built on these tracks, wave by wave, is :mod:`tkd.statistics.wave_claims`.

Each look's ``z_k`` is the normal quantile of that look's exact one-sided t-test p-value. The
looks' t-statistics are less correlated than Brownian motion assumes, so the crossing probability
is not borrowed from it: under Gaussian per-seed values the joint law of the looks' t-statistics
does not depend on the sd, so it is **simulated once per design** (seeded, cached: 400,000
paths) and the crossing probability read off it; beyond the simulated tail (below about 1e-4) a
union bound over the looks, scaled to meet the simulation, takes over. Rows whose statistic is
not a plain t-test (a sized claim's two one-sided tests, a cross-fitted row's bootstrap) use the
same curve; the family errors measured on simulated grids (docs/analyses.md) are what bounds them.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special
from scipy import stats as st
from scipy.special import logsumexp

from .stats import MIN_SEEDS, Region, Sample, p_values
from .verdicts import Track

__all__ = ["Design", "SequentialTrack", "designs", "evidence"]

PATHS = 400_000  # simulated null paths per design
_TAIL = 40  # below this many simulated crossings, the scaled union bound


@dataclass(frozen=True)
class Design:
    """The planned looks of a block: how many seeds each look has (one look: the fixed design),
    and the boundary's Wang–Tsiatis ``shape``."""

    looks: tuple[int, ...]
    shape: float = 0.0

    @property
    def t(self) -> np.ndarray:
        return np.asarray(self.looks, float) / self.looks[-1]

    @property
    def weights(self) -> np.ndarray:
        """What each look's z is multiplied by before the largest is taken."""
        return self.t ** (0.5 - self.shape)

    def crossing(self, c: float) -> float:
        """P(some look's weighted z reaches ``c``) with no effect, for t-statistics of Gaussian values
        (cached: the waves judge the same rows at the same looks again and again)."""
        return _crossing(self, float(c))

    def _crossing(self, c: float) -> float:
        if len(self.looks) == 1:
            return float(special.ndtr(-c))
        top = _null_maxima(self.looks, self.shape)
        count = len(top) - np.searchsorted(top, c, side="left")
        if count >= _TAIL:
            return float(count / len(top))
        return math.exp(self._log_tail(c))

    def _log_tail(self, c: float) -> float:
        """log P(crossing ``c``) beyond the simulated tail: the union bound over the looks, scaled to
        meet the simulation where it still has _TAIL crossings (logs: tiny levels keep their precision)."""
        top = _null_maxima(self.looks, self.shape)
        edge = top[-_TAIL]
        return self._log_union(c) + math.log(_TAIL / len(top)) - self._log_union(edge)

    def _log_union(self, c: float) -> float:
        return float(logsumexp(st.norm.logsf(c / self.weights)))

    def boundary(self, alpha: float) -> float:
        """The constant ``c`` whose crossing probability is ``alpha`` (cached: a table asks often)."""
        return _boundary(self, float(alpha))

    def _boundary(self, alpha: float) -> float:
        if len(self.looks) == 1:
            return float(-special.ndtri(alpha))
        top = _null_maxima(self.looks, self.shape)
        if alpha * len(top) >= _TAIL:
            return float(top[int(math.ceil(len(top) * (1 - alpha)))])
        from scipy.optimize import brentq

        return float(brentq(lambda c: self._log_tail(c) - math.log(alpha), top[-_TAIL], 60.0))

    def weight(self, seeds) -> np.ndarray:
        """The weight of a look at which a row has ``seeds`` seeds: its information share, its seeds
        over the design's most, to the power 0.5 - shape. A planned look's weight is
        :attr:`weights`; a row whose chains stopped getting seeds keeps the weight of the seeds it
        has, so the same seeds judged again are the same evidence."""
        return (np.asarray(seeds, float) / self.looks[-1]) ** (0.5 - self.shape)

    def nominal(self, alpha: float, look: int, seeds: int | None = None) -> float:
        """The one-sided level at look ``look`` (0-based) of the boundary for family level ``alpha``
        (on the z scale: the t-test at that look is then read at this level); ``seeds``: the row's
        seeds there, where they differ from the look's planned number."""
        weight = self.weights[look] if seeds is None else float(self.weight(seeds))
        return float(special.ndtr(-self.boundary(alpha) / weight))

    def repeated_p(self, z: list[float]) -> float:
        """The repeated p-value of z-statistics at the first ``len(z)`` looks."""
        return self.crossing(float(np.max(np.asarray(z, float) * self.weights[: len(z)])))


@functools.lru_cache(maxsize=4096)
def _boundary(design: Design, alpha: float) -> float:
    return design._boundary(alpha)


@functools.lru_cache(maxsize=1 << 16)
def _crossing(design: Design, c: float) -> float:
    return design._crossing(c)


@functools.lru_cache(maxsize=32)
def _null_maxima(looks: tuple[int, ...], shape: float, paths: int = PATHS) -> np.ndarray:
    """The largest weighted z over the looks, sorted, for ``paths`` simulated rows of standard
    Gaussian per-seed values (seeded: the same curve in every process). Each look's z is the
    normal quantile of its exact one-sided t-test p-value; a look with fewer than MIN_SEEDS
    seeds cannot decide and counts as none."""
    rng = np.random.default_rng(20190127)
    n = np.asarray(looks)
    weights = (n / n[-1]) ** (0.5 - shape)
    out = []
    for chunk in np.array_split(np.arange(paths), max(1, paths // 100_000)):
        x = rng.standard_normal((len(chunk), n[-1]))
        s1, s2 = np.cumsum(x, axis=1)[:, n - 1], np.cumsum(x * x, axis=1)[:, n - 1]
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 - n * mean ** 2, 1e-300) / np.maximum(n - 1, 1))
        t = mean / (sd / np.sqrt(n))
        z = st.norm.isf(st.t.sf(t, np.maximum(n - 1, 1)))
        z = np.where(n >= MIN_SEEDS, z, -np.inf)
        out.append((z * weights).max(axis=1))
    return np.sort(np.concatenate(out))


# --------------------------------------------------------------------------- the grid's waves
def designs(looks, shape: float = 0.0) -> dict[tuple[str, str], Design]:
    """The design of every cell: ``looks`` is :func:`tkd.grid.waves.looks` (cell -> seeds per wave) or its
    records (:func:`tkd.grid.waves.looks_param`, as a rule's params hold it)."""
    from ..grid.waves import from_param

    cells = from_param(looks) if isinstance(looks, list) else looks
    return {cell: Design(tuple(n), shape) for cell, n in cells.items()}


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
        decision at those looks (:func:`evidence`); None while no look can decide. Each look's z is
        weighted by the seeds the row has there (:meth:`Design.weight`), not by the look's planned
        seeds: a row whose chains stopped gains no evidence from looks that added none of its seeds."""
        if not any(s is not None and s.n >= MIN_SEEDS for s in samples):
            return None
        weights = design.weight([s.n if s is not None else 0 for s in samples])
        with np.errstate(invalid="ignore"):
            b = {kind: np.where(v[: len(samples)] > -np.inf, v[: len(samples)] * weights, -np.inf)
                 for kind, v in z.items()}
        best = {kind: int(np.argmax(v)) for kind, v in b.items()}
        p = (design.crossing(float(b["supported"].max())), design.crossing(float(b["against"].max())))
        latest = next(s for s in reversed(samples) if s is not None)
        return cls(latest, p, design, list(samples), best)

    def shown(self, kind: str | None) -> Sample:
        return self.latest if kind is None else self.samples[self.best[kind]]

    def nominal(self, alpha: float, kind: str | None) -> float:
        look = len(self.samples) - 1 if kind is None else self.best[kind]
        return self.design.nominal(alpha, look, self.shown(kind).n)


def evidence(samples: list[Sample | None], region: Region) -> dict[str, np.ndarray]:
    """The z-statistic of each decision at each look (a look that cannot decide counts as none)."""
    p = np.array([p_values(s, region) if s is not None and s.n >= MIN_SEEDS else (1.0, 1.0) for s in samples])
    z = -special.ndtri(p)  # scipy's norm.isf, without its per-call checks
    return {"supported": z[:, 0], "against": z[:, 1]}
