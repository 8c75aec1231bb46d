"""One row's statistics: a sample of per-seed values, the region the paper claims, the interval,
the p-values of the two decisions, the three-way verdict and the power of more seeds.

A row is one comparison (per-seed differences, subject − reference) or one reported number
(per-seed values). What the paper says is a :class:`Region` in *claim space* (values times the
claim's sign, so that the claimed side is positive): ``(0, inf)`` for a direction, the claimed
size widened by the tolerance and cut at 0 for a sized claim, the reported value (or range)
widened by the tolerance for a number. With the Student-t interval of the mean at level
1 − 2·alpha:

* **supported**: the whole interval lies inside the region;
* **contradicted**: the whole interval lies outside it (a direction claim: the wrong side of 0);
* **negligible** (a direction claim only): the whole interval lies below the smallest effect
  worth claiming, ``delta`` (:attr:`Region.delta`), but not below 0 — the effect may be there,
  but it is too small to be the paper's claim;
* **inconclusive**: none of these, always with fewer than :data:`MIN_SEEDS` values, and always
  when every value is the same (no spread to judge by: copied runs, or seeds that are not).

Precedence: contradicted > negligible > supported > inconclusive ("negligible (positive, < δ)"
when the interval is also above 0). "Not reproduced" means contradicted or negligible.

Each decision has a p-value, the smallest alpha at which the interval makes it, so a table
can be judged as a family (:mod:`tkd.statistics.verdicts`): "supported", and "against" — the one-sided
test of mu >= delta for a direction claim (contradicted or negligible), outside the region
otherwise. One row alone uses alpha = 0.025 per decision, the 95 % interval. The per-seed
standard deviation is never taken below a floor (one test image's worth of the quantity;
:data:`DEFAULT_FLOOR` where none is given): accuracies are quantised.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as st

__all__ = ["VERDICTS", "DIRECTIONS", "SIZES", "MIN_SEEDS", "ALPHA", "POWER", "MAX_SEEDS", "Sample", "Region",
           "Verdict", "sample", "interval", "p_values", "judge", "power", "seeds_needed", "seeds_text",
           "effect_verdict", "value_verdict", "t_interval", "AGAINST", "DEFAULT_FLOOR", "shape", "skewness",
           "table_shape", "SHAPE_MIN_SEEDS"]

VERDICTS = ("supported", "contradicted", "negligible", "inconclusive", "not run")
AGAINST = ("contradicted", "negligible")  # "not reproduced": the verdicts of the "against" decision
DIRECTIONS = ("supported", "contradicted", "inconclusive")  # the direction part of a sized claim
SIZES = ("consistent", "smaller", "larger", "undetermined")  # its size part, against the paper's
MIN_SEEDS = 3  # fewer values are always inconclusive: a 2-seed t-interval is 12.7 standard errors wide
ALPHA = 0.025  # one row alone: each decision at 2.5 %, i.e. the two-sided 95 % interval
POWER = 0.8  # seeds are planned for this probability of reaching the decision
MAX_SEEDS = 100  # beyond this, "> 100"
DEFAULT_FLOOR = 0.01  # points: one image of a 10,000-image test set, the public functions' default floor
_NCP_CAP = 60.0  # a noncentrality beyond which power is 0 or 1 to double precision


@dataclass(frozen=True)
class Sample:
    """Per-seed values summarised: mean, standard deviation (raised to the floor) and count."""

    mean: float
    sd: float
    n: int
    raw_sd: float = math.nan  # before the floor
    shape: str = ""  # why the values may not be Gaussian enough for a t-interval ("": no sign of it), :func:`shape`
    skewness: float = math.nan  # their sample skewness (scipy's skew, bias=False), from SHAPE_MIN_SEEDS values

    @property
    def df(self) -> int:
        return self.n - 1

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n)

    @property
    def constant(self) -> bool:
        """Every value the same: the spread is unknown, not zero, so nothing is decided."""
        return self.n >= 2 and self.raw_sd == 0.0


def sample(values, floor: float = 0.0, se: float | None = None) -> Sample:
    """``values`` (no NaN: drop missing seeds first) as a :class:`Sample`; the sd is at least
    ``floor`` (and never exactly 0, so that every statistic is defined). ``se``: the standard
    error of the mean where the values are not independent (cross-fitted choices: the
    bootstrap's, :func:`tkd.statistics.selection.bootstrap_se`), used in place of sd / sqrt(n)."""
    x = np.asarray(values, dtype=float).ravel()
    if np.isnan(x).any():
        raise ValueError(f"{int(np.isnan(x).sum())} of {len(x)} values are NaN: drop the seeds that lack a value first")
    n = len(x)
    raw = float(x.std(ddof=1)) if n > 1 else math.nan
    mean = float(x.mean()) if n else math.nan
    tiny = 1e-9 * max(1.0, abs(mean)) if n else 0.0
    spread = se * math.sqrt(n) if se is not None and not math.isnan(se) else raw
    return Sample(mean, max(spread, floor, tiny) if n > 1 else math.nan, n, raw, shape(x), skewness(x))


def skewness(x: np.ndarray) -> float:
    """The sample skewness of ``x`` (adjusted Fisher-Pearson, as scipy's ``skew(bias=False)``), NaN
    below SHAPE_MIN_SEEDS values or without spread."""
    n = len(x)
    if n < SHAPE_MIN_SEEDS or not x.std() > 0:
        return math.nan
    d = x - x.mean()
    m2, m3 = float((d * d).mean()), float((d * d * d).mean())
    return math.sqrt(n * (n - 1)) / (n - 2) * m3 / m2 ** 1.5


# Student's t through scipy.special (the functions scipy.stats.t calls, without its per-call checks:
# the same values, about a hundred times faster; a table judges thousands of rows in a plan)
def t_sf(x, df):
    return special.stdtr(df, -np.asarray(x, float))


def t_cdf(x, df):
    return special.stdtr(df, np.asarray(x, float))


def t_ppf(q, df):
    return special.stdtrit(df, np.asarray(q, float))


def table_shape(samples: list[Sample]) -> str:
    """Why a whole table's per-seed values may not suit t-intervals, or "": the rows' skewness
    pooled, sum(G1) / sqrt(sum of its variance for Gaussian values at each row's n), beyond
    :data:`TABLE_SKEW_Z` (the rows of a table share runs, so their skewness is not independent:
    the bound is wide). A row alone rarely shows the skew that inflates its error — a skewed row
    errs when its rare large value is *absent* — but rows that lean the same way together do."""
    g1 = [(s.skewness, _shape_bounds(s.n)[2]) for s in samples if s is not None and not math.isnan(s.skewness)]
    if len(g1) < 2:
        return ""
    z = sum(g for g, _ in g1) / math.sqrt(sum(v for _, v in g1))
    if abs(z) <= TABLE_SKEW_Z:
        return ""
    return f"the table's per-seed values lean one way (mean skewness {np.mean([g for g, _ in g1]):+.1f} over {len(g1)} rows)"


TABLE_SKEW_Z = 4.0  # pooled skewness, in standard errors, beyond which a table's rows are marked


SHAPE_LEVEL = 0.01  # how often Gaussian values are flagged by each of the two checks of :func:`shape`
SHAPE_MIN_SEEDS = 5  # fewer values say too little about their shape to check it


def shape(values) -> str:
    """Why the per-seed values may not suit a t-interval, or "": their sample skewness (adjusted
    Fisher-Pearson, scipy's ``skew(bias=False)``), or one value's share of the squared deviations
    from the mean, beyond what Gaussian values of that number reach in :data:`SHAPE_LEVEL` of
    draws. A skewed row's t-test errs more often than its level (docs/analyses.md: 7-9 % at a
    nominal 2.5 % for centred lognormal differences of log-sd 0.5), so the row says so."""
    x = np.asarray(values, dtype=float).ravel()
    n = len(x)
    if n < SHAPE_MIN_SEEDS or not x.std() > 0:
        return ""
    skew_bound, share_bound, _ = _shape_bounds(n)
    g1 = skewness(x)
    if abs(g1) > skew_bound:
        return f"skewed per-seed values (skewness {g1:+.1f})"
    squares = (x - x.mean()) ** 2
    share = float(squares.max() / squares.sum())
    if share > share_bound:
        return f"one seed dominates its per-seed values ({share:.0%} of their squared deviations)"
    return ""


@functools.lru_cache(maxsize=None)
def _shape_bounds(n: int, draws: int = 20_000) -> tuple[float, float, float]:
    """The 1 - SHAPE_LEVEL quantiles of |skewness| and of the largest share of squared deviations
    of ``n`` Gaussian values, and the skewness's variance (simulated once per n, seeded: the same
    bounds everywhere)."""
    x = np.random.default_rng([20190129, n]).standard_normal((draws, n))
    squares = (x - x.mean(axis=1, keepdims=True)) ** 2
    share = squares.max(axis=1) / squares.sum(axis=1)
    skew = st.skew(x, axis=1, bias=False)
    return (float(np.quantile(np.abs(skew), 1 - SHAPE_LEVEL)), float(np.quantile(share, 1 - SHAPE_LEVEL)),
            float(skew.var()))


@dataclass(frozen=True)
class Region:
    """What the paper claims, in claim space: ``low < sign * value < high``. ``band`` is a sized
    claim's size ± tolerance (claim space, not cut at 0), judged as the *size* part. ``delta``:
    a direction claim's smallest effect worth claiming (claim space, >= 0): below it, "negligible"."""

    low: float = 0.0
    high: float = math.inf
    sign: float = 1.0
    band: tuple[float, float] | None = None
    direction: bool = True  # an effect (its direction is judged against 0) or a reported number
    delta: float = 0.0

    @classmethod
    def effect(cls, direction: str, claimed: tuple[float, float] | None = None, tolerance: float = 0.0,
               delta: float = 0.0) -> "Region":
        """A claimed difference: ``direction`` ">" or "<"; ``claimed`` its size as a signed range
        (e.g. (-0.90, -0.90) points), widened by ``tolerance``; None for a direction only, which
        is "negligible" where the whole interval lies below ``delta``."""
        if direction not in (">", "<"):
            raise ValueError(f"direction {direction!r} must be > or <")
        if not delta >= 0:
            raise ValueError(f"the smallest effect worth claiming, delta = {delta}, must be >= 0")
        sign = 1.0 if direction == ">" else -1.0
        if claimed is None:
            return cls(0.0, math.inf, sign, delta=delta)
        if any(math.isnan(c) for c in claimed):
            raise ValueError(f"claimed size {claimed} has a NaN")
        a, b = sorted((sign * claimed[0], sign * claimed[1]))
        band = (a - tolerance, b + tolerance)
        return cls(max(0.0, band[0]), band[1], sign, band)

    @classmethod
    def value(cls, reported: float, upper: float = math.nan, tolerance: float = 0.0) -> "Region":
        """A reported number (or range ``reported``..``upper``) ± ``tolerance``."""
        if math.isnan(reported):
            raise ValueError("the reported value is NaN")
        high = reported if math.isnan(upper) else upper
        return cls(reported - tolerance, high + tolerance, 1.0, direction=False)

    @property
    def direction_only(self) -> bool:
        """A claimed direction without a size: the one kind of claim that can be negligible."""
        return self.direction and self.band is None

    def shown(self) -> str:
        """The region as the data's own values read (what the ``claimed`` column shows)."""
        if self.direction and self.band is None:
            return "> 0" if self.sign > 0 else "< 0"
        lo, hi = (self.band if self.band else (self.low, self.high))
        if self.sign < 0:
            lo, hi = -hi, -lo
        if math.isinf(hi):
            return f">= {lo:+.2f}" if self.direction else f">= {lo:.2f}"
        if math.isinf(lo):
            return f"<= {hi:+.2f}" if self.direction else f"<= {hi:.2f}"
        return f"{lo:+.2f} to {hi:+.2f}" if self.direction else f"{lo:.2f} to {hi:.2f}"


def _claim_space(s: Sample, region: Region) -> tuple[float, float]:
    return region.sign * s.mean, s.se


def interval(s: Sample, alpha: float = ALPHA) -> tuple[float, float]:
    """The two-sided Student-t interval of the mean at level 1 − 2·alpha; (nan, nan) below 2 values."""
    if s.n < 2:
        return math.nan, math.nan
    half = float(t_ppf(1 - alpha, s.df)) * s.se
    return s.mean - half, s.mean + half


def t_interval(values, confidence: float = 1 - 2 * ALPHA, floor: float = 0.0) -> tuple[float, float]:
    """The Student-t interval of the mean of ``values`` at ``confidence``."""
    return interval(sample(values, floor), (1 - confidence) / 2)


def p_values(s: Sample, region: Region) -> tuple[float, float]:
    """(p of supported, p against): the smallest alpha at which the interval at 1 − 2·alpha lies
    inside the region, or against it — below ``delta`` for a direction claim (the one-sided t-test
    of mu >= delta), outside the region otherwise. A constant sample decides nothing: (1, 1)."""
    if s.n < 2:
        return math.nan, math.nan
    if s.constant:
        return 1.0, 1.0
    m, se = _claim_space(s, region)
    z_low, z_high = (m - region.low) / se, (m - region.high) / se
    above_low, below_high = t_sf(z_low, s.df), t_cdf(z_high, s.df)  # each small when its side is clear
    p_sup = max(above_low, below_high)
    if region.direction_only:
        p_against = t_cdf((m - region.delta) / se, s.df)
    else:
        p_against = min(t_cdf(z_low, s.df), t_sf(z_high, s.df))
    return float(p_sup), float(p_against)



def judge(lo: float, hi: float, region: Region) -> tuple[str, str, str]:
    """(direction, size, verdict) of an interval against the region. ``direction`` is judged against
    0 for effects ("" for reported numbers); ``size`` against the band of a sized claim ("" otherwise).
    Precedence: contradicted > negligible > supported > inconclusive."""
    u_lo, u_hi = sorted((region.sign * lo, region.sign * hi))
    if u_hi < region.low or u_lo > region.high:
        verdict = "contradicted"
    elif region.direction_only and u_hi < region.delta:
        verdict = "negligible"
    elif region.low < u_lo and u_hi < region.high:
        verdict = "supported"
    else:
        verdict = "inconclusive"
    direction = ""
    if region.direction:
        direction = "supported" if u_lo > 0 else "contradicted" if u_hi < 0 else "inconclusive"
    size = ""
    if region.band is not None:
        b_lo, b_hi = region.band
        size = ("consistent" if b_lo <= u_lo and u_hi <= b_hi else "smaller" if u_hi < b_lo
                else "larger" if u_lo > b_hi else "undetermined")
    return direction, size, verdict


# --------------------------------------------------------------------------- power
def target(mean: float, region: Region) -> str:
    """The decision an estimate points to: "supported" inside the region, "against" outside it (and,
    for a direction claim, below ``delta``)."""
    m = region.sign * mean
    if region.direction_only and m < region.delta:
        return "against"
    return "supported" if region.low < m < region.high else "against"


def power(mean: float, sd: float, n, region: Region, alpha: float = ALPHA, aim: str | None = None):
    """The probability that ``n`` seeds reach decision ``aim`` ("supported" or "against"; default:
    :func:`target`) at level ``alpha``, were ``mean`` and ``sd`` the truth: noncentral t. For
    "supported" inside a bounded region (two one-sided tests) it is the lower bound
    P(A) + P(B) − 1, so planned seeds are enough."""
    aim = aim or target(mean, region)
    n = np.asarray(n, dtype=float)
    df = n - 1
    crit = t_ppf(1 - alpha, df)
    m, k = region.sign * mean, np.sqrt(n) / sd

    def ncp(bound):
        return np.clip(k * (m - bound), -_NCP_CAP, _NCP_CAP)

    if aim == "supported":
        p = _nct_sf(crit, df, ncp(region.low))
        if math.isfinite(region.high):
            p = p + _nct_cdf(-crit, df, ncp(region.high)) - 1
    elif region.direction_only:
        p = _nct_cdf(-crit, df, ncp(region.delta))
    else:
        p = _nct_cdf(-crit, df, ncp(region.low))
        if math.isfinite(region.high):
            p = p + _nct_sf(crit, df, ncp(region.high))
    return np.clip(p, 0.0, 1.0)


def _nct_cdf(x, df, nc):
    """The noncentral t's cdf; where scipy returns NaN far in a tail (e.g. x = -2.4, nc = 31), its
    limit there: 0 below the noncentrality, 1 above it."""
    p = np.asarray(st.nct.cdf(x, df, nc), dtype=float)
    return np.where(np.isnan(p), np.where(np.asarray(x) < np.asarray(nc), 0.0, 1.0), p)


def _nct_sf(x, df, nc):
    """The same for the survival function (exact in the upper tail, where 1 - cdf is not)."""
    p = np.asarray(st.nct.sf(x, df, nc), dtype=float)
    return np.where(np.isnan(p), np.where(np.asarray(x) < np.asarray(nc), 1.0, 0.0), p)


def seeds_needed(mean: float, sd: float, region: Region, alpha: float = ALPHA, aim: str | None = None,
                 goal: float = POWER, cap: int = MAX_SEEDS) -> float:
    """The fewest seeds (>= MIN_SEEDS) with at least ``goal`` power; inf beyond ``cap``, nan
    without a spread."""
    if math.isnan(sd) or math.isnan(mean):
        return math.nan
    n = np.arange(MIN_SEEDS, cap + 1)
    enough = power(mean, sd, n, region, alpha, aim) >= goal  # one scipy call for every n
    return float(n[enough.argmax()]) if enough.any() else math.inf


def seeds_text(x: float, n: int = 0) -> str:
    """How a seeds-needed figure reads: a number, "> 100", or why there is none."""
    if math.isinf(x):
        return f"> {MAX_SEEDS}"
    if math.isnan(x):
        return "not run" if n == 0 else f"unknown ({n} seed{'s' if n != 1 else ''}: no spread yet)"
    return str(int(x))


# --------------------------------------------------------------------------- one row alone
@dataclass
class Verdict:
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    verdict: str
    why: str
    direction: str = ""
    size: str = ""
    seeds_needed: float = math.nan
    power_now: float = math.nan


def row_verdict(s: Sample, region: Region, alpha: float = ALPHA, plan: bool = True) -> Verdict:
    """The verdict of one sample at level ``alpha`` per decision, and (``plan``) the seeds for 80 %
    power and the power now at that level."""
    if s.n == 0:
        return Verdict(math.nan, math.nan, math.nan, 0, "not run", "no values")
    lo, hi = interval(s, alpha)
    needed = seeds_needed(s.mean, s.sd, region, alpha) if plan else math.nan
    now = float(power(s.mean, s.sd, s.n, region, alpha)) if plan and s.n > 1 else math.nan
    if s.n < MIN_SEEDS:
        why = f"n={s.n} seed{'s' if s.n != 1 else ''}: at least {MIN_SEEDS} are needed for an interval that can decide"
        return Verdict(s.mean, lo, hi, s.n, "inconclusive", why, direction="inconclusive" if region.direction else "",
                       size="undetermined" if region.band else "", seeds_needed=needed, power_now=now)
    direction, size, verdict = judge(lo, hi, region)
    if s.constant:
        return Verdict(s.mean, lo, hi, s.n, "inconclusive", CONSTANT_WHY.format(n=s.n), direction, size, needed, now)
    return Verdict(s.mean, lo, hi, s.n, verdict, WHY[verdict], direction, size, needed, now)


WHY = {"supported": "the interval lies inside the claimed region",
       "contradicted": "the interval lies outside the claimed region",
       "negligible": "the interval lies below the smallest effect worth claiming",
       "inconclusive": "the interval is too wide to decide"}
CONSTANT_WHY = "all {n} values are identical: no spread to judge by (are the seeds really different runs?)"


def effect_verdict(diffs, direction: str, claimed: tuple[float, float] | None = None, tolerance: float = 0.0,
                   floor: float = DEFAULT_FLOOR, plan: bool = True, se: float | None = None,
                   delta: float = 0.0) -> Verdict:
    """A claimed difference (subject − reference, paired by seed) judged on its own (95 %)."""
    return row_verdict(sample(diffs, floor, se), Region.effect(direction, claimed, tolerance, delta), plan=plan)


def value_verdict(values, reported: float, upper: float = math.nan, tolerance: float = 0.0,
                  floor: float = DEFAULT_FLOOR, plan: bool = True, se: float | None = None) -> Verdict:
    """A reported absolute number (or range) against our per-seed values, on its own (95 %):
    supported when the whole interval lies within ``tolerance`` of it, contradicted when none does."""
    return row_verdict(sample(values, floor, se), Region.value(reported, upper, tolerance), plan=plan)
