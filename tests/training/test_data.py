import numpy as np
import pytest

from helpers import FAKE_SUPERCLASS
from tkd.training import data
from tkd.errors import SpecError


def test_synthetic_shapes_labels_and_determinism():
    a = data.make_synthetic(seed=3, train_per_class=4, test_per_class=2)
    b = data.make_synthetic(seed=3, train_per_class=4, test_per_class=2)
    assert a.train.images.shape == (400, 32, 32, 3) and a.train.images.dtype == np.uint8
    assert a.test.images.shape == (200, 32, 32, 3)
    assert set(a.train.fine) == set(range(100)) and set(a.train.coarse) == set(range(20))
    np.testing.assert_array_equal(a.train.coarse, a.train.fine // 5)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    c = data.make_synthetic(seed=4, train_per_class=4, test_per_class=2)
    assert not np.array_equal(a.train.images, c.train.images)


def test_synthetic_classes_of_a_superclass_look_alike():
    d = data.make_synthetic(seed=0, train_per_class=20, test_per_class=1, noise=0.0, shift=0)
    x = d.train.images.reshape(100, 20, -1).astype(float).mean(axis=1)  # class means
    dist = ((x[:, None] - x[None]) ** 2).sum(-1)
    same = np.equal.outer(np.arange(100) // 5, np.arange(100) // 5) & ~np.eye(100, dtype=bool)
    other = ~np.equal.outer(np.arange(100) // 5, np.arange(100) // 5)
    assert dist[same].mean() < 0.8 * dist[other].mean()


def test_synthetic_roundtrip(tmp_path):
    d = data.make_synthetic(seed=1, train_per_class=2, test_per_class=1)
    data.save_synthetic(d, tmp_path / "s.npz")
    e = data.load("synthetic", str(tmp_path / "s.npz"))
    np.testing.assert_array_equal(d.test.images, e.test.images)
    np.testing.assert_array_equal(d.test.coarse, e.test.coarse)


def test_fake_cifar100_through_torchvision(fake_cifar):
    d = data.load("cifar100", str(fake_cifar), download=False, verify=False)
    assert d.train.images.shape == (200, 32, 32, 3) and d.test.images.shape == (100, 32, 32, 3)
    assert d.train.fine.min() == 0 and d.train.fine.max() == 99
    assert d.train.coarse.min() == 0 and d.train.coarse.max() == 19
    # the coarse labels are the file's: this fake's superclasses follow no rule of the fine labels
    np.testing.assert_array_equal(d.train.coarse, FAKE_SUPERCLASS[d.train.fine])
    np.testing.assert_array_equal(d.test.coarse, FAKE_SUPERCLASS[d.test.fine])
    assert (d.train.coarse != d.train.fine // 5).any()


def test_fake_cifar100_fails_torchvision_checksum_when_verifying(fake_cifar):
    with pytest.raises(SpecError, match="fails torchvision's MD5 check"):
        data.load("cifar100", str(fake_cifar), download=False, verify=True)


def test_cifar100_absent_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected cifar-100-python/, and downloads are off"):
        data.load("cifar100", str(tmp_path), download=False)




def test_the_data_rule_finds_checks_and_describes_a_set(fake_cifar, imagefolder):
    m = data.check_source("cifar100", "cifar100", str(fake_cifar), checksums=False)
    assert (m["train_images"], m["test_images"], m["classes"]) == (200, 100, 100)
    assert [f["name"] for f in m["files"]] == ["train", "test", "meta"] and "not verified" in m["summary"]
    m = data.check_source("ilsvrc2012", "imagefolder", str(imagefolder))
    assert (m["train_images"], m["test_images"], m["classes"]) == (64, 24, 4)


def test_the_data_rule_names_the_folder_and_the_config_keys(tmp_path, fake_cifar):
    with pytest.raises(SpecError) as err:
        data.check_source("cifar100", "cifar100", str(tmp_path / "data" / "cifar100"))
    text = str(err.value)
    assert str(tmp_path / "data" / "cifar100") in text and "cifar-100-python" in text
    assert "datasets.cifar100.path" in text and "datasets.cifar100.download: true" in text
    with pytest.raises(SpecError, match="fails torchvision's MD5 check.*datasets.cifar100.path"):
        data.check_source("cifar100", "cifar100", str(fake_cifar), checksums=True)
    with pytest.raises(SpecError, match="'ilsvrc2012' is not there.*datasets.ilsvrc2012.path"):
        data.check_source("ilsvrc2012", "imagefolder", str(tmp_path / "nothing"))


def test_cifar10_through_torchvision(tmp_path):
    """CIFAR-10 (the transfer target) in its own on-disk format: five training batches and a test batch."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                         "labels": rng.integers(0, 10, 20).tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    d = data.load("cifar10", str(tmp_path), verify=False)
    assert d.num_classes == 10 and len(d.train) == 100 and len(d.test) == 20
    np.testing.assert_array_equal(d.train.coarse, d.train.fine)
