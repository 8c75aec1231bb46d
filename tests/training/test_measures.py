"""Secondary-information measures, test halves and ensembles on hand-made logits, answers worked out by hand."""
import numpy as np
import pandas as pd
import pytest

from tkd.training.measures import chain_ensembles, ensemble_accuracy, logit_measures, split_halves, topk_accuracy

SUPER = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])  # 10 classes, 2 superclasses of 5


def logits_of(rows):
    p = np.full((len(rows), 10), 1e-12)
    for i, row in enumerate(rows):
        for c, v in row.items():
            p[i, c] = v
    return np.log(p)


# A: true 0, p = .6 on 0, .2 on 1, .1 on 5, .05 on 2 and 6.
# B: true 7, p = .5 on 2, .3 on 7, .1 on 8 and 3 (a tie: the lower index, 3, ranks first).
LOGITS = logits_of([{0: .6, 1: .2, 5: .1, 2: .05, 6: .05}, {2: .5, 7: .3, 8: .1, 3: .1}])
FINE = np.array([0, 7])
COARSE = SUPER[FINE]


def test_measures_k3_with_a_tie():
    m = logit_measures(LOGITS, FINE, COARSE, k=3, class_coarse=SUPER)
    assert m["top1"] == 50.0 and m["top5"] == 100.0
    # ranks 2..3: A -> 1 (inside 0's superclass), 5 (outside); B -> 7 (outside 2's), 3 (inside, wins the tie)
    assert m["dist_c"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["dist_s"] == pytest.approx(((.6 + .2 + .05) + (.3 + .1)) / 2)
    assert m["secondary_mass"] == pytest.approx((.3 + .4) / 2)
    assert m["secondary_in_superclass"] == pytest.approx((.2 + .3) / (.3 + .4))
    assert m["mean_top1_prob"] == pytest.approx((.6 + .5) / 2)
    assert m["top1_a"] == 50.0 and np.isnan(m["top1_b"]), "one image per class: both in half a, half b empty"


def test_k_larger_than_a_superclass():
    m = logit_measures(LOGITS[:1], FINE[:1], COARSE[:1], k=8, class_coarse=SUPER)
    # A's ranks 2..8: 1, 5, 2, 6, then the zero-probability classes in index order 3, 4, 7
    assert m["dist_c"] == pytest.approx(3 / 7)
    assert m["secondary_mass"] == pytest.approx(.4, abs=1e-9)


def test_halves_split_every_class_in_two():
    fine = np.array([3, 3, 1, 3, 1, 3, 2])
    half = split_halves(fine)
    np.testing.assert_array_equal(half, [0, 1, 0, 0, 1, 1, 0])
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 100, 10_000)
    half = split_halves(fine)
    counts = np.bincount(fine[half == 0], minlength=100) - np.bincount(fine[half == 1], minlength=100)
    assert set(counts) <= {0, 1}, "each class splits evenly (odd counts: one more in half a)"


def test_half_accuracies_average_to_the_whole():
    rng = np.random.default_rng(1)
    fine = np.repeat(np.arange(10), 20)
    logits = rng.normal(size=(200, 10)) + 2 * np.eye(10)[fine]
    m = logit_measures(logits, fine, SUPER[fine], class_coarse=SUPER)
    assert (m["top1_a"] + m["top1_b"]) / 2 == pytest.approx(m["top1"])
    assert (m["top5_a"] + m["top5_b"]) / 2 == pytest.approx(m["top5"])


def test_ensemble_of_identical_models_is_the_model():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 10))
    y = rng.integers(0, 10, 50)
    single = logit_measures(z, y, SUPER[y], class_coarse=SUPER)
    ens = ensemble_accuracy([z, z, z], y)
    assert (ens["top1"], ens["top5"]) == (single["top1"], single["top5"])


def test_ensemble_averages_probabilities_not_logits_or_log_probabilities():
    """Two models 90:10 on class 0 and one certain of class 1: the mean probability picks class 0
    (0.6 against 0.4); the mean logit and the mean log-probability pick class 1."""
    sure_1 = np.array([[-100.0, 0.0] + [-200.0] * 8])
    mild_0 = np.log(np.array([[0.9, 0.1] + [1e-90] * 8]))
    y = np.array([0])
    assert ensemble_accuracy([mild_0, mild_0, sure_1], y)["top1"] == 100.0
    assert np.mean([mild_0, mild_0, sure_1], axis=0).argmax() == 1, "the case tells the averages apart"
    assert ensemble_accuracy([sure_1], y)["top1"] == 0.0


def test_chain_ensembles_first_m_and_last_k():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 40)
    chain = {g: rng.normal(size=(40, 10)) for g in range(4)}
    table = pd.DataFrame(chain_ensembles(chain, y, last=[2, 3, 9]))
    assert table[table.kind == "first"].generations.tolist() == ["0-0", "0-1", "0-2", "0-3"]
    assert table[table.kind == "last"].generations.tolist() == ["2-3", "1-3"]  # k = 9 does not fit
    patriarch = table.iloc[0]
    assert (patriarch.top1, patriarch.top5) == topk_accuracy(chain[0], y)
    assert {"top1_a", "top1_b", "top5_a", "top5_b"} <= set(table.columns)
