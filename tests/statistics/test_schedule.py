"""The schedule simulation against answers worked by hand: chains of generations on a few GPUs,
checkpoints between a cell's waves, a job that holds several GPUs, the latency of a cluster, and
the jobs a grid makes; then designs: the frontier, the choice for --days, the config it writes."""
import math

import pandas as pd
import pytest
import yaml

from tkd.statistics.schedule import Durations, Job, jobs_of, simulate


def chain(name, gens, hours=1.0, slots=1, first=()):
    return [Job(f"{name}/{g}", hours, slots, (f"{name}/{g - 1}",) if g else tuple(first)) for g in range(gens)]


def test_chains_on_few_gpus_take_the_longest_chain_or_the_work_divided():
    assert simulate(chain("a", 6), 1) == 6.0
    assert simulate(chain("a", 6) + chain("b", 6), 1) == 12.0
    assert simulate(chain("a", 6) + chain("b", 6), 2) == 6.0
    assert simulate(chain("a", 6) + chain("b", 6), 8) == 6.0, "more GPUs than work: the chain's length"
    # three chains of three 2 h runs on 2 GPUs: 18 GPU-hours, 9 h at best, but whole runs: 5 rounds of 2 h
    assert simulate(chain("a", 3, 2.0) + chain("b", 3, 2.0) + chain("c", 3, 2.0), 2) == 10.0
    assert simulate(chain("a", 3, 2.0) + chain("b", 3, 2.0) + chain("c", 3, 2.0), 3) == 6.0


def test_the_longest_remaining_path_goes_first():
    """One GPU: a 1 h job and a chain of three 1 h jobs are ready together; the chain's head first
    (its path is 3 h), so the single job waits: 4 h either way here, but with two GPUs the greedy
    choice matters: the long chain never waits."""
    jobs = chain("long", 3) + [Job("short", 1.0, 1), Job("short2", 1.0, 1)]
    assert simulate(jobs, 2) == 3.0
    assert simulate(jobs, 1) == 5.0


def test_a_checkpoint_holds_back_the_next_wave_and_sees_nothing_beyond():
    wave1 = chain("w1", 2)
    check = Job("wave/c/1", 0.0, 0, ("w1/1",), horizon=True)
    wave2 = chain("w2", 2, first=("wave/c/1",))
    assert simulate(wave1 + [check] + wave2, 4) == 4.0
    other = chain("other", 3)  # another cell's chain goes on meanwhile
    assert simulate(wave1 + [check] + wave2 + other, 2) == 4.0


def test_a_job_holding_several_gpus_waits_for_them_and_smaller_ones_pass():
    big = Job("big", 2.0, 4)
    small = [Job(f"s{i}", 1.0, 1) for i in range(3)]
    assert simulate([big] + small, 4) == 3.0  # the big one first (its path is longest), then the three
    with pytest.raises(ValueError, match="more than the 4 slots"):
        simulate([Job("huge", 1.0, 8)], 4)


def test_latency_delays_what_follows_a_cluster_job_not_a_submit_host_job():
    """A cluster job's end is seen ``latency`` late: its successors wait that long; a job on the
    submit host (no slot) is seen at once, and its GPU (slot) frees at the job's real end."""
    assert simulate(chain("a", 3), 1, latency=0.5) == pytest.approx(3 + 2 * 0.5)
    local = [Job("eval", 0.1, 0, ("a/2",)), Job("next", 1.0, 1, ("eval",))]
    assert simulate(chain("a", 3) + local, 1, latency=0.5) == pytest.approx(3 + 3 * 0.5 + 0.1 + 1.0)
    other = chain("b", 1)  # takes the GPU while a's end is not seen yet
    assert simulate(chain("a", 2) + other, 1, latency=0.5) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="cycle"):
        simulate([Job("a", 1.0, 1, ("b",)), Job("b", 1.0, 1, ("a",))], 1)
    with pytest.raises(ValueError, match="not there"):
        simulate([Job("a", 1.0, 1, ("ghost",))], 1)


def test_the_jobs_of_a_grid_in_waves():
    """Two methods, generations 0-1; seeds 0-1 in wave 1, seed 2 of one method in wave 2: trainings
    after their teachers, the second wave after the cell's first checkpoint, the evaluation of each
    chain, and the final tables after the cell's last checkpoint."""
    durations = Durations({"a": (2.0, 1, "test")}, {"evaluate": 0.25, "wave": 0.1})
    runs = [dict(dataset="d", arch="a", method=m, seed=s, generation=g, wave=1) for m in ("ce", "tsd")
            for s in (0, 1) for g in (0, 1)] + [dict(dataset="d", arch="a", method="ce", seed=2, generation=g, wave=2)
                                                for g in (0, 1)]
    jobs = {j.name: j for j in jobs_of(runs, durations)}
    assert sum(n.startswith("train/") for n in jobs) == 10 and sum(n.startswith("evaluate/") for n in jobs) == 5
    assert jobs["train/d/a/ce/seed0/gen1"].needs == ("train/d/a/ce/seed0/gen0",)
    assert jobs["train/d/a/ce/seed2/gen0"].needs == ("wave/d/a/1",)
    assert set(jobs["wave/d/a/1"].needs) == {f"evaluate/d/a/{m}/seed{s}" for m in ("ce", "tsd") for s in (0, 1)}
    assert jobs["wave/d/a/2"].needs == ("evaluate/d/a/ce/seed2", "wave/d/a/1")
    assert jobs["cell_tables/d/a"].needs == ("wave/d/a/2",)
    # on 4 GPUs: wave 1 is 2 x 2 h + 0.25 h evaluation + 0.1 h checkpoint, wave 2 the same again
    assert simulate(list(jobs.values()), 4) == pytest.approx(2 * (4 + 0.25 + 0.1))
    fixed = [dict(r, wave=1) for r in runs]
    assert "wave/d/a/1" not in {j.name for j in jobs_of(fixed, durations)}
    assert simulate(jobs_of(fixed, durations), 6) == pytest.approx(4 + 0.25)


