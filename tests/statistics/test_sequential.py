"""Seeds on demand: group-sequential verdicts against known answers. With a look after every wave,
a table of pure noise still says "supported" at most 5 % of the time, where re-running the fixed
design's verdict at every look says so more often; real effects are found nearly as often as by
the fixed design at the most seeds, with fewer trainings."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from helpers import paper_config
from tkd import grid
from tkd.statistics import simulate
from tkd.grid import waves
from tkd.statistics.claims import Criteria, claims_table, load_claims
from tkd.statistics.sequential import Design, designs
from tkd.statistics.wave_claims import judge, samples_by_look

WAVES = {"start": 3, "step": 2, "max": 9}  # looks at 3, 5, 7 and 9 seeds


def test_one_look_is_the_fixed_design():
    d = Design((5,))
    assert d.crossing(1.96) == pytest.approx(st.norm.sf(1.96))
    assert d.nominal(0.025, 0) == pytest.approx(0.025)
    assert d.repeated_p([st.norm.isf(0.01)]) == pytest.approx(0.01)


def t_rows(design, rows, rng, shift=0.0):
    """One-sided t-test z-statistics at each look of ``rows`` simulated rows of Gaussian per-seed values."""
    n = np.asarray(design.looks)
    x = rng.normal(shift, 1.0, (rows, n[-1]))
    s1, s2 = np.cumsum(x, 1)[:, n - 1], np.cumsum(x * x, 1)[:, n - 1]
    sd = np.sqrt((s2 - s1 ** 2 / n) / (n - 1))
    return st.norm.isf(st.t.sf(s1 / n / (sd / np.sqrt(n)), n - 1))


@pytest.mark.parametrize("looks,shape", [((3, 5, 7, 9), 0.0), ((4, 6, 8, 10), 0.0), ((4, 6, 8, 10), 0.5)])
def test_the_boundary_spends_alpha_over_the_looks(looks, shape):
    """The crossing probability over all looks is alpha; O'Brien-Fleming's first look is very strict
    and its last close to the fixed design's level; rows of t-statistics simulated apart from the
    design's own (another seed) cross it at alpha within Monte-Carlo error."""
    d = Design(looks, shape)
    c = d.boundary(0.025)
    assert d.crossing(c) == pytest.approx(0.025, rel=0.02)
    levels = [d.nominal(0.025, k) for k in range(4)]
    if shape == 0.0:
        assert levels == sorted(levels) and levels[0] < 0.002 and 0.015 < levels[-1] < 0.025
    else:
        assert max(levels) - min(levels) < 1e-12, "Pocock: the same level at every look"
    z = t_rows(d, 200_000, np.random.default_rng(0))
    assert ((z * d.weights).max(axis=1) >= c).mean() == pytest.approx(0.025, abs=0.0012)
    assert d.boundary(1e-9) > d.boundary(1e-4) > c, "tiny family levels are reachable too"


def test_exact_boundaries_for_t_statistics_are_not_brownian_ones():
    """At 3/5/7/10 seeds the t-statistics' exact O'Brien-Fleming bounds on the z scale are about
    3.73 / 2.89 / 2.44 / 2.05 (the issue's figures), wider early than Brownian motion's."""
    d = Design((3, 5, 7, 10))
    bounds = d.boundary(0.025) / d.weights
    assert bounds == pytest.approx([3.73, 2.89, 2.44, 2.05], abs=0.06), bounds


def test_a_repeated_p_value_never_grows_and_stays_valid():
    d = Design((3, 5, 7, 9))
    p = [d.repeated_p([2.0, 1.0, 0.5, 0.0][: k + 1]) for k in range(4)]
    assert p == sorted(p, reverse=True) or len(set(p)) == 1, "evidence once seen stays seen"
    rng = np.random.default_rng(1)
    walks = np.cumsum(rng.normal(0, 1, (20_000, 4)) * np.sqrt(np.diff(np.concatenate([[0], d.t]))), axis=1)
    z = walks / np.sqrt(d.t)
    repeated = np.array([d.repeated_p(row) for row in z])
    assert (repeated <= 0.025).mean() == pytest.approx(0.025, abs=0.004)


