"""`tkd plan`: each design's GPU-hours, calendar days and share of rows decided, simulated as the
workflow runs it; seeds and GPU-hours per claim row, from a prior or from finished runs."""
import copy
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import paper_config, tkd
from tkd.statistics import simulate
from tkd.statistics.plan import hours_per_run, plan

SMALL = {"grid": [{"dataset": "cifar100", "archs": ["resnet56_cifar"], "methods": ["ce", "tsd-0.6"],
                   "seeds": [0, 1, 2], "generations": 2}]}


def small_config(results="results"):
    config = paper_config()
    config.update(copy.deepcopy(SMALL))
    config["results"] = str(results)
    return config


def benchmarks(results, runs, seconds):
    """Snakemake benchmark files of ``runs``, each ``seconds`` long."""
    from tkd import layout

    for r in runs.to_dict("records"):
        path = results / layout.TRAIN_BENCHMARK.format(**r)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t100\n")


def test_plan_cli_prints_designs_first_then_rows_and_writes_csv(tmp_path):
    site = tmp_path / "small.yaml"
    site.write_text(yaml.safe_dump(dict(SMALL, results=str(tmp_path / "results"))))
    out = tkd("plan", "--configfile", str(site), "--simulations", "2", "--budget", "100", "--gpus", "8", "-o",
              str(tmp_path / "plan.csv"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# Designs on 8 GPUs (2 simulated grids per scenario)"), out.stdout[:200]
    assert out.stdout.index("\ndesign ") < out.stdout.index("\nclaim ")
    assert "A budget of 100 GPU-hours can expect to decide" in out.stdout
    assert max(len(line) for line in out.stdout.splitlines() if not line.startswith("  /")) <= 100  # paths aside
    assert out.stdout.rstrip().endswith(f"  {tmp_path / 'plan_designs.csv'}")
    rows = pd.read_csv(tmp_path / "plan.csv")
    assert {"claim", "seeds", "gpu_h", "gpu_h_source", "within_budget"} <= set(rows.columns)
    assert set(rows.claim) >= {"C1", "C2", "C3"} and (rows.gpu_h_source == "config runtime (estimate)").all()
    designs = pd.read_csv(tmp_path / "plan_designs.csv")
    gpu_h = designs.groupby("design").gpu_h.max()
    # 1 arch x 2 methods x 10 seeds x 3 generations x 2 h (ResNet-56's runtime) = 120 GPU-hours at the most seeds
    assert gpu_h["fixed, most seeds"] == 120.0 and gpu_h["as configured"] == 36.0 and gpu_h["waves"] <= 120.0
    assert {"days", "days_se", "decided", "frontier"} <= set(designs.columns)


def test_finished_runs_replace_the_prior_and_benchmarks_the_estimate_of_a_run(tmp_path):
    config = small_config(tmp_path)
    runs = simulate.grid_runs(config, simulate.flat(72.0), rng=np.random.default_rng(0))
    benchmarks(tmp_path, runs, 1800.0)
    assert hours_per_run(config)["resnet56_cifar"] == (0.5, "benchmarks (18)")
    result = plan(config, simulations=2, finished=runs)
    rows, designs = result.rows, result.designs
    tested = rows[rows.claim != "C8"]  # the linear probe's row has no runs here (no transfer.csv)
    assert tested.source.str.startswith("your runs (n=3)").all() and len(tested) == 5
    no_effect = rows[rows.claim == "C2"].iloc[0]
    assert math.isinf(no_effect.seeds) or no_effect.seeds > 10, "no effect: no practical number of seeds decides"
    assert designs[designs.design == "as configured"].gpu_h.iloc[0] == 18 * 0.5
    two = plan(config, simulations=2, finished=runs[runs.seed < 2]).rows  # two seeds: enough to plan from
    assert two[two.claim != "C8"].source.str.startswith("your runs (n=2)").all()
    one = plan(config, simulations=2, finished=runs[runs.seed < 1]).rows
    assert one.source.str.startswith("simulated").sum() == 5


def test_a_rows_gpu_hours_are_its_seeds_times_its_chains_runs():
    """Each row: seeds x its methods x (generations + 1) runs x the hours of one run."""
    rows = plan(small_config(), simulations=2).rows
    priced = rows[np.isfinite(rows.gpu_h)]
    assert len(priced)
    for r in priced.itertuples():
        assert r.gpu_h == pytest.approx(r.seeds * len(r.methods.split(", ")) * 3 * 2.0), r


@pytest.mark.slow
def test_a_null_row_run_at_the_seeds_the_planner_names_is_mostly_called_not_reproduced():
    """Where the planner says a null row is called negligible by N seeds (80 % of its simulated
    grids), 100 fresh null grids decide it by N in >= 75 % (less one Monte-Carlo standard error)."""
    from tkd.statistics.plan import simulate_waves

    config = small_config()
    rows = plan(config, simulations=60).rows
    config["plan"]["simulations"] = 100
    fresh = simulate_waves(config, 100, "nothing holds")
    assert fresh.decided.shape[0] == 100
    checked = 0
    planned = iter(rows.seeds_if_null)  # the plan's rows: the claim rows with chains, in order
    for i, (row, tested) in enumerate(zip(fresh.rows, fresh.tested)):
        if not row.needs:
            continue
        seeds = next(planned)
        if not tested or not np.isfinite(seeds):
            continue
        look = fresh.cells[row.cell].looks.index(int(seeds)) + 1
        assert np.mean(fresh.decided[:, i] <= look) >= 0.75 - 0.043, (row.labels["claim"], seeds)
        checked += 1
    assert checked >= 3


def _row(claim, seeds, methods, gpu_h_per_run=1.0, gens=3, arch="a"):
    n = len(methods.split(", "))
    return dict(claim=claim, dataset="d", arch=arch, metric="top1", seeds=float(seeds), source="simulated, the paper",
                seeds_if_null=math.nan, methods=methods, runs_per_seed=n * gens, gpu_h_per_run=gpu_h_per_run,
                gpu_h_source="config", gpu_h=seeds * n * gens * gpu_h_per_run if math.isfinite(seeds) else seeds)


def test_a_budget_pays_for_a_shared_chain_once_cheapest_rows_first():
    from tkd.statistics.plan import budget_rows
    table = pd.DataFrame([_row("C1", 4, "ce, tsd-0.6"),  # 24 GPU-hours
                          _row("C2", 6, "ce, tsd-0.6"),  # 36, of which 24 already paid by C1: 12 more
                          _row("C3", 5, "lsr"),  # 15 more
                          _row("C4", math.inf, "ce")])  # never decided by the waves: never within
    assert budget_rows(table, 51).tolist() == [True, True, True, False]  # 15 + 24 + 12: C2 alone would cost 36
    assert budget_rows(table, 50).tolist() == [True, False, True, False]
    assert budget_rows(table, 38).tolist() == [False, False, True, False]  # cheapest first: C3 (15), then C1 no more
    assert not budget_rows(table, 14.9).any()
    # a chain already paid at more seeds costs nothing more, however many a later row asks for
    table = pd.DataFrame([_row("C1", 5, "ce", 2.0),  # 5 seeds x 3 runs x 2 h = 30
                          _row("C2", 4, "ce, tsd-0.6", 2.0),  # ce paid at 5 seeds: tsd-0.6's 24 more
                          _row("C3", 5, "ce, lsr", 2.0)])  # ce still paid at 5, not 4: lsr's 30 more
    assert budget_rows(table, 84).all() and budget_rows(table, 83.9).tolist() == [True, True, False]


def _designs(rows=None):
    from tkd.statistics.plan import Plan

    table = pd.DataFrame([
        dict(design="as configured", scenario="the paper holds", gpu_h=100.0, gpu_h_se=0.0, days=2.0, days_se=0.0,
             decided=0.4, decided_se=0.05, specs="fixed 3: a", of_fixed_most=0.3, frontier=True),
        dict(design="waves", scenario="nothing holds", gpu_h=62.4, gpu_h_se=1.25, days=12.34, days_se=0.5,
             decided=0.6, decided_se=0.024, specs="waves 4+1 to 10: a", of_fixed_most=0.62, frontier=False)])
    return Plan(rows, table, [])


def test_the_plan_text_shows_the_designs_with_their_errors_then_the_rows_and_the_budget():
    from tkd.statistics.plan import render
    rows = pd.DataFrame([_row("C1", 4, "ce, tsd-0.6"), _row("C4", math.nan, "ce")])
    rows["seeds_if_null"] = [6.0, math.nan]
    rows["within_budget"] = [True, False]
    text = render(_designs(rows), 16, 20, budget=30)
    assert text.startswith("# Designs on 16 GPUs (20 simulated grids per scenario)")
    designs, rest = text.split("# Seeds each claim needs")
    waves = next(line for line in designs.splitlines() if line.startswith("waves "))
    assert "62 ± 1" in waves and "12.3 ± 0.5" in waves and "60.0 ± 2.4" in waves and "0.62" in waves
    assert "null" in waves and "yes" not in waves
    configured = next(line for line in designs.splitlines() if line.startswith("as configured "))
    assert "yes" in configured and "paper holds" in configured
    c1 = re.split(r"\s{2,}", next(line for line in rest.splitlines() if line.startswith("C1 ")))
    assert c1[-4:-1] == ["4", "6", "24"], c1  # seeds, if null, GPU-hours
    c4 = next(line for line in rest.splitlines() if line.startswith("C4 "))
    assert c4.count("–") >= 3
    assert "A budget of 30 GPU-hours can expect to decide 1 of 2 rows: C1 a top1 (4 seeds)" in text
    assert "A budget" not in render(_designs(rows), 16, 20)
    assert max(len(line) for line in text.splitlines()) <= 100
    rows["within_budget"] = False
    assert "can expect to decide 0 of 2 rows: none" in render(_designs(rows), 16, 20, 30)


def test_the_designs_table_holds_each_design_and_scenario_from_its_outcomes():
    """Each base design once per scenario; GPU-hours, days and decided share with their standard
    errors taken from the outcomes of its own scenario; fixed designs priced by their runs."""
    config = small_config()
    config["plan"]["simulations"] = 3
    result = plan(config, budget=50)
    designs = result.designs
    assert designs.design.tolist() == ["as configured", "fixed, most seeds", "waves"] * 2
    assert designs.scenario.tolist() == ["the paper holds"] * 3 + ["nothing holds"] * 3
    # 2 methods x 3 generations x 2 h: 3 seeds (the config's), 10 (the most)
    assert designs.gpu_h.tolist()[:2] == [36.0, 120.0] and (designs.gpu_h_se[designs.design != "waves"] == 0).all()
    assert designs.of_fixed_most.tolist() == pytest.approx((designs.gpu_h / 120.0).tolist())
    for outcome in result.outcomes:
        line = designs[(designs.design == outcome.candidate.name) & (designs.scenario == outcome.scenario)].iloc[0]
        assert len(outcome.gpu_h) == 3
        assert (line.gpu_h, line.gpu_h_se) == pytest.approx(outcome.mean_se("gpu_h"), nan_ok=True)
        assert (line.days, line.days_se) == pytest.approx(outcome.mean_se("days"), nan_ok=True)
        assert (line.decided, line.decided_se) == pytest.approx(outcome.mean_se("decided"), nan_ok=True)
    fixed = designs[designs.design == "fixed, most seeds"]
    assert (fixed.decided >= designs[designs.design == "as configured"].decided.to_numpy()).all()
    from tkd.statistics.plan import budget_rows
    assert result.rows.within_budget.tolist() == budget_rows(result.rows, 50).tolist()
    assert "within_budget" not in plan(config).rows


def test_simulated_grids_are_seeded_drawn_afresh_and_the_same_whatever_the_workers():
    from tkd.statistics.designs import base_candidates, evaluate
    from tkd.statistics.plan import simulate_waves
    from tkd.statistics.schedule import Durations
    config = small_config()
    one, again = (simulate_waves(config, 4, "nothing holds") for _ in range(2))
    assert np.array_equal(one.decided, again.decided, equal_nan=True) and one.made == again.made
    assert one.decided.shape == one.fixed.shape == (4, len(one.rows)) and one.fixed.dtype == bool
    looks = one.cells[("cifar100", "resnet56_cifar")].looks
    waves = one.decided[~np.isnan(one.decided)]
    assert ((waves >= 1) & (waves <= len(looks)) & (waves == waves.round())).all()
    assert len({tuple(map(str, d)) for d in one.decided}) > 1 or len({str(m) for m in one.made}) > 1, \
        "four grids drawn alike: the generator is not advancing"
    # each chain trains at most the waves' most seeds, every generation: 10 seeds x 3 runs
    assert all(0 < n <= looks[-1] * 3 and n % 3 == 0 for made in one.made for n in made.values())
    candidates = base_candidates(config)
    serial, parallel = (evaluate(config, candidates, 3, 8, Durations.of(config), workers=w) for w in (1, 2))
    for a, b in zip(serial, parallel):
        assert np.array_equal(a.gpu_h, b.gpu_h) and np.array_equal(a.decided, b.decided, equal_nan=True)


def test_the_small_helpers_of_the_plan():
    from tkd.statistics.plan import _first_look, sequential_config
    decided = np.array([1, 1, 2, np.nan, 3])
    assert _first_look(decided, (4, 5, 6)) == 6  # 40 %, 60 %, then exactly 80 % by the third look
    assert _first_look(decided, (4, 5, 6), goal=0.6) == 5
    assert _first_look(decided, (4, 5, 6), goal=0.9) == math.inf
    config = small_config()
    config["grid"] = config["grid"] + [dict(config["grid"][0], seeds={"start": 3, "step": 3, "max": 9})]
    seq = sequential_config(config)
    assert seq["grid"][0]["seeds"] == config["plan"]["sequential"]  # fixed seeds: priced in the plan's waves
    assert seq["grid"][1]["seeds"] == {"start": 3, "step": 3, "max": 9}  # waves of its own: kept
    config["grid"][1]["seeds"] = {"start": 3, "step": 3, "max": 6}
    assert sequential_config(config)["grid"][1]["seeds"] == {"start": 3, "step": 3, "max": 6}  # two waves: kept
    assert config["grid"][0]["seeds"] == [0, 1, 2], "the config itself is not changed"


def test_gpu_hours_of_a_run_count_every_gpu_it_holds(tmp_path):
    config = small_config(tmp_path)
    config["archs"]["resnet56_cifar"]["resources"].update(gpu=2, runtime=90)
    assert hours_per_run(config) == {"resnet56_cifar": (3.0, "config runtime (estimate)")}
    runs = pd.DataFrame(dict(dataset="cifar100", arch="resnet56_cifar", method="ce", seed=[0, 1], generation=0))
    benchmarks(tmp_path, runs.iloc[:1], 1800.0)
    benchmarks(tmp_path, runs.iloc[1:], 5400.0)
    (tmp_path / "benchmarks/train/cifar100/resnet56_cifar/ce/seed1/gen1.tsv").write_text("torn")
    assert hours_per_run(config)["resnet56_cifar"] == (2.0, "benchmarks (2)")  # 1 h mean x 2 GPUs; torn skipped


def test_the_two_scenarios_simulate_what_they_are_named():
    """With a 5-point gain where the paper holds, C1 and C2 are decided at the first wave in every
    grid; where nothing holds, the first wave (4 seeds, a strict boundary) decides few. The waves
    never train a chain outside the grid, and stop early only where the paper holds."""
    from tkd.statistics.plan import simulate_waves
    config = small_config()
    config["plan"].update(effect=5.0, confidence_effect=0.3)
    holds, null = (simulate_waves(config, 5, s) for s in ("the paper holds", "nothing holds"))
    tested = np.array(holds.tested)
    first = {name: (sim.decided[:, tested] == 1).mean() for name, sim in (("holds", holds), ("null", null))}
    assert first["holds"] >= 0.6 and first["null"] <= 0.3, first
    grid_chains = {("cifar100", "resnet56_cifar", m) for m in ("ce", "tsd-0.6")}
    for sim in (holds, null):
        assert all(set(made) <= grid_chains for made in sim.made)
    assert np.mean([sum(m.values()) for m in holds.made]) < np.mean([sum(m.values()) for m in null.made])


def test_each_row_is_planned_from_its_own_simulated_decisions():
    """seeds: the first look deciding 80 % of grids where the paper holds; seeds_if_null: the same
    where nothing holds; a row the simulator cannot make (the linear probe's) is left to real runs."""
    from tkd.statistics.plan import _first_look, simulate_waves
    config = small_config()
    rows = plan(config, simulations=3).rows
    holds, null = (simulate_waves(config, 3, s) for s in ("the paper holds", "nothing holds"))
    looks = holds.cells[("cifar100", "resnet56_cifar")].looks
    simulated = [i for i, t in enumerate(holds.tested) if t]
    assert len(rows) == len(simulated) + 1 and rows.claim.iloc[-1] == "C8"
    for line, i in zip(rows.itertuples(), simulated):
        assert line.seeds == _first_look(holds.decided[:, i], looks)
        assert line.seeds_if_null == _first_look(null.decided[:, i], looks)
        assert line.source == "simulated, the paper holds (3 grids): waves"
        assert line.methods == ", ".join(holds.rows[i].needs) and line.runs_per_seed == 3 * len(holds.rows[i].needs)
    assert (rows.gpu_h_per_run == 2.0).all() and (rows.gpu_h_source == "config runtime (estimate)").all()
    probe = rows.iloc[-1]
    assert math.isnan(probe.seeds) and math.isnan(probe.seeds_if_null) and math.isnan(probe.gpu_h)
    assert probe.source.startswith("not simulated (ensembles, probes)")
    assert list(rows.columns) == ["claim", "dataset", "arch", "metric", "seeds", "source", "seeds_if_null", "methods",
                                  "runs_per_seed", "gpu_h_per_run", "gpu_h_source", "gpu_h"]


def test_the_fixed_design_of_the_plan_is_what_tkd_claims_says_of_the_same_grid(monkeypatch):
    """Each simulated grid's fixed-design verdicts (at the most seeds) are those the claims table
    gives on the same runs, at the config's family level."""
    from tkd.statistics import plan as planning
    from tkd.statistics.claims import Criteria, claims_table, load_claims
    from tkd.statistics.verdicts import DECIDED
    drawn, real = [], simulate.grid_runs

    def keep(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(simulate, "grid_runs", keep)
    config = small_config()
    config["paper"]["fdr"] = 0.005  # the config's family level, not the default 0.05
    sim = planning.simulate_waves(config, 3, "nothing holds")
    drawn = drawn[:3]  # the three grids (one more was drawn after them, to list the rows)
    lenient = []
    for runs, fixed in zip(drawn, sim.fixed):
        claims = load_claims(config["paper"]["claims"])
        table = claims_table(runs, claims=claims, criteria=Criteria.of(config["paper"]), plan=False)
        assert fixed.tolist() == table.verdict.isin(DECIDED).tolist() and fixed.any()
        lenient.append(claims_table(runs, claims=claims, plan=False).verdict.isin(DECIDED).tolist())
    assert lenient != [f.tolist() for f in sim.fixed], "the level must matter on these grids"


def _claims_file(tmp_path, keep=("C1", "C2"), c1_top1_band=None):
    """A copy of the packaged claims with only ``keep``; C1's top-1 row given a size if asked."""
    from tkd.statistics.claims import load_claims
    claims = load_claims()
    claims = claims[claims.claim.isin(keep)].copy()
    if c1_top1_band:
        claims.loc[(claims.claim == "C1") & (claims.quantity == "top1"), ["claimed_low", "claimed_high"]] = c1_top1_band
    path = tmp_path / "claims.csv"
    claims.to_csv(path, index=False)
    return str(path)


def test_the_simulated_waves_follow_the_configs_boundary_and_claims(tmp_path):
    """simulate_waves plans with the config's boundary shape and claims file, not the defaults."""
    from tkd.statistics.plan import simulate_waves
    config = small_config()
    config["paper"].update(boundary=0.5, claims=_claims_file(tmp_path))
    sim = simulate_waves(config, 1, "nothing holds")
    assert {d.shape for d in sim.cells.values()} == {0.5}
    assert {r.labels["claim"] for r in sim.rows} == {"C1", "C2"}


def test_finished_runs_are_planned_with_the_configs_claims_and_level(tmp_path):
    """From finished runs, each row's seeds come from the config's claims (a claim given a size
    needs more seeds to place it) at the config's family level (stricter: more seeds)."""
    config = small_config()
    truth, confidence = simulate.paper_holds(config["methods"], effect=2.0, confidence_effect=0.2)
    runs = simulate.grid_runs(config, truth, rng=np.random.default_rng(1), confidence=confidence)

    def c1_top1(**paper):
        changed = copy.deepcopy(config)
        changed["paper"].update(paper)
        rows = plan(changed, simulations=1, finished=runs).rows
        return rows[(rows.claim == "C1") & (rows.metric == "top1")].iloc[0]

    usual = c1_top1(claims=_claims_file(tmp_path))
    assert usual.source.startswith("your runs") and math.isfinite(usual.seeds)
    sized = c1_top1(claims=_claims_file(tmp_path, c1_top1_band=(-2.5, -1.5)))  # the interval must fit the band
    assert sized.seeds > usual.seeds
    assert c1_top1(claims=_claims_file(tmp_path), fdr=0.0005).seeds > usual.seeds


def test_the_rows_fold_to_one_line_per_claim_and_architecture_at_its_slowest_row():
    from tkd.statistics.plan import rows_text
    rows = pd.DataFrame([_row("C1", 4, "ce, tsd-0.6"), dict(_row("C1", 8, "ce, tsd-0.7"), metric="mean_top1_prob"),
                         _row("C1", 6, "ce, tsd-0.6", arch="b"), _row("C4", math.nan, "ce")])
    rows["seeds_if_null"] = [6.0, math.nan, 10.0, math.nan]
    lines = [re.split(r"\s{2,}", line) for line in rows_text(rows).splitlines()[2:]]
    assert [line[:2] for line in lines] == [["C1", "a"], ["C1", "b"], ["C4", "a"]]
    assert lines[0][2:] == ["top-1, confidence", "8", "6", "48", "simulated"], lines[0]  # the slowest row's seeds
    assert lines[1][3:6] == ["6", "10", "36"] and lines[2][3:6] == ["–", "–", "–"]
