"""Batches for training and evaluation, the same for 1 or N DDP ranks and for a resumed epoch.

:class:`DeviceLoader` builds and augments whole batches of an in-memory 32x32 set on the
training device with tensor ops (random 32x32 crop of the 4-px zero-padded image, horizontal
flip, per-channel normalisation) instead of per-image Python. :class:`FolderLoader` gives an
ImageFolder set (ILSVRC2012) the same interface through DataLoader workers. Both draw every
random choice from (seed, epoch, step or image), so N ranks together see exactly the batches
one process sees, and a resumed epoch continues exactly.
"""
from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np
import torch

from .data import ImageSet

__all__ = ["DeviceLoader", "FolderLoader", "channel_stats", "folder_transforms", "draw_seed", "shard", "unshard"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units, over the training images."""
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0).tolist(), x.std(0).tolist()


# --------------------------------------------------------------------------- seeds and shards
def draw_seed(*keys: int) -> int:
    """One 63-bit seed from integers (run seed, epoch, step or image index)."""
    h = 0
    for k in keys:
        h = (h * 1_000_003 + int(k) + 1) % (1 << 63)
    return h


def shard(n: int, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s share of ``range(n)``: every ``world``-th index, padded (by wrapping) to
    ``ceil(n / world)`` so all ranks hold the same count; :func:`unshard` undoes it."""
    per = -(-n // world)
    return torch.arange(rank, per * world, world) % n


def unshard(parts: list[torch.Tensor], n: int) -> torch.Tensor:
    """The rows of ``range(n)`` in order, from every rank's :func:`shard` rows."""
    return torch.stack(parts, 1).flatten(0, 1)[:n]


def folder_transforms(image_size: int = 224, eval_resize: int = 256):
    """The standard ImageNet recipe, ending in uint8 tensors (normalised on the device)."""
    from torchvision import transforms as T

    train = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.PILToTensor()])
    test = T.Compose([T.Resize(eval_resize), T.CenterCrop(image_size), T.PILToTensor()])
    return train, test


class _SeededImages(torch.utils.data.Dataset):
    """Images whose random transform is seeded per (seed, epoch, index): an image gets the same
    crop whichever process or worker loads it, so N ranks see what one process sees, and a
    resumed epoch continues exactly."""

    def __init__(self, folder, transform):
        self.samples, self.loader, self.transform = folder.samples, folder.loader, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]):
        seed, i = key
        path, label = self.samples[i]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(self.loader(path)), label


class _EpochSampler(torch.utils.data.DistributedSampler):
    """torch's DistributedSampler that can start mid-epoch and hands out (seed, index) keys."""

    def __init__(self, dataset, rank: int, world: int, seed: int, shuffle: bool):
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.skip = 0

    def __iter__(self):  # lazily: an ILSVRC2012 epoch is 1.28 M keys
        return ((draw_seed(self.seed, self.epoch, i), i) for i in itertools.islice(super().__iter__(), self.skip, None))

    def __len__(self) -> int:
        return self.num_samples - self.skip


class FolderLoader:
    """Batches of an ImageFolder through DataLoader workers (pinned memory, persistent workers),
    with :class:`DeviceLoader`'s interface. Training: global batches of ``batch_size``, split over
    ``world`` ranks as torch's DistributedSampler splits them, last partial batch dropped.
    Evaluation: this rank's :func:`shard` in batches of ``batch_size``."""

    def __init__(self, folder, transform, batch_size: int, device: torch.device, train: bool,
                 seed: int = 0, rank: int = 0, world: int = 1, workers: int = 4,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if train and batch_size % world:
            raise ValueError(f"batch_size={batch_size} does not split over {world} processes")
        self.train, self.device = train, device
        self.per_rank = batch_size // world if train else batch_size
        self.sampler = _EpochSampler(folder, rank, world, draw_seed(seed), shuffle=train)
        self.loader = torch.utils.data.DataLoader(
            _SeededImages(folder, transform), batch_size=self.per_rank, sampler=self.sampler,
            num_workers=workers, pin_memory=device.type == "cuda",
            persistent_workers=train and workers > 0,  # evaluation's workers need not idle all epoch
            drop_last=train, prefetch_factor=4 if workers else None)
        self.labels = torch.as_tensor(folder.targets, dtype=torch.long, device=device)
        self.n = len(self.labels)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255

    def __len__(self) -> int:
        full = self.sampler.num_samples
        return full // self.per_rank if self.train else -(-full // self.per_rank)

    def epoch(self, epoch: int, start: int = 0):
        self.sampler.set_epoch(epoch)
        self.sampler.skip = start * self.per_rank
        return self._batches()

    def batches(self):
        self.sampler.skip = 0
        return self._batches()

    def _batches(self):
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True)
            yield (x.float() - self.mean) / self.std, y.to(self.device, non_blocking=True)


# --------------------------------------------------------------------------- on-device batches
class DeviceLoader:
    """Batches of an in-memory :class:`ImageSet`, built and augmented on ``device``.

    Training: epoch ``e`` visits ``randperm`` seeded by (seed, e) in global batches of
    ``batch_size`` (the last partial batch is dropped, so shapes are static); with
    ``world`` ranks each takes every ``world``-th image of a global batch. Crop and flip
    draws are seeded per (seed, epoch, step) for the global batch, so a resumed epoch
    continues exactly and one process sees what N processes see together.
    Evaluation: this rank's :func:`shard` of the data, in order.
    """

    def __init__(self, data: ImageSet, batch_size: int, device: torch.device, mean, std,
                 train: bool, seed: int = 0, rank: int = 0, world: int = 1, pad: int = 4):
        if batch_size % world:
            raise ValueError(f"batch_size={batch_size} does not split over {world} processes")
        self.images = torch.from_numpy(data.images).to(device).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.from_numpy(data.fine).to(device)
        self.n = len(self.labels)
        self.batch_size, self.device, self.train, self.pad = batch_size, device, train, pad
        self.seed, self.rank, self.world = seed, rank, world
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255
        self.generator = torch.Generator(device=device)
        self.local = shard(self.n, rank, world).to(device)

    def __len__(self) -> int:
        if self.train:
            return self.n // self.batch_size
        return -(-len(self.local) // self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's training batches of ``epoch`` from step ``start`` on."""
        g = self.generator
        order = torch.randperm(self.n, generator=g.manual_seed(draw_seed(self.seed, epoch)), device=self.device)
        b = self.batch_size
        for step in range(start, len(self)):
            g.manual_seed(draw_seed(self.seed, epoch, step))
            oy, ox = torch.randint(0, 2 * self.pad + 1, (2, b, 1), generator=g, device=self.device)
            flip = torch.rand(b, 1, generator=g, device=self.device) < 0.5
            mine = slice(self.rank, None, self.world)
            idx = order[step * b:(step + 1) * b][mine]
            x = self.augment(self.images[idx], oy[mine], ox[mine], flip[mine])
            yield self._normalise(x), self.labels[idx]

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's evaluation batches, un-augmented, in order."""
        for i in range(0, len(self.local), self.batch_size):
            idx = self.local[i:i + self.batch_size]
            yield self._normalise(self.images[idx]), self.labels[idx]

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std

    def augment(self, x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        """Crop of the zero-padded image at (oy, ox), mirrored where ``flip``, as one gather."""
        b, c, h, w = x.shape
        p = self.pad
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        ar_h = torch.arange(h, device=x.device)
        ar_w = torch.arange(w, device=x.device)
        rows = oy + ar_h
        cols = ox + torch.where(flip, ar_w.flip(0), ar_w)
        bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
        ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
        return padded[bi, ci, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
