"""Data sets: CIFAR-100/10 through torchvision, the offline synthetic stand-in, and
ImageFolder sets (ILSVRC2012).

The 32x32 sets come as :class:`ImageSet` arrays (uint8 NHWC images, fine and coarse
labels), small enough to live on the training device, where :class:`DeviceLoader`
builds and augments whole batches with tensor ops (random 32x32 crop of the 4-px
zero-padded image, horizontal flip, per-channel normalisation) instead of
per-image Python. ImageFolder sets stay on disk and go through DataLoader workers
(:class:`FolderLoader`, the same interface). Both loaders draw every random choice
from (seed, epoch, step or image), so N DDP ranks together see exactly the
batches one process sees, and a resumed epoch continues exactly.

The synthetic set mirrors CIFAR-100's hierarchy: 100 fine classes in 20
superclasses of 5. Every image is ``a * superclass pattern + b * class pattern
+ noise`` (shifted by a few pixels), so classes of one superclass look alike
and a model's secondary classes carry meaning, as in CIFAR-100.
"""
from __future__ import annotations

import itertools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

__all__ = [
    "ImageSet",
    "SplitSet",
    "make_synthetic",
    "save_synthetic",
    "load_synthetic",
    "load_cifar100",
    "load",
    "load_imagefolder",
    "DeviceLoader",
    "FolderLoader",
    "DATASET_KINDS",
]

DATASET_KINDS = ("synthetic", "cifar100", "cifar10", "imagefolder")
NUM_SUPER, FINE_PER_SUPER = 20, 5


@dataclass
class ImageSet:
    images: np.ndarray  # (N, H, W, 3) uint8
    fine: np.ndarray  # (N,) int64, 0..99
    coarse: np.ndarray  # (N,) int64, 0..19

    def __len__(self) -> int:
        return len(self.fine)


@dataclass
class SplitSet:
    train: ImageSet
    test: ImageSet
    num_classes: int = 100
    num_coarse: int = 20


# --------------------------------------------------------------------------- synthetic
def _smooth_patterns(rng: np.random.Generator, n: int, size: int, waves: int) -> np.ndarray:
    """``n`` random low-frequency colour patterns in [-1, 1], shape (n, size, size, 3)."""
    grid = np.arange(size, dtype=np.float32) / size
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    out = np.zeros((n, size, size, 3), np.float32)
    for _ in range(waves):
        fy, fx = rng.integers(-4, 5, size=(2, n, 1, 1))
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        wave = np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
        out += wave[..., None] * rng.normal(0, 1, (n, 1, 1, 3))
    return out / np.abs(out).max(axis=(1, 2, 3), keepdims=True)


def _render(rng, supers, fines, labels, shared: float, noise: float, shift: int) -> ImageSet:
    coarse = labels // FINE_PER_SUPER
    x = shared * supers[coarse] + (1.0 - shared) * fines[labels]
    x += rng.normal(0.0, noise, x.shape).astype(np.float32)
    x *= rng.uniform(0.7, 1.3, (len(labels), 1, 1, 1)).astype(np.float32)  # contrast
    if shift:
        dy, dx = rng.integers(-shift, shift + 1, size=(2, len(labels)))
        for i in range(len(labels)):  # once per image at generation, not per step
            x[i] = np.roll(x[i], (dy[i], dx[i]), axis=(0, 1))
    images = np.clip(128.0 + 80.0 * x, 0, 255).astype(np.uint8)
    return ImageSet(images, labels.astype(np.int64), coarse.astype(np.int64))


def make_synthetic(seed: int = 0, train_per_class: int = 50, test_per_class: int = 10,
                   shared: float = 0.5, noise: float = 0.25, shift: int = 2, size: int = 32) -> SplitSet:
    """The hierarchical synthetic set, deterministic in ``seed``.

    ``shared`` is the weight of the superclass pattern against the class pattern:
    higher means classes of a superclass are harder to tell apart.
    """
    if train_per_class < 1 or test_per_class < 1:
        raise ValueError("train_per_class and test_per_class must be >= 1")
    if not 0.0 <= shared < 1.0:
        raise ValueError(f"shared={shared!r} is out of range: 0 <= shared < 1")
    rng = np.random.default_rng(seed)
    supers = _smooth_patterns(rng, NUM_SUPER, size, waves=3)
    fines = _smooth_patterns(rng, NUM_SUPER * FINE_PER_SUPER, size, waves=3)
    classes = np.arange(NUM_SUPER * FINE_PER_SUPER)
    train = _render(rng, supers, fines, np.repeat(classes, train_per_class), shared, noise, shift)
    test = _render(rng, supers, fines, np.repeat(classes, test_per_class), shared, noise, shift)
    return SplitSet(train, test)


def save_synthetic(data: SplitSet, path: str | os.PathLike) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{f"{split}_{field}": getattr(getattr(data, split), field)
                           for split in ("train", "test") for field in ("images", "fine", "coarse")})


def load_synthetic(path: str | os.PathLike) -> SplitSet:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"synthetic data set {str(path)!r} does not exist; build it with `tkd make-synthetic`")
    with np.load(path, allow_pickle=False) as z:
        parts = {s: ImageSet(z[f"{s}_images"], z[f"{s}_fine"], z[f"{s}_coarse"]) for s in ("train", "test")}
    return SplitSet(**parts)


