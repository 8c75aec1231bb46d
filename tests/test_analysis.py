"""Secondary-information measures and ensembles on hand-made logits, answers worked out by hand."""
import numpy as np
import pytest

from tkd.analysis import chain_ensembles, ensemble_accuracy
from tkd.evaluate import logit_measures

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


def test_k_larger_than_a_superclass():
    m = logit_measures(LOGITS[:1], FINE[:1], COARSE[:1], k=8, class_coarse=SUPER)
    # A's ranks 2..8: 1, 5, 2, 6, then the zero-probability classes in index order 3, 4, 7
    assert m["dist_c"] == pytest.approx(3 / 7)
    assert m["secondary_mass"] == pytest.approx(.4, abs=1e-9)


def test_ensemble_of_identical_models_is_the_model():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 10))
    y = rng.integers(0, 10, 50)
    single = logit_measures(z, y, SUPER[y], class_coarse=SUPER)
    assert ensemble_accuracy([z, z, z], y) == (single["top1"], single["top5"])


def test_ensemble_averages_probabilities_not_logits():
    # model 1 is sure of class 0; model 2 mildly prefers class 1: the average of probabilities picks 0
    z1 = np.log(np.array([[0.98] + [0.02 / 9] * 9]))
    z2 = np.log(np.array([[0.3, 0.4] + [0.3 / 8] * 8]))
    assert ensemble_accuracy([z1, z2], np.array([0]))[0] == 100.0
    assert ensemble_accuracy([z2], np.array([0]))[0] == 0.0


def test_chain_ensembles_first_m_and_last_k():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 40)
    chain = {g: rng.normal(size=(40, 10)) for g in range(4)}
    table = chain_ensembles(chain, y, last=[2, 3, 9])
    assert table[table.kind == "first"].generations.tolist() == ["0-0", "0-1", "0-2", "0-3"]
    assert table[table.kind == "last"].generations.tolist() == ["2-3", "1-3"]  # k = 9 does not fit
    patriarch = table.iloc[0]
    assert (patriarch.top1, patriarch.top5) == ensemble_accuracy([chain[0]], y)


def test_linear_probe_on_separable_features_is_perfect():
    from tkd.transfer import linear_probe

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (4, 16))
    y_train, y_test = rng.integers(0, 4, 200), rng.integers(0, 4, 100)
    x_train = centers[y_train] + rng.normal(0, 0.5, (200, 16))
    x_test = centers[y_test] + rng.normal(0, 0.5, (100, 16))
    assert linear_probe(x_train, y_train, x_test, y_test) == 100.0
    # and on pure noise it is near chance: the probe cannot invent structure
    assert linear_probe(rng.normal(size=(200, 16)), y_train, rng.normal(size=(100, 16)), y_test) < 50.0


def test_penultimate_features_of_a_model():
    import torch

    from tkd.models import create
    from tkd.transfer import features

    model = create("resnet8_cifar", num_classes=100)
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    f = features(model, images, [0.5] * 3, [0.25] * 3, torch.device("cpu"))
    assert f.shape == (10, model.num_features) == (10, 64)