def test_durations_are_measured_where_benchmarks_exist_else_estimated(tmp_path, config):
    from tkd import layout

    config = dict(config, results=str(tmp_path))
    estimate = Durations.of(config)
    assert estimate.train["densenet_bc_190_cifar"] == (24.0, 1, "config runtime (estimate)")
    assert estimate.rule("transfer", "resnet56_cifar") == 1.0 and estimate.rule("evaluate") == 0.0
    assert estimate.slots("evaluate") == 0 and Durations.of(config, local=True).slots("evaluate") == 1
    run = dict(dataset="cifar100", arch="resnet56_cifar", method="ce", seed=0, generation=0)
    for name, seconds in (("train", 3600), ("evaluate", 36)):
        path = tmp_path / layout.BENCHMARKS[name].format(**run)
        path.parent.mkdir(parents=True)
        path.write_text(f"s\th:m:s\n{seconds}\t0\n")
    measured = Durations.of(config)
    assert measured.train["resnet56_cifar"] == (1.0, 1, "benchmarks (1)")
    assert measured.rule("evaluate", "resnet56_cifar") == pytest.approx(0.01)
    assert measured.train["resnet110_cifar"][2] == "config runtime (estimate)"


# --------------------------------------------------------------------------- designs
def test_the_frontier_and_the_choice_for_a_number_of_days():
    from tkd.statistics.designs import frontier
    from tkd.statistics.plan import choose

    table = pd.DataFrame([dict(design=d, scenario=s, gpu_h=g, days=t) for d, s, g, t in [
        ("fixed", "the paper holds", 100, 7), ("fixed", "nothing holds", 100, 7),
        ("waves", "the paper holds", 60, 24), ("waves", "nothing holds", 90, 40),
        ("mixed", "the paper holds", 80, 8), ("mixed", "nothing holds", 95, 10),
        ("worse", "the paper holds", 110, 9), ("worse", "nothing holds", 110, 12)]])
    table = table.assign(decided=1.0, decided_se=0.0)
    on = {s: set(part.design[frontier(part)]) for s, part in table.groupby("scenario")}
    assert on == {"the paper holds": {"fixed", "waves", "mixed"}, "nothing holds": {"fixed", "waves", "mixed"}}
    pick = lambda t, days: choose(t, days, reference="fixed")  # noqa: E731
    assert pick(table, 10) == "mixed" and pick(table, 7) == "fixed" and pick(table, 6) is None
    assert pick(table, 50) == "waves"
    # a design that decides too little where nothing holds is not chosen, however cheap
    short = table.assign(decided=[1.0, 0.85, 1.0, 0.70, 1.0, 0.84, 1.0, 0.85], decided_se=0.01)
    assert pick(short, 50) == "mixed"


def test_a_design_is_a_config_the_workflow_takes(config, tmp_path):
    from tkd.grid.config import load
    from tkd.statistics.designs import Candidate, search_candidates, spec_text
    from tkd.grid.waves import looks

    hours = {a: config["archs"][a]["resources"]["runtime"] / 60 * 6 for a in config["grid"][0]["archs"]}
    candidates = search_candidates(config, hours)
    assert len(candidates) == 16 and len({c.specs for c in candidates}) == 16
    slow = [c for c in candidates if dict(c.specs)["densenet_bc_190_cifar"][0] == "fixed"
            and dict(c.specs)["resnet56_cifar"][0] == "waves"]
    candidate = slow[0]
    assert "densenet_bc_190_cifar fixed 10" in candidate.name
    grid = candidate.config(config)["grid"]
    assert [len(b["archs"]) for b in grid if b["dataset"] == "cifar100"] == [3, 1]
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump({"grid": grid}))
    merged = load([str(path)])
    cells = looks(merged)
    waves = dict(candidate.specs)["resnet56_cifar"]  # plan.sequential's waves: 4, 6, 8, 10 seeds
    assert cells[("cifar100", "densenet_bc_190_cifar")] == (10,)
    assert cells[("cifar100", "resnet56_cifar")] == tuple(range(waves[1], waves[3] + 1, waves[2]))
    assert spec_text(("waves", 4, 1, 10)) == "waves 4+1 to 10" and spec_text(("fixed", 0, 1, 2)) == "fixed 3"
    assert spec_text(("fixed", 0, 2)) == "fixed 0,2" and Candidate("x", candidate.specs).fixed is False


@pytest.mark.parametrize("gpus", [16, 64])
def test_more_gpus_never_take_longer(config, gpus):
    """The fixed design's days on the paper grid: the work divided by the GPUs, or the slowest
    chain (6 generations of 24 h: 6 days), whichever is longer."""
    from tkd import grid

    durations = Durations.of(dict(config, results="/nonexistent"))
    runs = [dict(r, wave=1) for r in grid.runs(dict(config, grid=[dict(config["grid"][0], seeds=list(range(10)))]))]
    days = simulate(jobs_of(runs, durations, transfer=False), gpus) / 24
    work = sum(durations.train[r["arch"]][0] for r in runs) / gpus / 24
    assert max(work, 6.0) <= days <= max(work, 6.0) * 1.1 + 1 / 24
    assert simulate(jobs_of(runs, durations, transfer=False), 2 * gpus) / 24 <= days + 1e-9
    assert not math.isnan(days)
