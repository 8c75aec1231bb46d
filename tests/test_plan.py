"""`tkd plan`: seeds and GPU-hours per claim row, from a prior or from finished runs, and the
GPU-hours of the fixed and the sequential designs."""
import math

import numpy as np
import pytest
import pandas as pd
import yaml

from helpers import REPO, paper_config, tkd
from tkd import simulate
from tkd.plan import hours_per_run, plan

SMALL = {"grid": [{"dataset": "cifar100", "archs": ["resnet56_cifar"], "methods": ["ce", "tsd-0.6"],
                   "seeds": [0, 1, 2], "generations": 2}]}


def small_config():
    config = paper_config()
    config.update(SMALL)
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
    rows["within_budget"] = False
    assert "can expect to decide 0 of 2 rows" in render(rows, costs, 30) and render(rows, costs, 30).endswith("- none")