# --------------------------------------------------------------------------- CIFAR-100
def _cifar100_class():
    from torchvision.datasets import CIFAR100

    class CIFAR100Hierarchy(CIFAR100):
        """torchvision's CIFAR-100, keeping the 20 coarse labels that it drops."""

        def __init__(self, root, train=True, download=False, verify=True):
            if not verify:  # torchvision skips the MD5 comparison where md5 is None
                self.train_list = [[name, None] for name, _ in CIFAR100.train_list]
                self.test_list = [[name, None] for name, _ in CIFAR100.test_list]
                self.meta = {**CIFAR100.meta, "md5": None}
            super().__init__(root, train=train, download=download)
            files = self.train_list if self.train else self.test_list
            self.coarse_targets: list[int] = []
            for name, _ in files:
                with open(os.path.join(self.root, self.base_folder, name), "rb") as f:
                    self.coarse_targets.extend(pickle.load(f, encoding="latin1")["coarse_labels"])

    return CIFAR100Hierarchy


def load_cifar100(root: str | os.PathLike, download: bool = False, verify: bool = True) -> SplitSet:
    """CIFAR-100 from torchvision's ``cifar-100-python`` folder under ``root``.

    ``verify=False`` skips torchvision's MD5 check (for hand-made test files only).
    """
    cls = _cifar100_class()
    root = str(root)
    if not download and not os.path.isdir(os.path.join(root, cls.base_folder)):
        raise FileNotFoundError(
            f"CIFAR-100 not found under {root!r} (expected {cls.base_folder}/) and downloads are "
            "disabled; set the data set's download: true, or put the data there")
    parts = {}
    for split in ("train", "test"):
        try:
            ds = cls(root, train=split == "train", download=download, verify=verify)
        except RuntimeError as err:
            raise FileNotFoundError(f"CIFAR-100 under {root!r}: {err}") from None
        parts[split] = ImageSet(np.asarray(ds.data, np.uint8), np.asarray(ds.targets, np.int64),
                                np.asarray(ds.coarse_targets, np.int64))
    return SplitSet(**parts)


def load_cifar10(root: str | os.PathLike, download: bool = False) -> SplitSet:
    """CIFAR-10 through torchvision (a transfer target; it has no superclasses: coarse = fine)."""
    from torchvision.datasets import CIFAR10

    root = str(root)
    if not download and not os.path.isdir(os.path.join(root, CIFAR10.base_folder)):
        raise FileNotFoundError(f"CIFAR-10 not found under {root!r} (expected {CIFAR10.base_folder}/) and "
                                "downloads are disabled; set the data set's download: true, or put the data there")
    parts = {}
    for split in ("train", "test"):
        ds = CIFAR10(root, train=split == "train", download=download)
        fine = np.asarray(ds.targets, np.int64)
        parts[split] = ImageSet(np.asarray(ds.data, np.uint8), fine, fine.copy())
    return SplitSet(**parts, num_classes=10, num_coarse=10)


def load(kind: str, path: str, download: bool = False, verify: bool = True) -> "SplitSet | FolderSet":
    """Load a data set of the harness by kind (an ImageFolder set is indexed, not read)."""
    if kind == "imagefolder":
        return load_imagefolder(path)
    if kind == "synthetic":
        return load_synthetic(path)
    if kind == "cifar100":
        return load_cifar100(path, download=download, verify=verify)
    if kind == "cifar10":
        return load_cifar10(path, download=download)
    raise ValueError(f"dataset={kind!r} is unknown; choose one of {list(DATASET_KINDS)}")


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


# --------------------------------------------------------------------------- ImageFolder (ILSVRC2012)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class FolderSet:
    """A data set too large for memory: torchvision ``ImageFolder`` indexes of train/ and val/."""

    train: object
    test: object
    num_classes: int

    @property
    def num_coarse(self) -> int:  # no superclasses: coarse = fine
        return self.num_classes


def load_imagefolder(root: str | os.PathLike) -> FolderSet:
    """``root/train`` and ``root/val``, each with one folder of images per class (ILSVRC2012's
    usual layout). Raises FileNotFoundError naming the folder at fault."""
    from torchvision.datasets import ImageFolder

    root = Path(root)
    parts = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"{str(folder)!r} is not a folder; an ImageFolder data set needs "
                                    "train/ and val/, each with one folder of images per class")
        try:
            parts[split] = ImageFolder(str(folder))
        except FileNotFoundError as err:  # an empty class folder, or no class folders at all
            raise FileNotFoundError(f"{str(folder)!r}: {err}") from None
    if parts["train"].classes != parts["val"].classes:
        extra = sorted(set(parts["train"].classes) ^ set(parts["val"].classes))
        raise FileNotFoundError(f"{str(root)!r}: train/ and val/ must hold the same class folders; "
                                f"{extra[0]!r} is in only one of them")
    return FolderSet(parts["train"], parts["val"], len(parts["train"].classes))


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


def labels_of(split) -> tuple[np.ndarray, np.ndarray]:
    """(fine, coarse) labels of an :class:`ImageSet` or an ImageFolder (whose coarse = fine)."""
    if isinstance(split, ImageSet):
        return split.fine, split.coarse
    fine = np.asarray(split.targets, np.int64)
    return fine, fine.copy()


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units, over the training images."""
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0).tolist(), x.std(0).tolist()
