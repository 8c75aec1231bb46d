"""The claims judged wave by wave as the workflow judges them: each look on its own seeds, seeds in
ascending order whatever the file's, futility at the block's most seeds and then no more seeds
asked for, a row's weight by the seeds it has; and `tkd claims --looks` reproducing the workflow
row for row, with the config's boundary, futility and delta."""
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from tkd.statistics import simulate
from tkd.grid import waves
from tkd.statistics.claims import Criteria
from tkd.cli import main
from tkd.statistics.sequential import Design, SequentialTrack, designs, evidence
from tkd.statistics.stats import Region, Sample, sample
from tkd.statistics.wave_claims import (_futile_at, cell_judge, decision, emulate, judge, looks_of_runs,
                                         samples_by_look)

COLUMNS = ["claim", "dataset", "arch", "metric", "subject", "reference", "estimate", "n", "verdict", "wave",
           "futile", "level", "family_ci_low", "family_ci_high"]


def small(config, seeds={"start": 4, "step": 2, "max": 8}, archs=2):
    """The paper's CIFAR grid cut to ``archs`` architectures, its seeds in waves."""
    block = dict(config["grid"][0], archs=config["grid"][0]["archs"][:archs], seeds=dict(seeds))
    return dict(config, grid=[block])


def simulated(config, rng_seed=0, truth=None, confidence=None):
    return simulate.grid_runs(config, truth or simulate.flat(72.0), simulate.REGIMES["realistic"],
                              np.random.default_rng(rng_seed), confidence)


def test_each_look_is_judged_on_its_own_seeds(config, claims):
    seq = small(config)
    cells = designs(waves.looks(seq))
    per_look = samples_by_look(simulated(seq), None, None, claims, Criteria(), cells, 3)
    for look, rows in zip((4, 6, 8), per_look):
        assert {r.sample.n for r in rows if r.sample is not None} == {look}


def test_seeds_join_in_ascending_order_whatever_the_files_order(config, claims):
    seq = small(config)
    cells = designs(waves.looks(seq))
    runs = simulated(seq)
    table, _, _ = judge(runs, None, None, claims, Criteria(), cells, 3, plan=False)
    shuffled = runs.sample(frac=1.0, random_state=1).reset_index(drop=True)
    backwards = runs.sort_values("seed", ascending=False, kind="stable").reset_index(drop=True)
    for other in (shuffled, backwards):
        again, _, _ = judge(other, None, None, claims, Criteria(), cells, 3, plan=False)
        pd.testing.assert_frame_equal(table[COLUMNS], again[COLUMNS])


def test_futility_is_judged_at_the_blocks_most_seeds():
    """At 4 of 40 seeds a row 0.3 points up with sd 0.5 has little chance of a decision; by 40 seeds
    a high one: it is not futile. A row that 40 seeds cannot decide is."""
    design = Design((4, 40))
    region = Region.effect(">", delta=0.5)
    hopeful = [Sample(0.3, 0.5, 4), None]
    hopeless = [Sample(0.5, 6.0, 4), None]
    rows = [type("R", (), {"region": region})() for _ in range(2)]
    out = _futile_at([hopeful, hopeless], rows, [design, design], [math.nan, math.nan], Criteria(futility=0.3))
    assert math.isnan(out[0]) and out[1] == 1


def test_a_futile_row_asks_for_no_more_seeds(config, claims):
    seq = small(config)
    cells = designs(waves.looks(seq))
    runs = simulated(seq)
    _, _, needs = judge(runs, None, None, claims, Criteria(futility=0.0), cells, 1, plan=False)
    # above 1: every open row's chance of a decision is below it, so every open row is futile
    table, _, futile_needs = judge(runs, None, None, claims, Criteria(futility=1.01), cells, 1, plan=False)
    assert needs and not futile_needs, "every open row futile: no chain gets the next wave"
    assert table.futile.notna().sum() == (table.verdict.eq("inconclusive") & table.n.gt(0)).sum()


