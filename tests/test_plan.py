"""`tkd plan`: seeds and GPU-hours per claim row, from a prior or from finished runs, and the
GPU-hours of the fixed and the sequential designs."""
import copy
import math

import numpy as np
import pytest
import pandas as pd
import yaml

from helpers import paper_config, tkd
from tkd import simulate
from tkd.plan import hours_per_run, plan

SMALL = {"grid": [{"dataset": "cifar100", "archs": ["resnet56_cifar"], "methods": ["ce", "tsd-0.6"],
                   "seeds": [0, 1, 2], "generations": 2}]}


def small_config():
    config = paper_config()
    config.update(copy.deepcopy(SMALL))
    return config


def test_plan_cli_prints_rows_and_designs_and_writes_csv(tmp_path):
    site = tmp_path / "small.yaml"
    site.write_text(yaml.safe_dump(dict(SMALL, results=str(tmp_path / "results"))))
    out = tkd("plan", "--configfile", str(site), "--simulations", "2", "--budget", "100", "-o",
              str(tmp_path / "plan.csv"))
    assert out.returncode == 0, out.stderr
    assert "GPU-hours and rows decided of each design" in out.stdout and "sequential, expected" in out.stdout
    assert "A budget of 100 GPU-hours can expect to decide" in out.stdout
    rows = pd.read_csv(tmp_path / "plan.csv")
    assert {"claim", "seeds", "gpu_h", "gpu_h_source", "within_budget"} <= set(rows.columns)
    assert set(rows.claim) >= {"C1", "C2", "C3"} and (rows.gpu_h_source == "config runtime (estimate)").all()
    designs = pd.read_csv(tmp_path / "plan_designs.csv")
    worst = designs[designs.design == "sequential, worst case"].gpu_h.iloc[0]
    assert (designs[designs.design == "sequential, expected"].gpu_h <= worst + 1e-9).all()
    # 1 arch x 2 methods x 10 seeds x 3 generations x 2 h (ResNet-56's runtime) = 120 GPU-hours at the most seeds
    assert worst == 120.0 and designs.gpu_h.iloc[0] == 36.0, designs


def test_finished_runs_replace_the_prior_and_the_estimate_of_a_run():
    config = small_config()
    runs = simulate.grid_runs(config, simulate.flat(72.0), rng=np.random.default_rng(0))
    runs["wall_seconds"] = 1800.0
    hours = hours_per_run(config, runs)
    assert hours["resnet56_cifar"] == (0.5, "benchmarks (18)")
    rows, designs = plan(config, simulations=2, finished=runs)
    tested = rows[rows.claim != "C8"]  # the linear probe's row has no runs here (no transfer.csv)
    assert tested.source.str.startswith("your runs (n=3)").all() and len(tested) == 5
    no_effect = rows[rows.claim == "C2"].iloc[0]
    assert math.isinf(no_effect.seeds) or no_effect.seeds > 10, "no effect: no practical number of seeds decides"
    assert designs.gpu_h.iloc[0] == 18 * 0.5
    two = plan(config, simulations=2, finished=runs[runs.seed < 2])[0]  # two seeds: enough to plan from
    assert two[two.claim != "C8"].source.str.startswith("your runs (n=2)").all()
    one = plan(config, simulations=2, finished=runs[runs.seed < 1])[0]
    assert one.source.str.startswith("simulated").sum() == 5


def test_a_rows_gpu_hours_are_its_seeds_times_its_chains_runs():
    """Each row: seeds x its methods x (generations + 1) runs x the hours of one run."""
    rows, _ = plan(small_config(), simulations=2)
    priced = rows[np.isfinite(rows.gpu_h)]
    assert len(priced)
    for r in priced.itertuples():
        assert r.gpu_h == pytest.approx(r.seeds * len(r.methods.split(", ")) * 3 * 2.0), r


