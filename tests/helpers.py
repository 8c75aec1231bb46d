"""Helpers shared by the tests: running Snakemake and the CLI, tiny data sets in the real
on-disk formats, tiny specs, and simulated runs.csv frames with known answers."""
from __future__ import annotations

import csv
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent


def snakemake(*args, cwd=REPO, timeout=900):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def tkd(*args, timeout=600):
    """``tkd ARGS`` in a child process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "tkd", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def run_cli(spec_file, *extra, **kw):
    """``tkd train SPEC`` in a child process, its output unbuffered on one pipe."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "tkd", "train", str(spec_file), *extra], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kw)


# the superclass of each fake CIFAR-100 class: five classes each, and not fine // 5 (nor any rule a
# loader could compute instead of reading the file's coarse labels)
FAKE_SUPERCLASS = np.random.default_rng(100).permutation(np.repeat(np.arange(20), 5))


def write_fake_cifar100(root: Path, n_train: int = 200, n_test: int = 100, seed: int = 0,
                        test_brightness: float = 1.0) -> Path:
    """A tiny CIFAR-100 in torchvision's exact ``cifar-100-python`` on-disk format.
    ``test_brightness`` < 1 makes the test images darker than the training images."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = rng.integers(0, 100, n)
        fine[:100] = np.arange(100)  # every class present
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        if name == "test":
            data = (data * test_brightness).astype(np.uint8)
        entry = {"filenames": [f"img_{i}.png".encode() for i in range(n)], "batch_label": f"{name} batch".encode(),
                 "fine_labels": fine.tolist(), "coarse_labels": FAKE_SUPERCLASS[fine].tolist(), "data": data}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
    meta = {"fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"super{i}" for i in range(20)]}
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f)
    return root


def history(run_dir: Path) -> list[dict]:
    """A run's history.csv as rows of column -> text, without the timing columns (they vary)."""
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in csv.DictReader(f)]


def tiny_spec(data, out, **overrides) -> dict:
    spec = dict(dataset="synthetic", data_path=str(data), arch="resnet8_cifar", out_dir=str(out),
                epochs=2, batch_size=32, lr=0.05, lr_milestones=[0.5], threads=2, deterministic=True)
    spec.update(overrides)
    return spec


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


def folder_spec(root, out, **overrides) -> dict:
    """An ILSVRC2012-style run shrunk to the tiny ImageFolder: 32-px crops of ResNet-18."""
    spec = dict(dataset="imagefolder", data_path=str(root), arch="resnet18", out_dir=str(out), image_size=32,
                eval_resize=36, epochs=3, batch_size=16, lr=0.05, lr_milestones=[0.7], threads=2, workers=0,
                device="cpu", deterministic=True)
    spec.update(overrides)
    return spec


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run."""
    table = output.split("Job stats:")[1]
    counts = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def expected_counts(config: dict) -> dict[str, int]:
    """The jobs a config's grid should make, counted from the config alone (not from tkd.grid)."""
    datasets_ = config["datasets"]
    blocks = [b for b in config["grid"] if b.get("enabled", True) and datasets_[b["dataset"]].get("path", "") is not None]
    chains_of = lambda bs: sum(len(b["archs"]) * len(b["methods"]) * len(b["seeds"]) for b in bs)
    runs = sum(len(b["archs"]) * len(b["methods"]) * len(b["seeds"]) * (b["generations"] + 1) for b in blocks)
    datasets = {b["dataset"] for b in blocks}
    cells = {(b["dataset"], a) for b in blocks for a in b["archs"]}
    counts = {"train": runs, "evaluate": chains_of(blocks), "cell_tables": len(cells), "aggregate": 1, "all": 1,
              "paper_tables": 1, "paper_figures": len(cells), "compute_figure": 1}
    probed = [b for b in blocks if datasets_[b["dataset"]]["kind"] != "imagefolder"]
    if config.get("transfer", {}).get("enabled", True) and probed:  # the probe is for 32x32 sources only
        counts["transfer"] = chains_of(probed)
        datasets.add(config.get("transfer", {}).get("dataset", "cifar10"))
    synthetic = [d for d in datasets if datasets_[d]["kind"] == "synthetic"]
    if synthetic:
        counts["synthetic_data"] = len(synthetic)
    if len(datasets) > len(synthetic):
        counts["data"] = len(datasets) - len(synthetic)
    counts["total"] = sum(counts.values())
    return counts


# --------------------------------------------------------------------------- simulated runs.csv frames
def paper_config() -> dict:
    """config.yaml as the workflow reads it (validated, defaults filled in)."""
    from tkd.grid.config import load

    return load([str(REPO / "config.yaml")])


PAPER_METHODS = {  # config.yaml's methods, as they reach the runs' spec_* columns
    "ce": {"loss": "ce"}, "ls": {"loss": "ls", "epsilon": 0.1}, "cp": {"loss": "cp", "beta": 0.1},
    "tsd-0.6": {"loss": "tsd", "eta": 0.6, "k": 5}, "tsd-0.7": {"loss": "tsd", "eta": 0.7, "k": 5}}


def one_cell(truth: dict, seeds: int = 3, noise=None, rng=None, dataset: str = "cifar100",
             arch: str = "resnet56_cifar", confidence: dict | None = None) -> pd.DataFrame:
    """runs.csv rows of one cell with known truth (tkd.statistics.simulate): ``truth`` maps a method to its true
    top-1 per generation; ``confidence`` a method to its patriarch's true mean top-1 probability."""
    from tkd.statistics.simulate import REGIMES, simulate

    keys = [dict(dataset=dataset, arch=arch, method=m, seed=s, generation=g)
            for m, accs in truth.items() for s in range(seeds) for g in range(len(accs))]
    conf = confidence or {}
    return simulate(keys, PAPER_METHODS, lambda k: truth[k["method"]][k["generation"]],
                    noise or REGIMES["realistic"], rng if rng is not None else np.random.default_rng(0),
                    confidence=lambda k: conf.get(k["method"], 0.8) if k["generation"] == 0 else 0.8)


def too_wide(text: str, *paths, width: int = 100) -> list[str]:
    """The lines of a command's output wider than ``width`` columns, each of ``paths`` (the test's
    own folders, longer than a user's) counted as five characters."""
    for path in sorted(map(str, paths), key=len, reverse=True):
        text = text.replace(path, "/path")
    return [line for line in text.splitlines() if len(line) > width]


def printed_tables(text: str) -> list[pd.DataFrame]:
    """The tables (tabulate's "simple" format: header, a rule of dashes, rows) in a command's
    output, each column cut where its rule is."""
    import re

    lines, out = text.splitlines(), []
    for i, rule in enumerate(lines[1:], 1):
        if not re.fullmatch(r"-+( +-+)*", rule):
            continue
        spans = [m.span() for m in re.finditer(r"-+", rule)]
        spans = [(a, spans[k + 1][0] if k + 1 < len(spans) else None) for k, (a, _) in enumerate(spans)]
        body = []
        for line in lines[i + 1:]:
            if not line.strip():
                break
            body.append([line[a:b].strip() for a, b in spans])
        out.append(pd.DataFrame(body, columns=[lines[i - 1][a:b].strip() for a, b in spans]))
    return out