def test_a_rows_weight_follows_the_seeds_it_has():
    """A row whose chains stopped after 6 seeds, judged again at looks 8 and 10 on the same 6 seeds:
    the same evidence, so the repeated p-values and the nominal level do not move (with the looks'
    planned weights both decisions would gain from nothing)."""
    design = Design((4, 6, 8, 10), 0.25)
    region = Region.effect(">", delta=0.5)
    values = np.array([0.1, 0.3, 0.2, 0.25, 0.15, 0.3])  # both z's positive: above 0, below delta
    early = [sample(values[:4]), sample(values)]
    stopped = early + [sample(values), sample(values)]
    one, later = (SequentialTrack.of(x, evidence(x, region), design) for x in (early, stopped))
    assert min(one.p) < 0.5
    assert one.p == pytest.approx(later.p)
    assert one.nominal(0.0125, "against") == pytest.approx(later.nominal(0.0125, "against"))
    assert later.nominal(0.0125, None) == pytest.approx(design.nominal(0.0125, 1))


@pytest.mark.parametrize("scenario", ["nothing holds", "the paper holds"])
def test_tkd_claims_looks_reproduces_the_workflows_table(config, claims, scenario, tmp_path, capsys):
    """The workflow's waves emulated (only the chains an open row asks for get seeds, futility on),
    then its runs.csv given to `tkd claims --looks` with the config: the same table row for row."""
    from tkd.statistics.designs import scenario_truth

    seq = small(config, {"start": 3, "step": 2, "max": 7})
    seq["paper"] = dict(seq["paper"], futility=0.3)  # on: the command must read it from the config too
    cells = designs(waves.looks(seq), seq["paper"]["boundary"])
    criteria = Criteria.of(seq["paper"])
    path, configfile = tmp_path / "runs.csv", tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump({"grid": seq["grid"], "paper": {"futility": 0.3}}))
    truth, confidence = scenario_truth(seq, scenario)
    for grid_seed in range(2):
        made = emulate(seq, simulated(seq, grid_seed, truth, confidence), claims, criteria, cells)
        made.runs.sample(frac=1.0, random_state=grid_seed).to_csv(path, index=False)
        out = tmp_path / f"claims{grid_seed}.csv"
        assert main(["claims", str(path), "--looks", "--configfile", str(configfile), "-o", str(out)]) == 0
        capsys.readouterr()
        again = pd.read_csv(out)
        assert len(again) == len(made.table)
        for column in COLUMNS:
            mine, theirs = made.table[column], again[column]
            if pd.api.types.is_numeric_dtype(mine):
                assert np.allclose(mine.astype(float), theirs.astype(float), equal_nan=True), column
            else:
                assert mine.fillna("").astype(str).tolist() == theirs.fillna("").astype(str).tolist(), column


def test_looks_beyond_the_seeds_are_refused(config, claims, tmp_path, capsys):
    seq = small(config, {"start": 4, "step": 2, "max": 8})
    path = tmp_path / "runs.csv"
    simulated(seq).to_csv(path, index=False)
    assert main(["claims", str(path), "--looks", "4,6,8,10"]) == 2
    assert "beyond the seeds of the runs" in capsys.readouterr().err
    with pytest.raises(Exception, match="outside its looks"):
        looks_of_runs(simulated(seq), waves.looks(small(config, {"start": 4, "step": 1, "max": 6})), None, 0.25)


