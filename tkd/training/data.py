"""Data sets: CIFAR-100/10 through torchvision, the offline synthetic stand-in, and
ImageFolder sets (ILSVRC2012). Batches are :mod:`tkd.training.loaders`' concern.

The 32x32 sets come as :class:`ImageSet` arrays (uint8 NHWC images, fine and coarse
labels), small enough to live on the training device. ImageFolder sets stay on disk
(:class:`FolderSet`, torchvision ``ImageFolder`` indexes).

The synthetic set mirrors CIFAR-100's hierarchy: 100 fine classes in 20
superclasses of 5. Every image is ``a * superclass pattern + b * class pattern
+ noise`` (shifted by a few pixels), so classes of one superclass look alike
and a model's secondary classes carry meaning, as in CIFAR-100.

A file that is missing raises FileNotFoundError; one that is there but torn or foreign
raises :class:`~tkd.errors.SpecError` naming it.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SpecError

__all__ = ["ImageSet", "SplitSet", "FolderSet", "make_synthetic", "save_synthetic", "load_synthetic",
           "load_cifar", "load_imagefolder", "load", "labels_of", "DATASET_KINDS"]

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


# the arrays of a synthetic .npz file: {split}_{field}
_SYNTHETIC_ARRAYS = tuple((split, field) for split in ("train", "test") for field in ("images", "fine", "coarse"))


def save_synthetic(data: SplitSet, path: str | os.PathLike) -> None:
    from ..files import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{f"{split}_{field}": getattr(getattr(data, split), field) for split, field in _SYNTHETIC_ARRAYS})


def load_synthetic(path: str | os.PathLike) -> SplitSet:
    from ..files import read_npz

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"synthetic data set {str(path)!r} does not exist; build it with `tkd make-synthetic`")
    z = read_npz(path, tuple(f"{split}_{field}" for split, field in _SYNTHETIC_ARRAYS), "synthetic data set")
    parts = {s: ImageSet(z[f"{s}_images"], z[f"{s}_fine"], z[f"{s}_coarse"]) for s in ("train", "test")}
    return SplitSet(**parts)


# --------------------------------------------------------------------------- CIFAR-100 and CIFAR-10
CIFAR = {"cifar100": ("CIFAR-100", 100), "cifar10": ("CIFAR-10", 10)}  # kind -> (name, classes)


def _cifar_class(kind: str):
    """torchvision's CIFAR-100 (keeping the 20 coarse labels that it drops) or CIFAR-10, with
    the MD5 check optional (``verify=False``: hand-made test files only)."""
    from torchvision.datasets import CIFAR10, CIFAR100

    base = CIFAR100 if kind == "cifar100" else CIFAR10

    class Cifar(base):
        def __init__(self, root, train=True, download=False, verify=True):
            if not verify:  # torchvision skips the MD5 comparison where md5 is None
                self.train_list = [[name, None] for name, _ in base.train_list]
                self.test_list = [[name, None] for name, _ in base.test_list]
                self.meta = {**base.meta, "md5": None}
            super().__init__(root, train=train, download=download)
            self.coarse_targets = self.targets
            if kind == "cifar100":
                self.coarse_targets = []
                for name, _ in (self.train_list if self.train else self.test_list):
                    with open(os.path.join(self.root, self.base_folder, name), "rb") as f:
                        self.coarse_targets.extend(pickle.load(f, encoding="latin1")["coarse_labels"])
            if len(self.coarse_targets) != len(self.targets):
                raise ValueError(f"{len(self.targets)} fine but {len(self.coarse_targets)} coarse labels")

    return Cifar


def _cifar_split(kind: str, root: str, split: str, download: bool, verify: bool):
    """One split through torchvision; its errors as one line naming the folder."""
    name, _ = CIFAR[kind]
    cls = _cifar_class(kind)
    folder = os.path.join(root, cls.base_folder)
    if not download and not os.path.isdir(folder):
        raise FileNotFoundError(f"{name} not found under {root!r} (expected {cls.base_folder}/, and downloads are "
                                "off)")
    try:
        return cls(root, train=split == "train", download=download, verify=verify)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted" (a file fails its MD5)
        raise SpecError(f"{name} under {folder!r}: {err} (a file is missing, torn or foreign: it fails "
                        "torchvision's MD5 check)") from None
    except (pickle.UnpicklingError, EOFError, KeyError, IndexError, ValueError, TypeError, OSError) as err:
        raise SpecError(f"{name} under {folder!r}: a {split} file is damaged or foreign (truncated?): "
                        f"{type(err).__name__}: {err}") from None


def load_cifar(kind: str, root: str | os.PathLike, download: bool = False, verify: bool = True) -> SplitSet:
    """CIFAR-100 (``cifar-100-python/``) or CIFAR-10 (``cifar-10-batches-py/``) under ``root``, in
    torchvision's layout. CIFAR-10 has no superclasses: its coarse labels are the fine ones."""
    parts = {}
    for split in ("train", "test"):
        ds = _cifar_split(kind, str(root), split, download, verify)
        parts[split] = ImageSet(np.asarray(ds.data, np.uint8), np.asarray(ds.targets, np.int64),
                                np.asarray(ds.coarse_targets, np.int64))
    classes = CIFAR[kind][1]
    return SplitSet(**parts, num_classes=classes, num_coarse=20 if kind == "cifar100" else classes)