@pytest.mark.slow
def test_a_null_row_run_at_the_seeds_the_planner_names_is_mostly_called_not_reproduced():
    """Where the planner says a null row is called negligible by N seeds (80 % of its simulated
    grids), 100 fresh null grids decide it by N in >= 75 % (less one Monte-Carlo standard error)."""
    from tkd.plan import simulate_waves

    config = small_config()
    rows, _ = plan(config, simulations=60)
    fresh = simulate_waves(config, 100, "nothing holds", rng_seed=99)
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
    return dict(claim=claim, dataset="d", arch=arch, metric="top1", seeds=float(seeds), source="prior",
                seeds_if_null=math.nan, methods=methods, runs_per_seed=n * gens, gpu_h_per_run=gpu_h_per_run,
                gpu_h_source="config", gpu_h=seeds * n * gens * gpu_h_per_run if math.isfinite(seeds) else seeds)


def test_a_budget_pays_for_a_shared_chain_once_cheapest_rows_first():
    from tkd.plan import budget_rows
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


def test_the_plan_text_shows_every_row_the_designs_with_their_errors_and_the_budget():
    from tkd.plan import render
    rows = pd.DataFrame([_row("C1", 4, "ce, tsd-0.6"), _row("C4", math.nan, "ce")])
    rows["seeds_if_null"] = [6.0, math.nan]
    rows["within_budget"] = [True, False]
    costs = pd.DataFrame([dict(design="fixed", scenario="any", gpu_h=100.0, gpu_h_se=math.nan, decided=math.nan,
                               decided_se=math.nan),
                          dict(design="sequential, expected", scenario="nothing holds", gpu_h=62.4, gpu_h_se=1.25,
                               decided=0.6, decided_se=0.024)])
    costs["of_fixed_most"] = costs.gpu_h / 100
    text = render(rows, costs, budget=30)
    table = text.split("# GPU-hours")[0]
    assert "| C1 " in table and "| C4 " in table
    c1 = next(line for line in table.splitlines() if line.startswith("| C1"))
    assert "24.0" in c1 and "| 4 " in c1 and "| 6 " in c1 and "1.00" in c1  # gpu_h, seeds, if null, per run
    c4 = next(line for line in table.splitlines() if line.startswith("| C4"))
    assert c4.count("–") >= 3  # no seeds, none if null, no GPU-hours
    designs = text.split("# GPU-hours and rows decided of each design")[1]
    assert "62 ± 1" in designs and "60.0% ± 2.4%" in designs and "0.62" in designs
    fixed = next(line for line in designs.splitlines() if line.startswith("| fixed"))
    assert "100" in fixed and "±" not in fixed and "–" in fixed and "1.00" in fixed
    assert "# A budget of 30 GPU-hours can expect to decide 1 of 2 rows" in text
    assert "- C1 d/a top1: 4 seeds" in text and "- C4" not in text
    assert "# A budget" not in render(rows, costs)

    def cells(line):
        return [c.strip() for c in line.strip().strip("|").split("|")]

    headers = [line for line in text.splitlines() if line.startswith("| claim") or line.startswith("| design")]
    assert cells(headers[0]) == ["claim", "dataset", "arch", "metric", "seeds", "source", "seeds_if_null", "methods",
                                 "gpu_h_per_run", "gpu_h_source", "gpu_h", "within_budget"]  # no index, no runs/seed
    assert cells(headers[1]) == ["design", "scenario", "gpu_h", "decided", "of_fixed_most"]
    assert [cells(c4)[i] for i in (4, 6, 10)] == ["–"] * 3 and cells(fixed)[3] == "–" and cells(fixed)[2] == "100"
    rows["within_budget"] = False
    assert "can expect to decide 0 of 2 rows" in render(rows, costs, 30) and render(rows, costs, 30).endswith("- none")


