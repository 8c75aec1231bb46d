"""The rows that choose a best generation (C2-C5) against known answers: their standard error
follows the estimate's spread as seeds grow, their interval covers the best generation's true
value, and on null paper grids the headline claim (C3) and its companions can be called not
reproduced — under the realistic, the independent and a heavy-tailed noise model.
docs/analyses.md holds the full measurements (benchmarks/calibration.py --only intervals, best)."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from tkd.statistics import simulate
from tkd.statistics.claims import claims_table
from tkd.statistics.selection import best_generation

AGAINST = ("negligible", "contradicted")


def chains(regime, seeds, ahead, grids, rng_seed=1):
    """One chain of six generations, generation 3 ahead by ``ahead``: tkd's estimate and se per grid."""
    rng = np.random.default_rng(rng_seed)
    keys = [dict(dataset="cifar100", arch="a", method="ce", seed=s, generation=g) for s in range(seeds)
            for g in range(6)]
    out = []
    for _ in range(grids):
        runs = simulate.simulate(keys, {"ce": {"loss": "ce"}}, lambda run: 72.0 + ahead * (run["generation"] == 3),
                                 simulate.REGIMES[regime], rng)
        values, se, _ = best_generation(runs)
        out.append((values.mean(), se))
    return np.array(out).T


def spread_bounds(grids, low=0.85, high=1.3):
    """The se / spread band, widened by the spread's own Monte-Carlo error (its sd over ``grids``
    estimates is about 1 / sqrt(2 grids) of it) at three of its standard errors."""
    slack = 3 / math.sqrt(2 * grids)
    return low * (1 - slack), high * (1 + slack)


@pytest.mark.parametrize("regime,ahead", [("realistic", 0.0), ("heavy", 1.0)])
def test_the_standard_error_follows_the_spread_as_seeds_grow(regime, ahead):
    """The jackknife's se stayed put from 10 to 40 seeds while the estimate's spread halved; tkd's
    follows it: se / spread within 0.85-1.3 at 10 and 40 seeds, the estimate unbiased."""
    grids = 80
    low, high = spread_bounds(grids)
    ses = {}
    for seeds in (10, 40):
        est, se = chains(regime, seeds, ahead, grids)
        assert abs(est.mean() - 72.0 - ahead) < 0.04, (seeds, est.mean())
        ratio = se.mean() / est.std(ddof=1)
        assert low <= ratio <= high, (seeds, ratio)
        ses[seeds] = se.mean()
    assert ses[40] / ses[10] < 0.65, ses  # about 1/2, as 1 / sqrt(n)


@pytest.mark.slow
@pytest.mark.parametrize("regime", list(simulate.REGIMES))
def test_a_best_generation_is_covered_at_every_number_of_seeds(regime):
    """Coverage of the best generation's true top-1, bias included: >= 93 % at 10 seeds and >= 94 %
    at 20 and 40 (within three Monte-Carlo errors) where one generation leads by 0.3 or by 1 point,
    and never below 94 % where they tie; se / spread within 0.85-1.3 at 5-40 seeds."""
    grids = 150
    low, high = spread_bounds(grids)
    for ahead in (0.0, 0.3, 1.0):
        for seeds in (5, 10, 20, 40):
            est, se = chains(regime, seeds, ahead, grids, rng_seed=seeds)
            quantile = st.t.ppf(0.975, seeds - 1)
            covered = np.mean(np.abs(est - 72.0 - ahead) <= quantile * se)
            goal = 0.93 if seeds <= 10 else 0.94
            assert covered >= goal - 3 * math.sqrt(goal * (1 - goal) / grids), (ahead, seeds, covered)
            assert low <= se.mean() / est.std(ddof=1) <= high, (ahead, seeds, se.mean() / est.std(ddof=1))


def grids_of(config, claims, truth, regime, n, seeds, confidence=None, rng_seed=41):
    rng = np.random.default_rng(rng_seed)
    return pd.concat([claims_table(simulate.grid_runs(config, truth, simulate.REGIMES[regime], rng, confidence,
                                                      seeds=list(range(seeds))), claims=claims, plan=False)
                      .assign(grid=i) for i in range(n)], ignore_index=True)


def not_reproduced(table, claim):
    rows = table[(table.claim == claim) & table.claimed.isin(["> 0", "< 0"])]
    return rows.verdict.isin(AGAINST).mean()


def test_the_headline_claim_can_be_called_not_reproduced(config, claims):
    """Null paper grids at 20 seeds (before: C3 8 %, C4 20 %): C3 and C4 >= 60 % not reproduced."""
    table = grids_of(config, claims, simulate.flat(72.0), "realistic", 8, 20)
    assert not_reproduced(table, "C3") >= 0.6 and not_reproduced(table, "C4") >= 0.6, (
        not_reproduced(table, "C3"), not_reproduced(table, "C4"))
    assert (table.verdict != "supported").all()


@pytest.mark.slow
@pytest.mark.parametrize("regime", list(simulate.REGIMES))
def test_null_paper_grids_decide_the_best_generation_rows(config, claims, regime):
    """Null paper grids: C3 and C4 >= 35 % not reproduced at 10 seeds and >= 60 % at 20; C2 at least
    as often as with the jackknife (27 % and 55 %, measured before); no "supported" beyond the
    family's 2.5 % (within Monte-Carlo error)."""
    grids = 16
    for seeds, goal, c2_before in ((10, 0.35, 0.27), (20, 0.6, 0.55)):
        table = grids_of(config, claims, simulate.flat(72.0), regime, grids, seeds, rng_seed=seeds)
        for claim in ("C3", "C4"):
            assert not_reproduced(table, claim) >= goal, (seeds, claim, not_reproduced(table, claim))
        assert not_reproduced(table, "C2") >= c2_before, (seeds, not_reproduced(table, "C2"))
        any_supported = table.groupby("grid").verdict.apply(lambda v: (v == "supported").any()).mean()
        assert any_supported <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / grids), any_supported


def test_where_the_paper_holds_the_headline_claim_is_supported(config, claims):
    """The tolerant students' best 1.5 points above the baselines' best: C3 supported in >= 90 % of
    rows at 10 seeds."""
    top1, confidence = simulate.paper_holds(config["methods"], effect=1.0, size=1.5)
    table = grids_of(config, claims[claims.claim == "C3"], top1, "realistic", 6, 10, confidence)
    direction = table[table.claimed == "> 0"]
    assert (direction.verdict == "supported").mean() >= 0.9, direction.verdict.value_counts()


@pytest.mark.slow
def test_the_seeds_promised_for_the_best_generation_rows_come(config, claims):
    """On null paper grids at 10 seeds the table promises, per C2-C4 row, the seeds for 80 % power;
    run at the median promise, those rows are decided (not reproduced) in >= 75 % of grids."""
    table = pd.concat([claims_table(simulate.grid_runs(config, simulate.flat(72.0), simulate.REGIMES["realistic"],
                                                       np.random.default_rng(g), seeds=list(range(10))),
                                    claims=claims).assign(grid=g) for g in range(6)], ignore_index=True)
    for claim in ("C2", "C3", "C4"):
        rows = table[(table.claim == claim) & (table.claimed == "> 0") & (table.verdict == "inconclusive")]
        if rows.empty:
            continue
        promise = int(np.ceil(rows.seeds_needed.median()))
        assert 10 < promise <= 40, (claim, promise)
        later = grids_of(config, claims, simulate.flat(72.0), "realistic", 8, promise, rng_seed=100 + promise)
        assert not_reproduced(later, claim) >= 0.75, (claim, promise, not_reproduced(later, claim))