def load(kind: str, path: str, download: bool = False, verify: bool = True) -> "SplitSet | FolderSet":
    """Load a data set of the harness by kind (an ImageFolder set is indexed, not read)."""
    if kind == "imagefolder":
        return load_imagefolder(path)
    if kind == "synthetic":
        return load_synthetic(path)
    if kind in CIFAR:
        return load_cifar(kind, path, download=download, verify=verify)
    raise ValueError(f"dataset={kind!r} is unknown; choose one of {list(DATASET_KINDS)}")


# --------------------------------------------------------------------------- ImageFolder (ILSVRC2012)
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


def labels_of(split) -> tuple[np.ndarray, np.ndarray]:
    """(fine, coarse) labels of an :class:`ImageSet` or an ImageFolder (whose coarse = fine)."""
    if isinstance(split, ImageSet):
        return split.fine, split.coarse
    fine = np.asarray(split.targets, np.int64)
    return fine, fine.copy()


# --------------------------------------------------------------------------- the data rule
def check_source(name: str, kind: str, path: str, download: bool = False, checksums: bool = True) -> dict:
    """Find data set ``name`` of the config on disk (downloading it where ``download`` allows),
    check it (torchvision's MD5 of every CIFAR file; matching class folders of an ImageFolder)
    and describe it. Anything missing or wrong is one SpecError naming the folder to fill and
    the config key to set."""
    keys = f"datasets.{name}.path" + (f" or datasets.{name}.download: true" if kind in CIFAR else "")
    try:
        data = load(kind, path, download=download, verify=checksums)
    except FileNotFoundError as err:
        raise SpecError(f"data set {name!r} is not there: {err}. Put it there, or set {keys}") from None
    except SpecError as err:
        raise SpecError(f"data set {name!r}: {err}. Replace the files, or set {keys}") from None
    manifest = dict(dataset=name, kind=kind, path=os.path.abspath(path), classes=data.num_classes,
                    train_images=len(data.train.targets if kind == "imagefolder" else data.train),
                    test_images=len(data.test.targets if kind == "imagefolder" else data.test))
    if kind in CIFAR:
        cls = _cifar_class(kind)
        folder = Path(path) / cls.base_folder
        entries = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
        manifest["files"] = [dict(name=f, bytes=(folder / f).stat().st_size, md5=md5 if checksums else None)
                             for f, md5 in entries]
    manifest["summary"] = (f"{manifest['train_images']} train and {manifest['test_images']} test images in "
                           f"{manifest['classes']} classes under {manifest['path']}"
                           + ("" if checksums or kind not in CIFAR else " (checksums not verified)"))
    return manifest
