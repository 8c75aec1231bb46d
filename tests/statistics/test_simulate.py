"""The simulator's noise model: what the tests and the planner assume about seeds, runs and halves."""
import math

import numpy as np
import pandas as pd
import pytest

from tkd.statistics import simulate
from tkd.statistics.simulate import Noise


def test_noise_scaled_to_an_architectures_seed_sd_keeps_its_shape():
    noise = Noise(seed_sd=0.1, run_sd=0.3, half_sd=0.2)
    assert noise.seed_sd_whole == pytest.approx(math.sqrt(0.01 + 0.09 + 0.04 / 2))
    scaled = noise.scaled_to(0.66)
    assert scaled.seed_sd_whole == pytest.approx(0.66)
    k = 0.66 / noise.seed_sd_whole
    assert (scaled.seed_sd, scaled.run_sd, scaled.half_sd) == pytest.approx((0.1 * k, 0.3 * k, 0.2 * k))
    assert scaled.confidence_sd == noise.confidence_sd


def test_simulated_runs_have_the_noise_they_are_drawn_with():
    """Over many seeds: a run's top-1 varies by seed_sd_whole, the halves differ by half noise only,
    and two methods' runs of one seed share the seed effect."""
    noise = Noise(seed_sd=0.4, run_sd=0.3, half_sd=0.2)
    keys = [dict(dataset="d", arch="a", method=m, seed=s, generation=0) for s in range(4000) for m in ("x", "y")]
    runs = simulate.simulate(keys, {"x": {"loss": "ce"}, "y": {"loss": "ce"}}, simulate.flat(70.0), noise,
                             np.random.default_rng(0))
    x, y = (runs[runs.method == m].set_index("seed") for m in ("x", "y"))
    assert x.test_top1.mean() == pytest.approx(70.0, abs=0.05)
    assert x.test_top1.std() == pytest.approx(noise.seed_sd_whole, rel=0.05)
    assert (x.test_top1_a - x.test_top1_b).std() == pytest.approx(0.2 * math.sqrt(2), rel=0.05)
    paired = math.sqrt(2 * (0.3 ** 2 + 0.2 ** 2 / 2))  # the seed effect cancels
    assert (x.test_top1 - y.test_top1).std() == pytest.approx(paired, rel=0.05)
    assert ((x.images_a == 5000) & (x.images_b == 5000)).all()


def test_the_truth_where_the_paper_holds_is_the_chains_it_describes():
    methods = {"ce": {"loss": "ce"}, "ls": {"loss": "ls"}, "cp": {"loss": "cp"}, "tsd-0.6": {"loss": "tsd", "eta": 0.6},
               "tsd-0.7": {"loss": "tsd", "eta": 0.7}}
    top1, confidence = simulate.paper_holds(methods)  # documented defaults: 1 point, 1.72 (C3's middle), 0.05
    at = lambda method, g: top1(dict(method=method, generation=g))  # noqa: E731
    assert [at("ce", g) for g in range(4)] == [72.0, 72.0, 71.5, 71.0]  # first student best, then declining
    assert at("ls", 0) == 71.5 and at("cp", 0) == 71.0
    assert at("tsd-0.6", 0) == at("tsd-0.7", 0) == 71.0  # a tolerant patriarch: effect below ce's
    assert at("tsd-0.6", 3) == pytest.approx(73.72) and at("tsd-0.6", 5) == pytest.approx(72.72)
    assert at("tsd-0.7", 3) == pytest.approx(72.72) and at("tsd-0.6", 1) == pytest.approx(72.72)
    assert confidence(dict(method="tsd-0.7", generation=0)) == pytest.approx(0.75)
    assert confidence(dict(method="tsd-0.7", generation=1)) == confidence(dict(method="ce", generation=0)) == 0.8
    top1, _ = simulate.paper_holds({"ce": {"loss": "ce"}, "tsd-0.8": {"loss": "tsd", "eta": 0.8},
                                    "tsd-0.9": {"loss": "tsd", "eta": 0.9}}, effect=2.0, size=1.0)
    assert top1(dict(method="tsd-0.8", generation=3)) == 73.0  # no eta = 0.6: the first tolerant chain peaks
    assert top1(dict(method="tsd-0.9", generation=3)) == 71.0 and top1(dict(method="tsd-0.9", generation=0)) == 70.0
    assert simulate.flat()(dict(method="ce", generation=0)) == 72.0


