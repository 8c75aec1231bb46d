"""Choosing the best generation: on test half a, scored on half b, it is unbiased where the
generations are equal; choosing and scoring on the whole test set is not."""
import numpy as np
import pytest

from helpers import simulated_runs
from tkd.selection import best_on_test, held_out_best
from tkd.stats import t_interval

SD = 0.3  # per-run spread on the whole test set; on each half sqrt(2) times that


def simulate(n_sim=1000, truth=None, seeds=3):
    rng = np.random.default_rng(0)
    truth = truth or [72.0] * 6
    held, optimistic, chosen = [], [], []
    for _ in range(n_sim):
        runs = simulated_runs({"ce": truth}, seeds=seeds, sd=0.0, test_sd=SD * np.sqrt(2), rng=rng)
        (gen,), rows = held_out_best(runs)
        held.append(rows.test_top1_b.to_numpy())
        chosen.append(gen)
        _, rows = best_on_test(runs)
        optimistic.append(rows.test_top1.to_numpy())
    return held, optimistic, chosen


def test_held_out_best_is_unbiased_where_generations_are_equal():
    held, optimistic, _ = simulate()
    bias_held = np.mean([v.mean() for v in held]) - 72.0
    bias_opt = np.mean([v.mean() for v in optimistic]) - 72.0
    assert abs(bias_held) < 0.03, bias_held
    assert bias_opt > 0.15, "the paper's way: +0.22 expected (the max of six means of three)"
    cover = lambda vals, truth: np.mean([lo <= truth <= hi for lo, hi in map(t_interval, vals)])
    assert cover(held, 72.0) == pytest.approx(0.95, abs=0.02)
    assert cover(optimistic, 72.0) < 0.93


def test_held_out_best_finds_a_real_best_generation():
    _, _, chosen = simulate(n_sim=200, truth=[70.0, 71.0, 72.0, 74.0, 72.0, 71.0])
    assert np.mean(np.array(chosen) == 3) > 0.95
