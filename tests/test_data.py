import numpy as np
import pytest
import torch

from tkd import data


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
    np.testing.assert_array_equal(d.train.coarse, d.train.fine // 5)


def test_fake_cifar100_fails_torchvision_checksum_when_verifying(fake_cifar):
    with pytest.raises(FileNotFoundError, match="corrupted"):
        data.load("cifar100", str(fake_cifar), download=False, verify=True)


def test_cifar100_absent_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        data.load("cifar100", str(tmp_path), download=False)


def test_device_loader_augmentation_is_crop_and_flip():
    img = np.arange(32 * 32 * 3, dtype=np.int64).reshape(1, 32, 32, 3) % 251 + 1  # no zeros
    d = data.ImageSet(img.astype(np.uint8).repeat(64, 0), np.zeros(64, np.int64), np.zeros(64, np.int64))
    loader = data.DeviceLoader(d, 64, torch.device("cpu"), [0, 0, 0], [1 / 255] * 3, train=True)
    (x, _), = list(loader.epoch(0))
    src = torch.from_numpy(d.images[0]).permute(2, 0, 1).float()
    padded = torch.nn.functional.pad(src, (4, 4, 4, 4))
    flips = 0
    for out in x:
        windows = [(oy, ox, f) for oy in range(9) for ox in range(9) for f in (0, 1)
                   if torch.equal(out, (padded[:, oy:oy + 32, ox:ox + 32].flip(-1) if f
                                        else padded[:, oy:oy + 32, ox:ox + 32]))]
        assert windows, "every augmented image is a crop (maybe flipped) of the padded image"
        flips += windows[0][2]
    assert 0 < flips < 64


def test_device_loader_normalises_per_channel():
    d = data.make_synthetic(seed=0, train_per_class=2, test_per_class=1)
    mean, std = data.channel_stats(d.train.images)
    loader = data.DeviceLoader(d.train, 1000, torch.device("cpu"), mean, std, train=False)
    x = torch.cat([b for b, _ in loader.batches()])
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
