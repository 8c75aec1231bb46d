"""Transfer features: the linear probe and the penultimate features it reads."""
import numpy as np
import torch

from tkd.training.archs import create
from tkd.training.transfer import features, linear_probe


def test_linear_probe_on_separable_features_is_perfect_and_on_noise_near_chance():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (4, 16))
    y_train, y_test = rng.integers(0, 4, 200), rng.integers(0, 4, 100)
    x_train = centers[y_train] + rng.normal(0, 0.5, (200, 16))
    x_test = centers[y_test] + rng.normal(0, 0.5, (100, 16))
    assert linear_probe(x_train, y_train, x_test, y_test) == 100.0
    assert linear_probe(rng.normal(size=(200, 16)), y_train, rng.normal(size=(100, 16)), y_test) < 50.0


def test_penultimate_features_of_a_model():
    model = create("resnet8_cifar", num_classes=100)
    images = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    f = features(model, images, [0.5] * 3, [0.25] * 3, torch.device("cpu"))
    assert f.shape == (10, model.num_features) == (10, 64)
