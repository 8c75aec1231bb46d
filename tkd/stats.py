"""Intervals and verdicts over seeds: the statistics every table and claim uses.

A verdict is one of :data:`VERDICTS`; it can say "no" (*contradicted*) and "we cannot
tell yet" (*inconclusive*, with the number of seeds that would decide it). Intervals
are 95 % Student-t intervals of a mean over seeds; for a comparison of two methods the
values are *paired by seed* first (runs with the same seed share initialisation and data
order), which removes the seed-to-seed variation the two have in common.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as st

__all__ = ["VERDICTS", "MIN_SEEDS", "Verdict", "t_interval", "effect_verdict", "value_verdict", "seeds_needed"]

VERDICTS = ("supported", "contradicted", "inconclusive", "not run")
MIN_SEEDS = 3  # fewer seeds are always inconclusive: a 2-seed t-interval is 12.7 standard errors wide
CONFIDENCE = 0.95
MAX_SEEDS = 1000


@dataclass
class Verdict:
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    verdict: str
    why: str
    seeds_needed: float = math.nan  # seeds for an interval narrow enough to decide (inconclusive only)

    def as_dict(self) -> dict:
        return asdict(self)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) for fewer than two values (no interval exists)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    lo, hi = st.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    return float(lo), float(hi)


def seeds_needed(sd: float, margin: float, confidence: float = CONFIDENCE) -> float:
    """The fewest seeds (>= MIN_SEEDS) whose t-interval half-width, at spread ``sd``, is below
    ``margin``; nan when no number of seeds would do (``margin`` <= 0) or more than MAX_SEEDS."""
    if not margin > 0 or math.isnan(sd):
        return math.nan
    n = np.arange(MIN_SEEDS, MAX_SEEDS + 1)
    narrow = st.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n) < margin  # one scipy call, not one per n
    return float(n[narrow.argmax()]) if narrow.any() else math.nan


def _summary(values) -> tuple[float, float, float, float, int]:
    x = np.asarray(values, dtype=float)
    n = len(x)
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    lo, hi = t_interval(x)
    return (float(x.mean()) if n else math.nan), lo, hi, sd, n


def _too_few(mean, lo, hi, n, sd, margin) -> Verdict:
    why = f"n={n} seed{'s' if n != 1 else ''}: at least {MIN_SEEDS} are needed for an interval that can decide"
    return Verdict(mean, lo, hi, n, "inconclusive", why, seeds_needed(sd, margin))


def effect_verdict(diffs, direction: str, claimed: tuple[float, float] | None = None,
                   tolerance: float = 0.0) -> Verdict:
    """A claimed difference (subject − reference, paired by seed) against our interval.

    ``direction``: ">" (the subject is higher) or "<". ``claimed``: the claimed size as a signed
    range (e.g. (-0.90, -0.90) points), widened by ``tolerance`` on both sides; None where the
    claim states a direction only.

    * supported: the interval excludes zero on the claimed side and meets the claimed size;
    * contradicted: the interval misses the claimed effect (the wrong side of zero, or,
      where a size is claimed, every value within the tolerance of that size);
    * inconclusive: anything else, and always with fewer than MIN_SEEDS seeds.
    """
    sign = 1.0 if direction == ">" else -1.0
    mean, lo, hi, sd, n = _summary(diffs)
    if n == 0:
        return Verdict(math.nan, math.nan, math.nan, 0, "not run", "no paired runs")
    # in claim space the claimed effect is positive: region [r_lo, r_hi]
    if claimed is None:
        r_lo, r_hi, size = 0.0, math.inf, "the claimed direction"
    else:
        a, b = sorted((sign * claimed[0], sign * claimed[1]))
        r_lo, r_hi, size = a - tolerance, b + tolerance, f"the claimed size ±{tolerance:g}"
    u = sign * mean
    # the half-width that would decide: inside the region, excluding 0; outside, missing the region
    margin = u if r_lo <= u <= r_hi else (r_lo - u if u < r_lo else u - r_hi)
    if n < MIN_SEEDS:
        return _too_few(mean, lo, hi, n, sd, margin)
    u_lo, u_hi = sorted((sign * lo, sign * hi))
    meets = (u_hi > 0) if claimed is None else (u_hi >= r_lo and u_lo <= r_hi)  # (0, inf) is open at 0
    if u_lo > 0 and meets:
        return Verdict(mean, lo, hi, n, "supported", f"the interval excludes 0 and meets {size}")
    if not meets:
        return Verdict(mean, lo, hi, n, "contradicted", f"the interval misses {size}")
    return Verdict(mean, lo, hi, n, "inconclusive", "the interval is too wide to decide",
                   seeds_needed(sd, margin))


def value_verdict(values, reported: float, upper: float = math.nan, tolerance: float = 0.0) -> Verdict:
    """A reported absolute number (or range) against our interval of the mean over seeds.

    supported: the whole interval lies within ``tolerance`` of the reported value (range);
    contradicted: none of it does; inconclusive: otherwise, which includes an interval wider
    than the tolerance band, and always fewer than MIN_SEEDS seeds.
    """
    mean, lo, hi, sd, n = _summary(values)
    if n == 0:
        return Verdict(math.nan, math.nan, math.nan, 0, "not run", "no runs of this cell")
    r_lo, r_hi = reported - tolerance, (reported if math.isnan(upper) else upper) + tolerance
    margin = min(mean - r_lo, r_hi - mean) if r_lo <= mean <= r_hi else max(r_lo - mean, mean - r_hi)
    if n < MIN_SEEDS:
        return _too_few(mean, lo, hi, n, sd, margin)
    band = f"the reported value ±{tolerance:g}"
    if r_lo <= lo and hi <= r_hi:
        return Verdict(mean, lo, hi, n, "supported", f"the interval lies within {band}")
    if hi < r_lo or lo > r_hi:
        return Verdict(mean, lo, hi, n, "contradicted", f"the interval lies outside {band}")
    return Verdict(mean, lo, hi, n, "inconclusive", f"the interval is wider than {band} allows, or straddles it",
                   seeds_needed(sd, margin))
