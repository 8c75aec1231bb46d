"""Batches: crop and flip for training only, per-channel normalisation by the training images,
the same batches for 1 or N ranks, and exact continuation of a resumed epoch."""
import numpy as np
import pytest
import torch

from tkd.training import data, loaders

CPU = torch.device("cpu")


def _interleave(parts):
    """Rank r holds every world-th sample of a global batch: put them back in order."""
    return torch.stack(parts, 1).flatten(0, 1)


def test_device_loader_augmentation_is_crop_and_flip():
    img = np.arange(32 * 32 * 3, dtype=np.int64).reshape(1, 32, 32, 3) % 251 + 1  # no zeros
    d = data.ImageSet(img.astype(np.uint8).repeat(64, 0), np.zeros(64, np.int64), np.zeros(64, np.int64))
    loader = loaders.DeviceLoader(d, 64, CPU, [0, 0, 0], [1 / 255] * 3, train=True)
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


def test_evaluation_batches_are_the_images_in_order_unaugmented():
    d = data.make_synthetic(seed=0, train_per_class=2, test_per_class=1)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 0.2]
    loader = loaders.DeviceLoader(d.test, 64, CPU, mean, std, train=False)
    x = torch.cat([b for b, _ in loader.batches()])
    expected = (torch.from_numpy(d.test.images).permute(0, 3, 1, 2).float() / 255
                - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-5)


def test_channel_stats_are_the_training_images_per_channel():
    d = data.make_synthetic(seed=0, train_per_class=2, test_per_class=1)
    mean, std = loaders.channel_stats(d.train.images)
    x = d.train.images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, x.mean(0)) and np.testing.assert_allclose(std, x.std(0))
    loader = loaders.DeviceLoader(d.train, 1000, CPU, mean, std, train=False)
    x = torch.cat([b for b, _ in loader.batches()])
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_device_loader_ranks_together_see_the_single_process_batches():
    d = data.make_synthetic(seed=0, train_per_class=1, test_per_class=1)
    kw = dict(device=CPU, mean=[0.5] * 3, std=[0.25] * 3, train=True, seed=2)
    one = loaders.DeviceLoader(d.train, 32, **kw)
    two = [loaders.DeviceLoader(d.train, 32, rank=r, world=2, **kw) for r in (0, 1)]
    for (x, y), parts in zip(one.epoch(3), zip(*[t.epoch(3) for t in two])):
        assert torch.equal(x, _interleave([p[0] for p in parts]))
        assert torch.equal(y, _interleave([p[1] for p in parts]))
    # a resumed epoch continues exactly
    assert torch.equal(list(one.epoch(3, start=2))[0][0], list(one.epoch(3))[2][0])


def test_folder_loader_ranks_together_see_the_single_process_batches(imagefolder):
    folder = data.load_imagefolder(imagefolder)
    tf, _ = loaders.folder_transforms(32, 36)
    one = loaders.FolderLoader(folder.train, tf, 16, CPU, train=True, seed=5, workers=0)
    two = [loaders.FolderLoader(folder.train, tf, 16, CPU, train=True, seed=5, rank=r, world=2, workers=0)
           for r in (0, 1)]
    assert len(one) == len(two[0]) == 4
    for epoch in (0, 1):
        batches = list(one.epoch(epoch))
        shards = list(zip(*[t.epoch(epoch) for t in two]))
        assert len(batches) == len(shards) == 4
        for (x, y), parts in zip(batches, shards):
            assert torch.equal(x, _interleave([p[0] for p in parts])), "same images, same crops"
            assert torch.equal(y, _interleave([p[1] for p in parts]))
    assert torch.equal(list(one.epoch(1, start=2))[0][0], batches[2][0])
    assert not torch.equal(list(one.epoch(0))[0][0], batches[0][0])


@pytest.mark.slow
def test_folder_loader_workers_change_nothing(imagefolder):
    """Crops are drawn per image from its seed, not from a worker's RNG stream."""
    folder = data.load_imagefolder(imagefolder)
    tf, _ = loaders.folder_transforms(32, 36)
    inline = loaders.FolderLoader(folder.train, tf, 16, CPU, train=True, seed=1, workers=0)
    pooled = loaders.FolderLoader(folder.train, tf, 16, CPU, train=True, seed=1, workers=2)
    for epoch in (0, 1):  # persistent workers, second epoch
        for (xa, ya), (xb, yb) in zip(inline.epoch(epoch), pooled.epoch(epoch), strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_evaluation_shards_cover_the_test_set_once(imagefolder):
    folder = data.load_imagefolder(imagefolder)
    _, tf = loaders.folder_transforms(32, 36)
    n = len(folder.test)
    parts = [torch.cat([y for _, y in loaders.FolderLoader(folder.test, tf, 5, CPU, train=False, rank=r, world=3,
                                                            workers=0).batches()]) for r in range(3)]
    assert torch.equal(loaders.unshard(parts, n), torch.as_tensor(folder.test.targets))
    assert torch.equal(loaders.unshard([loaders.shard(n, r, 3) for r in range(3)], n), torch.arange(n))