def test_waves_of_a_block():
    seeds = {"start": 3, "step": 2, "max": 8}
    assert [grid.wave_seeds(seeds, w) for w in (1, 2, 3, 4)] == [[0, 1, 2], [0, 1, 2, 3, 4], list(range(7)),
                                                                 list(range(8))]
    assert grid.wave_count(seeds) == 4 and grid.wave_count([0, 1, 2]) == 1 and grid.wave_seeds([4, 7]) == [4, 7]
    config = paper_config()
    config["grid"][0]["seeds"] = seeds
    assert waves.looks(config)[waves.Cell("cifar100", "resnet56_cifar")] == (3, 5, 7, 8)
    more = grid.wave_runs(config, 2, [("cifar100", "resnet56_cifar", "tsd-0.6")])
    assert {(r["method"], r["seed"]) for r in more} == {("tsd-0.6", 3), ("tsd-0.6", 4)} and len(more) == 2 * 6


def sequential_config():
    config = paper_config()
    for block in config["grid"]:
        block["seeds"] = dict(WAVES)
    return config


def looks_of(config):
    return designs(waves.looks(config))


def adaptive(config, runs, claims):
    """The waves as the workflow runs them: after each, judge what ran; the next wave only for the
    chains an undecided row needs. Returns the final table and the runs made."""
    cells = looks_of(config)
    made = pd.DataFrame(grid.runs(config, wave=1))
    keys = ["dataset", "arch", "method", "seed", "generation"]
    for wave in range(1, len(next(iter(cells.values())).looks) + 1):
        ran = runs.merge(made[keys], on=keys)
        table, _, needs = judge(ran, None, None, claims, Criteria(), cells, wave, plan=False)
        more = grid.wave_runs(config, wave + 1, needs) if needs else []
        if not more:
            return table, len(made)
        made = pd.concat([made, pd.DataFrame(more)], ignore_index=True)
    return table, len(made)


def test_the_waves_decide_as_the_whole_grid_does_and_save_trainings():
    """A grid where the paper holds: the adaptive waves reach the verdicts that judging the whole
    grid wave by wave reaches, with fewer trainings than the fixed design at the most seeds."""
    config, claims = sequential_config(), load_claims()
    top1, conf = simulate.paper_holds(config["methods"], effect=2.0, size=1.72, confidence_effect=0.2)
    runs = simulate.grid_runs(config, top1, simulate.REGIMES["independent"], np.random.default_rng(3), conf)
    cells = looks_of(config)
    whole, _, _ = judge(runs, None, None, claims, Criteria(), cells, 4, plan=False)
    table, made = adaptive(config, runs, claims)
    decided = table.verdict.isin(["supported", "contradicted"])
    assert decided.sum() >= 20, table.verdict.value_counts()
    assert (table.verdict[decided] == whole.verdict[decided]).all()
    assert (table.wave[decided] == whole.wave[decided]).all()
    assert made < len(grid.runs(config)), "decided rows' chains stopped early"


def null_grids(regime, n, looks=4):
    """On null paper grids judged after every wave: how often the table says 'supported'
    somewhere, group-sequentially; with the fixed design's verdict re-run at every look (the first
    decision sticks); and with the fixed design at the most seeds alone."""
    from tkd.statistics.verdicts import judge_table

    config, claims = sequential_config(), load_claims()
    cells = looks_of(config)
    rng = np.random.default_rng(17)
    sequential, naive, once = [], [], []
    for _ in range(n):
        runs = simulate.grid_runs(config, simulate.flat(72.0), simulate.REGIMES[regime], rng)
        looked = samples_by_look(runs, None, None, claims, Criteria(), cells, looks)
        table, _, _ = judge(runs, None, None, claims, Criteria(), cells, looks, plan=False, looked=looked)
        sequential.append((table.verdict == "supported").any())
        fixed = [any(r["verdict"] == "supported" for r in judge_table(rows, plan=False)[0]) for rows in looked]
        naive.append(any(fixed))
        once.append(fixed[-1])
    return np.mean(sequential), np.mean(naive), np.mean(once)


