"""The claims table judged as a family, so that its verdicts hold for the table as a whole.

Row by row, each verdict errs at most 2.5 % of the time; a table of 38 rows of pure noise
then shows some "supported" row in most tables. So the rows are judged together, with the
Benjamini–Hochberg procedure (scipy's ``false_discovery_control``), once over the p-values
of "supported" and once over those of "against" (:func:`tkd.statistics.stats.p_values`: for a direction
claim the one-sided test of mu >= delta, which ends "negligible" or, when the interval is also
below 0, "contradicted"; for a sized claim, outside its band), each at half of ``fdr`` (default 5 %):

* the expected share of false "supported" rows among the supported ones is at most 2.5 %,
  and likewise for "not reproduced" (contradicted or negligible); so false verdicts of either
  kind make at most 5 % of the decided rows, and a table of pure noise shows any "supported"
  row at most 2.5 % of the time;
* it assumes the rows' p-values are independent or positively dependent (rows that share runs
  are); the simulated paper grids of the tests check it under a realistic noise model;
* a table of one row is judged exactly as that row alone: its 95 % interval.

The family is every row that can decide (at least :data:`~tkd.statistics.stats.MIN_SEEDS` seeds); its
size ``m`` is stated wherever the table is shown. Each row shows the interval its verdict used,
at the level Benjamini–Hochberg gives it (Benjamini & Yekutieli 2005): 1 − 2·q·R/m for a row
decided among R of its kind, 1 − 2·q·max(1, min(R_supported, R_contradicted))/m for an
undecided one, so the interval and the verdict never disagree. A row decided both ways (its
interval between 0 and delta) is "negligible": the "against" decision takes precedence. Seeds are planned for 80 % power
at the level the row would need to be decided next (q·(R + 1)/m).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

from .stats import (AGAINST, ALPHA, CONSTANT_WHY, MIN_SEEDS, SHAPE_MIN_SEEDS, Region, Sample, interval, judge, p_values, power, row_verdict, seeds_needed, table_shape, target)

__all__ = ["FDR", "Family", "Track", "Row", "judge_table", "label", "DECIDED"]

DECIDED = ("supported",) + AGAINST

FDR = 2 * ALPHA  # false verdicts of both kinds together; one row alone: its 95 % interval


@dataclass(frozen=True)
class Family:
    """How many rows could decide (m) and how many each verdict decided."""

    m: int
    supported: int
    contradicted: int
    fdr: float
    negligible: int = 0

    @property
    def against(self) -> int:
        return self.contradicted + self.negligible

    def caption(self) -> str:
        rows, each = f"{self.m} row{'s' if self.m != 1 else ''}", f"{100 * self.fdr / 2:g} %"
        return (f"Verdicts judged as a family over the {rows} that can decide (at least {MIN_SEEDS} seeds), with "
                f"Benjamini-Hochberg: at most {each} of the supported rows and {each} of the not-reproduced rows "
                f"(contradicted or negligible) are expected to be false ({self.supported} supported, "
                f"{self.contradicted} contradicted, {self.negligible} negligible).")

    @classmethod
    def of_table(cls, table, fdr: float = None) -> "Family":
        """The family of a claims table already judged (a claims.csv read back)."""
        decided = table[table.n >= MIN_SEEDS]
        count = {v: int((decided.verdict == v).sum()) for v in DECIDED}
        return cls(len(decided), count["supported"], count["contradicted"], FDR if fdr is None else fdr,
                   count["negligible"])


def _rejected(p: list[float], q: float) -> np.ndarray:
    if not p:
        return np.zeros(0, bool)
    return st.false_discovery_control(np.asarray(p), method="bh") <= q


@dataclass
class Track:
    """A row's evidence: its sample, and the p-values of its two decisions. In a fixed design both
    come from the one sample; a sequential design (:mod:`tkd.statistics.sequential`) overrides the p-values
    with repeated ones and shows each decision at the look where its evidence was strongest."""

    latest: Sample  # at the latest look: the raw figures and the plan use it
    p: tuple[float, float]  # (supported, against), valid for this design

    @classmethod
    def fixed(cls, s: Sample, region: Region) -> "Track":
        return cls(s, p_values(s, region))

    def shown(self, kind: str | None) -> Sample:
        """The sample a decision of ``kind`` ("supported", "against"; None: undecided) is shown at."""
        return self.latest

    def nominal(self, alpha: float, kind: str | None) -> float:
        """The per-side level of the interval shown for ``kind`` at family level ``alpha``."""
        return alpha


@dataclass
class Row:
    """One row of a claims table as the family judges it: its per-seed sample (None: not run), the
    region its claim makes, and its evidence where a design other than the fixed one made it
    (``track``; ``untested``: that design cannot decide it yet)."""

    sample: Sample | None
    region: Region
    track: Track | None = None
    untested: bool = False

    def evidence(self) -> Track | None:
        """The p-values the family judges it by; None while it cannot decide."""
        if self.track is not None or self.untested:
            return self.track
        if self.sample is None or self.sample.n < MIN_SEEDS:
            return None
        return Track.fixed(self.sample, self.region)


def judge_table(table: list[Row], fdr: float = FDR, plan: bool = True) -> tuple[list[dict], Family]:
    """Every row's family verdict.

    Each row's dict: the raw (row-alone, 95 %) ``ci_low``/``ci_high``/``raw_verdict``, the p-values
    ``p_supported``/``p_against``, the family's ``level`` (of the interval shown),
    ``family_ci_low``/``family_ci_high``, ``direction``, ``size`` and ``verdict``, and
    ``seeds_needed``/``power_now`` for the decision the estimate points to, at the family level
    (``plan``; simulations of many tables leave it out)."""
    q = fdr / 2
    tracks = [row.evidence() for row in table]
    tested = [i for i, t in enumerate(tracks) if t is not None]
    m = len(tested)
    sup = dict(zip(tested, _rejected([tracks[i].p[0] for i in tested], q)))
    con = dict(zip(tested, _rejected([tracks[i].p[1] for i in tested], q)))
    r_sup, r_con = int(sum(sup.values())), int(sum(con.values()))
    rows = []
    for i, (s, region) in enumerate((row.sample, row.region) for row in table):
        if s is None or s.n == 0:
            rows.append(dict(verdict="not run", raw_verdict="not run", n=0))
            continue
        kind = None
        if i in sup:
            kind = "against" if con[i] else "supported" if sup[i] else None  # against first: the precedence
        shown = tracks[i].shown(kind) if i in sup else s  # a sequential verdict: the look that reached it
        raw = row_verdict(shown, region, plan=False)
        row = dict(estimate=shown.mean, sd=shown.sd, n=shown.n, ci_low=raw.ci_low, ci_high=raw.ci_high,
                   raw_verdict=raw.verdict, delta=region.delta if region.direction_only else None, shape=shown.shape)
        if i in sup:
            r = {"supported": r_sup, "against": r_con}.get(kind, max(1, min(r_sup, r_con)))
            alpha = tracks[i].nominal(q * r / m, kind)
            lo, hi = interval(shown, alpha)
            direction, size, _ = judge(lo, hi, region)
            decided = _against(lo, hi, region) if kind == "against" else kind
            row.update(p_supported=tracks[i].p[0], p_against=tracks[i].p[1], level=1 - 2 * alpha,
                       family_ci_low=lo, family_ci_high=hi, direction=direction, size=size,
                       verdict=decided or "inconclusive",
                       why=CONSTANT_WHY.format(n=shown.n) if shown.constant else _why(decided))
        else:  # too few seeds to decide: shown at the row's own 95 %
            row.update(level=1 - 2 * ALPHA, family_ci_low=raw.ci_low, family_ci_high=raw.ci_high,
                       direction=raw.direction, size=raw.size, verdict="inconclusive", why=raw.why)
        if plan:
            row.update(_plan(s, region, q, m, r_sup, r_con, sup.get(i, False), con.get(i, False), i in sup))
        rows.append(row)
    pooled = table_shape([t.latest for t in tracks if t is not None])
    if pooled:
        for row in rows:
            if row.get("n", 0) >= SHAPE_MIN_SEEDS:
                row["shape"] = "; ".join(filter(None, [row.get("shape", ""), pooled]))
    count = {v: sum(r["verdict"] == v for r in rows) for v in DECIDED}
    return rows, Family(m, count["supported"], count["contradicted"], fdr, count["negligible"])


def _against(lo: float, hi: float, region: Region) -> str:
    """Which "not reproduced" a decided "against" is: negligible for a direction claim whose
    interval is not wholly below 0; contradicted otherwise (a sized claim: outside its band)."""
    below_zero = max(region.sign * lo, region.sign * hi) < 0
    return "negligible" if region.direction_only and not below_zero else "contradicted"


def label(verdict: str, direction: str, delta) -> str:
    """How a verdict reads in a table: "negligible (positive, < 0.5)" where the interval is also
    above 0 (the effect is there, too small to be the claim)."""
    if verdict == "negligible" and direction == "supported":
        return f"negligible (positive, < {delta:g})"
    return verdict


def _why(decided: str | None) -> str:
    return {"supported": "the family-level interval lies inside the claimed region",
            "contradicted": "the family-level interval lies outside the claimed region",
            "negligible": "the family-level interval lies below the smallest effect worth claiming (delta)"}.get(
        decided, "the family-level interval is too wide to decide")


def _plan(s: Sample, region: Region, q: float, m: int, r_sup: int, r_con: int, is_sup: bool, is_con: bool,
          tested: bool) -> dict:
    """Seeds for 80 % power, and the power now, for the decision the estimate points to, at the
    level the row would be decided at next (one more decision of that kind, in a family that
    counts this row)."""
    if s.n < 2:
        return dict(seeds_needed=math.nan, power_now=math.nan)
    aim = target(s.mean, region)
    r, already = (r_sup, is_sup) if aim == "supported" else (r_con, is_con)  # aim "against": r_con
    alpha = q * (r + (0 if already else 1)) / (m + (0 if tested else 1))
    return dict(seeds_needed=seeds_needed(s.mean, s.sd, region, alpha),  # both aim at target(), as above
                power_now=float(power(s.mean, s.sd, s.n, region, alpha)))