def test_the_designs_table_prices_each_design_and_scenario_from_its_simulations(monkeypatch):
    """Each design and scenario once, in order; the fixed designs priced by their runs, the expected
    sequential cost and decided share taken from the simulated grids of its own scenario."""
    import tkd.plan as planning
    config = small_config()
    config["plan"]["simulations"] = 3
    seen = []
    real = planning.simulate_waves

    def recording(config_, simulations, scenario, rng_seed=0):
        seen.append((simulations, scenario))
        return real(config_, simulations, scenario, rng_seed)

    monkeypatch.setattr(planning, "simulate_waves", recording)
    rows, designs = plan(config, budget=50)
    assert seen == [(3, "the paper holds"), (3, "nothing holds")]  # plan.simulations where none is given
    assert designs.design.tolist() == ["fixed, the config's seeds", "fixed, the waves' most seeds",
                                       "fixed, the waves' most seeds", "sequential, expected", "sequential, expected",
                                       "sequential, worst case"]
    assert designs.scenario.tolist() == ["any", "the paper holds", "nothing holds", "the paper holds",
                                         "nothing holds", "any"]
    assert designs.columns.tolist() == ["design", "scenario", "gpu_h", "gpu_h_se", "decided", "decided_se",
                                        "of_fixed_most"]
    # 2 methods x 3 generations x 2 h: 3 seeds (the config's), 10 (the waves' most)
    assert designs.gpu_h.tolist()[:3] == [36.0, 120.0, 120.0] and designs.gpu_h.iloc[-1] == 120.0
    assert designs.of_fixed_most.tolist() == pytest.approx((designs.gpu_h / 120.0).tolist())
    for position, scenario in ((1, "the paper holds"), (2, "nothing holds")):
        sim = real(config, 3, scenario)
        fixed, expected = designs.iloc[position], designs.iloc[position + 2]
        assert (fixed.decided, fixed.decided_se) == pytest.approx(sim.share(sim.fixed))
        assert (expected.decided, expected.decided_se) == pytest.approx(sim.share(~np.isnan(sim.decided)))
        spent = [sum(n * 2.0 for n in made.values()) for made in sim.made]
        assert (expected.gpu_h, expected.gpu_h_se) == pytest.approx((np.mean(spent), np.std(spent, ddof=1) / 3 ** .5))
        assert math.isnan(fixed.gpu_h_se)
    assert rows.within_budget.tolist() == planning.budget_rows(rows, 50).tolist()
    assert "within_budget" not in plan(config)[0]


def test_simulated_waves_are_seeded_and_every_grid_is_drawn_afresh():
    from tkd.plan import simulate_waves
    config = small_config()
    one, again = (simulate_waves(config, 4, "nothing holds") for _ in range(2))
    assert np.array_equal(one.decided, again.decided, equal_nan=True) and one.made == again.made
    assert one.decided.shape == one.fixed.shape == (4, len(one.rows)) and one.fixed.dtype == bool
    assert one.tested == [row.sample is not None and row.sample.n > 0 for row in one.rows]
    looks = one.cells[("cifar100", "resnet56_cifar")].looks
    waves = one.decided[~np.isnan(one.decided)]
    assert ((waves >= 1) & (waves <= len(looks)) & (waves == waves.round())).all()
    assert len({tuple(map(str, d)) for d in one.decided}) > 1 or len({str(m) for m in one.made}) > 1, \
        "four grids drawn alike: the generator is not advancing"
    # each chain trains at most the waves' most seeds, every generation: 10 seeds x 3 runs
    assert all(0 < n <= looks[-1] * 3 and n % 3 == 0 for made in one.made for n in made.values())


def test_the_small_helpers_of_the_plan():
    from tkd.plan import _first_look, _mean_se, sequential_config
    assert _mean_se([1.0, 2.0, 3.0, 6.0]) == pytest.approx((3.0, np.std([1, 2, 3, 6], ddof=1) / 2))
    assert _mean_se([1.0, 3.0]) == pytest.approx((2.0, 1.0))  # two grids have a standard error
    mean, se = _mean_se([4.0])
    assert mean == 4.0 and math.isnan(se)
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