@pytest.mark.slow
def test_optional_stopping_keeps_the_family_error():
    """150 null paper grids (realistic noise), a look after each of 4 waves: the group-sequential
    table says 'supported' somewhere in at most 5 % (within Monte-Carlo error); re-running the fixed
    design's verdict at every look says so more often than either. (The whole-grid judgement errs,
    if at all, towards deciding, test above: the adaptive waves' error is at most this.)"""
    sequential, naive, once = null_grids("realistic", 150)
    assert sequential <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 150), sequential
    assert naive > max(sequential, once), (naive, sequential, once)


def fixed_and_sequential_power(regime, n):
    config, claims = sequential_config(), load_claims()
    top1, conf = simulate.paper_holds(config["methods"], effect=1.0, size=1.72, confidence_effect=0.05)
    rng = np.random.default_rng(5)
    cells = looks_of(config)
    fixed, sequential = [], []
    for _ in range(n):
        runs = simulate.grid_runs(config, top1, simulate.REGIMES[regime], rng, conf)
        table, _, _ = judge(runs, None, None, claims, Criteria(), cells, 4, plan=False)
        at_max = claims_table(runs, claims=claims, plan=False)
        tested = table.n.gt(0)
        sequential.append((table.verdict[tested] == "supported").mean())
        fixed.append((at_max.verdict[tested] == "supported").mean())
    return np.mean(fixed), np.mean(sequential)


@pytest.mark.slow
def test_power_is_within_five_points_of_the_fixed_design_at_the_most_seeds():
    fixed, sequential = fixed_and_sequential_power("realistic", 20)
    assert sequential >= fixed - 0.05, (fixed, sequential)


# --------------------------------------------------------------------------- the workflow in waves
SEQUENTIAL_DEMO = ["--configfile", "workflow/demo.yaml", "workflow/demo-sequential.yaml"]