def test_the_last_look_is_judged_and_delta_comes_from_the_command_or_the_config(config, claims, tmp_path, capsys):
    """--looks judges through its last look (the table is the one of wave 3); --delta, and else the
    config's paper.delta.points, is the delta the rows are judged by."""
    seq = small(config, {"start": 4, "step": 2, "max": 8})
    runs = simulated(seq)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    out = tmp_path / "claims.csv"
    assert main(["claims", str(path), "--looks", "4,6,8", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    direct, _, _ = judge(runs, None, None, claims, Criteria.of(config["paper"]), designs(
        {c: (4, 6, 8) for c in waves.looks(seq)}, config["paper"]["boundary"]), 3)
    assert table.n.max() == 8 and np.allclose(table.estimate, direct.estimate, equal_nan=True)
    assert table.verdict.tolist() == direct.verdict.tolist()
    assert main(["claims", str(path), "--delta", "2.5", "-o", str(out)]) == 0
    assert set(pd.read_csv(out).delta.dropna()) == {2.5, 0.025}
    configfile = tmp_path / "delta.yaml"
    configfile.write_text(yaml.safe_dump({"paper": {"delta": {"points": 0.8}}}))
    assert main(["claims", str(path), "--configfile", str(configfile), "-o", str(out)]) == 0
    assert set(pd.read_csv(out).delta.dropna()) == {0.8, 0.025}
    capsys.readouterr()


def test_the_planner_simulates_the_waves_the_workflow_runs(config, claims):
    """tkd plan's simulation is the emulated workflow: a chain no open row asks for gets no more
    seeds, so fewer runs are made than every chain at every wave."""
    from tkd.statistics.plan import simulate_waves

    seq = small(config, {"start": 3, "step": 2, "max": 7})
    seq["plan"] = dict(seq["plan"], sequential={"start": 3, "step": 2, "max": 7})
    sim = simulate_waves(seq, 2, "the paper holds")
    most = 7 * 6  # seeds x generations of a chain run to the end
    assert any(n < most for made in sim.made for n in made.values())
    assert all(n % 6 == 0 and n >= 3 * 6 for made in sim.made for n in made.values())


@pytest.mark.parametrize("futility", [0.0, 0.3])
def test_the_emulated_waves_are_the_checkpoints_steps(config, claims, futility):
    """Each cell's emulated waves, checked step by step against the checkpoint's own judgement
    (cell_judge, which tabulates, not the emulation's shortcut): wave 1 is every chain at the first
    look's seeds; wave k adds, at the seeds between looks k-1 and k, exactly the chains the cell's
    rows judged after wave k-1 ask for; a cell stops after the wave at which none is asked for, or
    at its last wave."""
    seq = small(config, {"start": 3, "step": 2, "max": 7})
    criteria = Criteria.of(dict(seq["paper"], futility=futility))
    cells = designs(waves.looks(seq), seq["paper"]["boundary"])
    for grid_seed in range(3):
        made = emulate(seq, simulated(seq, grid_seed), claims, criteria, cells)
        for cell, design in cells.items():
            mine = made.runs[(made.runs.dataset == cell[0]) & (made.runs.arch == cell[1])]
            looks, stopped = design.looks, made.waves[cell]
            assert 1 <= stopped <= len(looks) and set(mine.wave) == set(range(1, stopped + 1))
            first = mine[mine.wave == 1]
            assert set(first.seed) == set(range(looks[0])) and first.method.nunique() == len(seq["grid"][0]["methods"])
            for wave in range(1, stopped + 1):
                before = mine[mine.wave <= wave]
                _, _, needs = cell_judge(before, None, None, claims, criteria, cell, design, wave)
                added = mine[mine.wave == wave + 1]
                if wave == stopped:
                    assert added.empty and (not needs or wave == len(looks)), (cell, wave, needs)
                    continue
                assert set(zip(added.dataset, added.arch, added.method)) == set(map(tuple, needs)), (cell, wave)
                assert set(added.seed) == set(range(looks[wave - 1], looks[wave]))


def test_a_checkpoints_decision_counts_its_rows():
    table = pd.DataFrame({
        "claim": ["C1", "C2", "C3", "C4", "C5"], "dataset": "d", "arch": "a", "metric": "test_top1",
        "subject": "tsd", "reference": "ce", "verdict": ["supported", "inconclusive", "contradicted", "inconclusive",
                                                          "inconclusive"],
        "n": [6, 6, 6, 0, 6], "futile": [math.nan, math.nan, math.nan, math.nan, 2.0]})
    needs = [("d", "a", "tsd"), ("d", "a", "ce"), ("d", "a", "tsd")]
    out = decision(table, 2, [{"seed": 7}], needs, 24)
    assert out == {"wave": 2, "stop": False, "next_runs": [{"seed": 7}], "chains": [["d", "a", "ce"], ["d", "a", "tsd"]],
                   "runs_so_far": 24, "decided": 2, "undecided": 2, "futile": 1,
                   "undecided_rows": ["C2 d/a test_top1 (tsd vs ce)", "C5 d/a test_top1 (tsd vs ce)"]}
    assert decision(table, 3, [], [], 30)["stop"] is True


def test_a_cells_judgement_holds_its_rows_alone(config, claims):
    seq = small(config)
    cells = designs(waves.looks(seq))
    runs = simulated(seq)
    for cell, design in cells.items():
        table, _, needs = cell_judge(runs, None, None, claims, Criteria(), cell, design, 2)
        assert len(table) and set(zip(table.dataset, table.arch)) == {cell}
        assert all(tuple(c[:2]) == cell for c in needs)
        alone, _, _ = judge(runs, None, None, claims, Criteria(), {cell: design}, 2, plan=False)
        mine = alone[(alone.dataset == cell[0]) & (alone.arch == cell[1])].reset_index(drop=True)
        pd.testing.assert_frame_equal(table, mine)