def test_gpu_hours_of_a_run_count_every_gpu_it_holds():
    config = small_config()
    config["archs"]["resnet56_cifar"]["resources"].update(gpu=2, runtime=90)
    assert hours_per_run(config, pd.DataFrame()) == {"resnet56_cifar": (3.0, "config runtime (estimate)")}
    no_times = pd.DataFrame({"arch": ["resnet56_cifar"], "test_top1": [70.0]})
    assert hours_per_run(config, no_times)["resnet56_cifar"] == (3.0, "config runtime (estimate)")
    timed = pd.DataFrame({"arch": ["resnet56_cifar"] * 3, "wall_seconds": [1800.0, 5400.0, np.nan]})
    assert hours_per_run(config, timed)["resnet56_cifar"] == (2.0, "benchmarks (2)")  # 1 h mean x 2 GPUs


def test_the_two_scenarios_simulate_what_they_are_named():
    """With a 5-point gain where the paper holds, C1 and C2 are decided at the first wave in every
    grid; where nothing holds, the first wave (4 seeds, a strict boundary) decides few. The waves
    never train a chain outside the grid, and stop early only where the paper holds."""
    from tkd.plan import simulate_waves
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
    from tkd.plan import _first_look, simulate_waves
    config = small_config()
    rows, _ = plan(config, simulations=3)
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
    """Each simulated grid's fixed-design verdicts (at the waves' most seeds) are those the claims
    table gives on the same runs."""
    from tkd import plan as planning
    from tkd.claims import Criteria, claims_table, load_claims
    from tkd.verdicts import DECIDED
    drawn, real = [], simulate.grid_runs

    def keep(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(simulate, "grid_runs", keep)
    config = small_config()
    config["paper"]["fdr"] = 0.005  # the config's family level, not the default 0.05
    sim = planning.simulate_waves(config, 3, "nothing holds")
    lenient = []
    for runs, fixed in zip(drawn, sim.fixed):
        table = claims_table(runs, claims=load_claims(config["paper"]["claims"]), criteria=Criteria.of(config["paper"]),
                             plan=False)
        assert fixed.tolist() == table.verdict.isin(DECIDED).tolist() and fixed.any()
        lenient.append(claims_table(runs, claims=load_claims(config["paper"]["claims"]), plan=False).verdict.isin(
            DECIDED).tolist())
    assert lenient != [f.tolist() for f in sim.fixed], "the level must matter on these grids"


def _claims_file(tmp_path, keep=("C1", "C2"), c1_top1_band=None):
    """A copy of the packaged claims with only ``keep``; C1's top-1 row given a size if asked."""
    from tkd.claims import load_claims
    claims = load_claims()
    claims = claims[claims.claim.isin(keep)].copy()
    if c1_top1_band:
        claims.loc[(claims.claim == "C1") & (claims.quantity == "top1"), ["claimed_low", "claimed_high"]] = c1_top1_band
    path = tmp_path / "claims.csv"
    claims.to_csv(path, index=False)
    return str(path)


def test_the_simulated_waves_follow_the_configs_boundary_and_claims(tmp_path):
    """simulate_waves plans with the config's boundary shape and claims file, not the defaults."""
    from tkd.plan import simulate_waves
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
        rows, _ = plan(changed, simulations=1, finished=runs)
        return rows[(rows.claim == "C1") & (rows.metric == "top1")].iloc[0]

    usual = c1_top1(claims=_claims_file(tmp_path))
    assert usual.source.startswith("your runs") and math.isfinite(usual.seeds)
    sized = c1_top1(claims=_claims_file(tmp_path, c1_top1_band=(-2.5, -1.5)))  # the interval must fit the band
    assert sized.seeds > usual.seeds
    assert c1_top1(claims=_claims_file(tmp_path), fdr=0.0005).seeds > usual.seeds