def test_a_dry_run_shows_the_first_wave_and_its_checkpoint(tmp_path):
    from helpers import job_counts, snakemake

    out = snakemake("-n", *SEQUENTIAL_DEMO, "--config", f"results={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    counts = job_counts(out.stdout)
    # the first wave of both cells: 3 and 2 methods x seeds 0-2, patriarchs only; one checkpoint per cell
    assert counts["train"] == 3 * 3 + 2 * 3 and counts["wave"] == 2, counts
    assert "checkpoint" in out.stdout + out.stderr


@pytest.mark.slow
def test_the_sequential_demo_stops_adding_seeds_where_the_claims_are_decided(tmp_path):
    """The README's sequential demo as a user runs it: two cells with different designs (three
    waves, and two), each at its own pace. What the design guarantees, whichever CPU's kernels
    shaped the runs (not which wave decided what): each cell stops at the first wave where no
    undecided row has a chain with more waves, or at its last wave; each wave runs only the chains
    its undecided rows need; fewer trainings than the fixed design at the most seeds; the paper's
    table is tkd claims --looks of the same runs; status, the tables and the planner read the two
    designs; and the schedule simulation predicts the run's length from its own benchmark files."""
    import json
    import os
    import time

    from helpers import snakemake, tkd
    from tkd.grid.config import load
    from tkd.statistics.schedule import replay

    results = tmp_path / "results"
    started = time.monotonic()
    out = snakemake("--cores", "all", *SEQUENTIAL_DEMO, "--config", f"results={results}", timeout=1500)
    took = time.monotonic() - started
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    most = {"synthetic": 3, "synthetic-b": 2}
    runs = pd.read_csv(results / "summary" / "runs.csv")
    for dataset, waves_most in most.items():
        cell = results / "summary" / "waves" / dataset / "resnet8_tiny_cifar"
        waves = [json.loads(p.read_text()) for p in sorted(cell.glob("wave*.json"), key=lambda p: int(p.stem[4:]))]
        assert waves[-1]["stop"] and all(not w["stop"] for w in waves[:-1]) and 1 <= len(waves) <= waves_most
        for w in waves[:-1]:
            assert w["undecided"] > 0 and w["next_runs"], "a wave was added only while a row was undecided"
            assert {tuple(r[k] for k in ("dataset", "arch", "method")) for r in w["next_runs"]} <= \
                {tuple(c) for c in w["chains"]}, "each wave runs only the chains an undecided row needs"
        assert len(waves) == waves_most or waves[-1]["undecided"] == 0 or not waves[-1]["chains"]
        assert (runs.dataset == dataset).sum() == waves[-1]["runs_so_far"], "its last wave judged its every run"
    first = runs[runs.dataset == "synthetic"]
    assert first.groupby("method").seed.nunique()["ls"] == 3, "no claim about patriarchs needs label smoothing"
    assert len(runs) < 3 * 5 + 2 * 5, "fewer trainings than the fixed design at the most seeds"
    claims = pd.read_csv(results / "summary" / "paper" / "claims.csv")
    c1 = claims[claims.claim == "C1"]
    assert set(c1.dataset) == set(most), "one table: the rows of both cells"
    decided = c1.verdict.isin(["supported", "contradicted", "negligible"])
    assert (c1.wave.notna() == decided).all(), c1[["metric", "verdict", "wave"]]
    # the paper's table is the one `tkd claims --looks` gives of the same runs, with the same config
    again = tkd("claims", str(results / "summary" / "runs.csv"), "--looks", *SEQUENTIAL_DEMO,
                "-o", str(tmp_path / "again.csv"))
    assert again.returncode == 0, again.stderr
    pd.testing.assert_series_equal(pd.read_csv(tmp_path / "again.csv").verdict, claims.verdict)
    md = " ".join((results / "summary" / "paper" / "tables.md").read_text().split())
    assert "Seeds on demand" in md and "synthetic/resnet8_tiny_cifar stopped after wave" in md
    assert "synthetic-b/resnet8_tiny_cifar stopped after wave" in md and f"ran {len(runs)} of the 25 trainings" in md
    status = tkd("status", *SEQUENTIAL_DEMO, "--results", str(results))
    assert status.returncode == 0 and "synthetic-b/resnet8_tiny_cifar: wave" in status.stdout, status.stdout
    assert "of at most 3 judged" in status.stdout and "of at most 2 judged" in status.stdout, status.stdout
    partial = tkd("tables", *SEQUENTIAL_DEMO, "--results", str(results))
    assert partial.returncode == 0, partial.stderr[-2000:]
    partial_claims = pd.read_csv(results / "summary" / "partial" / "claims.csv")
    pd.testing.assert_series_equal(partial_claims.verdict, claims.verdict)  # a finished grid: the same table
    planned = tkd("plan", *SEQUENTIAL_DEMO, "--results", str(results), "--simulations", "1", "--gpus", "2")
    assert planned.returncode == 0 and "\nwaves " in planned.stdout, planned.stderr[-2000:]
    config = load(SEQUENTIAL_DEMO[1:])
    config["results"] = str(results)
    predicted = replay(config, os.cpu_count(), local=True) / (took / 3600)
    assert 0.75 <= predicted <= 1.25, f"the schedule predicts {predicted:.2f} of the measured {took:.0f} s"


def test_a_repeated_p_value_weighs_each_look_by_its_share_of_the_seeds():
    """O'Brien-Fleming: the same z counts for far less at the first of four looks (3 of 9 seeds)
    than at the last; without the weights the two would be equal."""
    d = Design((3, 5, 7, 9))
    early, late = d.repeated_p([2.5]), d.repeated_p([0.0, 0.0, 0.0, 2.5])
    assert early > 5 * late and late < 0.05 < early, (early, late)
    assert d.repeated_p([2.5]) == pytest.approx(d.crossing(2.5 * math.sqrt(3 / 9)))


def test_beyond_the_simulated_tail_the_crossing_follows_the_union_bound_continuously():
    """Where fewer than _TAIL simulated paths cross, the crossing probability is the union bound
    over the looks, P(Z >= c / w_k) summed, scaled to meet the simulation at its edge: continuous
    there, decreasing, and in a fixed ratio to the union bound further out."""
    from tkd.statistics.sequential import _TAIL, _null_maxima
    design = Design((4, 5, 6, 7, 8, 9, 10), 0.25)
    top = _null_maxima(design.looks, design.shape)
    edge = top[-_TAIL]
    simulated = _TAIL / len(top)
    assert design.crossing(edge) == pytest.approx(simulated, rel=1e-9)
    just_beyond = np.nextafter(edge, np.inf)
    assert design.crossing(just_beyond) == pytest.approx(simulated, rel=1e-3)

    def union(c):
        return st.norm.sf(c / design.weights).sum()

    far = [edge + 0.5, edge + 1.0, edge + 2.0]
    ratios = [design.crossing(c) / union(c) for c in far]
    assert ratios == pytest.approx([simulated / union(edge)] * 3, rel=1e-6)
    assert design.crossing(far[0]) > design.crossing(far[1]) > design.crossing(far[2]) > 0
    alpha = simulated / 1000  # a level only the tail reaches: its boundary gives it back
    assert design.crossing(design.boundary(alpha)) == pytest.approx(alpha, rel=1e-6)


def test_designs_read_the_looks_as_a_rules_params_hold_them():
    looks = {waves.Cell("cifar100", "a"): (4, 6, 8)}
    records = [dict(dataset="cifar100", arch="a", looks=[4, 6, 8])]
    assert designs(records, 0.25) == designs(looks, 0.25) == {("cifar100", "a"): Design((4, 6, 8), 0.25)}


def test_a_track_shows_each_decision_at_the_look_where_its_evidence_was_strongest():
    from tkd.statistics.sequential import SequentialTrack, evidence
    from tkd.statistics.stats import Region, sample
    design = Design((3, 5, 7))
    region = Region.effect(">", delta=0.5)
    looks = [sample([1.0, 1.2, 0.8]), sample([1.0, 1.2, 0.8, 1.1, 0.9]), sample([1.0, 1.2, 0.8, 1.1, 0.9, -2.0, 3.0])]
    z = evidence(looks, region)
    track = SequentialTrack.of(looks, z, design)
    assert track.best["supported"] == 1  # five tight values; the seventh look is noisy
    assert track.shown("supported") is looks[1] and track.shown(None) is looks[2] and track.latest is looks[2]
    assert track.nominal(0.01, "supported") == design.nominal(0.01, 1)
    assert track.nominal(0.01, None) == design.nominal(0.01, 2)
    weighted = z["supported"] * design.weights
    assert track.p[0] == design.crossing(weighted.max()) and track.p[1] == design.crossing((z["against"] *
                                                                                           design.weights).max())
    # a look with fewer than three seeds (or none) gives no evidence; three are enough
    early = evidence([None, sample([1.0, 1.1]), sample([1.0, 1.2, 0.8])], region)
    assert early["supported"][:2].tolist() == [-math.inf, -math.inf] and math.isfinite(early["supported"][2])
    assert early["against"][:2].tolist() == [-math.inf, -math.inf]
    assert SequentialTrack.of([None, sample([1.0, 1.1])], evidence([None, sample([1.0, 1.1])], region), design) is None
    assert SequentialTrack.of(looks[:1], evidence(looks[:1], region), design) is not None
    # in the family: the row is shown at that look (its n and interval), at the design's level for it
    from tkd.statistics.verdicts import Row, judge_table
    rows, family = judge_table([Row(looks[2], region, track)], plan=False)
    assert rows[0]["verdict"] == "supported" and rows[0]["n"] == 5 and rows[0]["estimate"] == looks[1].mean
    assert rows[0]["level"] == pytest.approx(1 - 2 * design.nominal(0.025, 1))
    # a row its design cannot decide yet stays out of the family, however many seeds it has
    rows, family = judge_table([Row(looks[1], region, None, untested=True)], plan=False)
    assert family.m == 0 and rows[0]["verdict"] == "inconclusive" and rows[0]["n"] == 5
