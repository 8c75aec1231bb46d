import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def snakemake(*args, cwd=REPO, timeout=900):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run_cli(spec_file, *extra, **kw):
    """``tkd train SPEC`` in a child process, its output unbuffered on one pipe."""
    import os

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tkd", "train", str(spec_file), *extra], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kw)


def write_fake_cifar100(root: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """A tiny CIFAR-100 in torchvision's exact ``cifar-100-python`` on-disk format."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, n)
        fine[:100] = np.arange(100)  # every class present
        entry = {
            "filenames": [f"img_{i}.png".encode() for i in range(n)],
            "batch_label": f"{name} batch".encode(),
            "fine_labels": fine.tolist(),
            "coarse_labels": (fine // 5).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    meta = {"fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"super{i}" for i in range(20)]}
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f)
    return root


@pytest.fixture(scope="session")
def fake_cifar(tmp_path_factory) -> Path:
    return write_fake_cifar100(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory) -> Path:
    from tkd.data import make_synthetic, save_synthetic

    path = tmp_path_factory.mktemp("synthetic") / "synthetic.npz"
    save_synthetic(make_synthetic(seed=0, train_per_class=12, test_per_class=4, shared=0.4, noise=0.2, shift=2), path)
    return path


def tiny_spec(data, out, **overrides) -> dict:
    spec = dict(dataset="synthetic", data_path=str(data), arch="resnet8_cifar", out_dir=str(out),
                epochs=2, batch_size=32, lr=0.05, lr_milestones=[0.5], threads=1, deterministic=True)
    spec.update(overrides)
    return spec


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The README's demo, as a user runs it, with its results in a temporary folder."""
    results = tmp_path_factory.mktemp("demo") / "results"
    out = snakemake("--cores", "all", "--configfile", "workflow/demo.yaml", "--config", f"results={results}",
                    timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return results, out


def write_imagefolder(root: Path, classes: int = 4, train: int = 16, val: int = 6, seed: int = 0) -> Path:
    """A tiny ImageFolder of JPEGs (train/ and val/, a folder per class), ILSVRC2012's layout."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, (classes, 3))
    for split, n in (("train", train), ("val", val)):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = np.clip(colours[c] + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"n{c:08d}_{i}.JPEG", quality=90)
    return root


@pytest.fixture(scope="session")
def imagefolder(tmp_path_factory) -> Path:
    return write_imagefolder(tmp_path_factory.mktemp("ilsvrc"))


def folder_spec(root, out, **overrides) -> dict:
    """An ILSVRC2012-style run shrunk to the tiny ImageFolder: 32-px crops of ResNet-18."""
    spec = dict(dataset="imagefolder", data_path=str(root), arch="resnet18", out_dir=str(out), image_size=32,
                eval_resize=36, epochs=3, batch_size=16, lr=0.05, lr_milestones=[0.7], threads=2, workers=0,
                device="cpu", deterministic=True)
    spec.update(overrides)
    return spec