def test_a_simulated_grid_has_its_data_sets_test_images_and_one_index():
    from helpers import paper_config
    config = paper_config()
    config["datasets"]["synthetic"]["test_per_class"] = 7
    config["grid"] = [{"dataset": "synthetic", "archs": ["resnet56_cifar"], "methods": ["ce"], "seeds": [0, 1],
                       "generations": 1},
                      {"dataset": "cifar100", "archs": ["resnet56_cifar"], "methods": ["ce"], "seeds": [0],
                       "generations": 1}]
    runs = simulate.grid_runs(config, simulate.flat(72.0))
    halves = runs.groupby("dataset").images_a.unique().to_dict()
    assert {d: list(v) for d, v in halves.items()} == {"synthetic": [350], "cifar100": [5000]}  # 100 classes x 7 / 2
    assert (runs.images_a == runs.images_b).all() and runs.index.equals(pd.RangeIndex(len(runs))) and len(runs) == 6
    config["grid"] = []
    assert simulate.grid_runs(config, simulate.flat(72.0)).empty  # no runs: an empty table, not an error


def test_claims_true_by_a_gain_single_out_the_eta_0_6_chain():
    """claims_by: baselines at base; each tolerant patriarch ``gain`` below and less confident by
    ``confidence_gain``; the eta = 0.6 chain's students ``gain`` above (whatever its place in the
    order), the other tolerant chains' at base."""
    methods = {"ce": {"loss": "ce"}, "tsd-0.5": {"loss": "tsd", "eta": 0.5}, "tsd-0.6": {"loss": "tsd", "eta": 0.6}}
    top1, conf = simulate.claims_by(methods, 0.5, 0.025)
    at = {(m, g): top1(dict(method=m, generation=g)) for m in methods for g in (0, 2)}
    assert at == {("ce", 0): 72.0, ("ce", 2): 72.0, ("tsd-0.5", 0): 71.5, ("tsd-0.5", 2): 72.0,
                  ("tsd-0.6", 0): 71.5, ("tsd-0.6", 2): 72.5}
    assert [conf(dict(method=m, generation=g)) for m, g in (("ce", 0), ("tsd-0.5", 0), ("tsd-0.6", 1))] == \
        pytest.approx([0.8, 0.775, 0.8])
    assert simulate._best_tolerant({"ce": {"loss": "ce"}, "tsd-a": {"loss": "tsd"}}) == "tsd-a"  # no eta 0.6: first
    assert simulate._best_tolerant({"ce": {"loss": "ce"}}) is None


def test_a_simulated_table_has_the_real_runs_layout():
    """top-5 is top-1 plus the offset, capped at 100, on each half and on the whole; a patriarch's
    loss and loss parameters are its spec columns, a student's loss is 'ce' and it has no loss
    parameters; the student parameters (lam, temperature, student_init) are no spec columns; a mean
    probability stays a probability."""
    methods = {"ce": {"loss": "ce"},
               "tsd-0.6": {"loss": "tsd", "eta": 0.6, "lam": 0.5, "temperature": 2.0, "student_init": "random"}}
    keys = [dict(dataset="d", arch="a", method=m, seed=s, generation=g) for m in methods for s in range(3)
            for g in range(2)]
    runs = simulate.simulate(keys, methods, lambda run: 72.0 if run["method"] == "ce" else 85.0,
                             Noise(confidence_sd=0.5), np.random.default_rng(0), confidence=lambda run: 0.9)
    for whole, top1 in (("test_top5", (runs.test_top1_a + runs.test_top1_b) / 2),
                        ("test_top5_a", runs.test_top1_a), ("test_top5_b", runs.test_top1_b)):
        assert runs[whole].to_numpy() == pytest.approx(np.minimum(top1 + 20.0, 100).to_numpy())
    assert (runs.test_top5[runs.method == "tsd-0.6"] == 100).all() and (runs.test_top5[runs.method == "ce"] < 100).all()
    assert runs.spec_loss.tolist() == [methods[k["method"]]["loss"] if k["generation"] == 0 else "ce" for k in keys]
    assert {c for c in runs if c.startswith("spec_")} == {"spec_loss", "spec_eta"}
    patriarch = np.array([k["method"] == "tsd-0.6" and k["generation"] == 0 for k in keys])
    assert runs.spec_eta[patriarch].eq(0.6).all() and runs.spec_eta[~patriarch].isna().all()
    assert runs.mean_top1_prob.between(0, 1).all() and (runs.mean_top1_prob == 1).any()  # clipped, not beyond
