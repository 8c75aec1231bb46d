"""The grid of runs a config asks for: plain Python over the config dict, no imports.

The Snakefile expands it into jobs; ``tkd status``, ``tkd tables``, ``tkd slurm-check`` and the
dry-run benchmark read the same grid from here, so "which runs exist" is decided in one place.
"""
from __future__ import annotations

import math
from itertools import product

KEYS = ("dataset", "arch", "method", "seed", "generation")


def dataset_on(config: dict, name: str) -> bool:
    """A data set is off while its path is null (the ILSVRC2012 section until a path is given)."""
    return config["datasets"][name].get("path", "") is not None


def block_on(config: dict, block: dict) -> bool:
    return block.get("enabled", True) and dataset_on(config, block["dataset"])


def wave_seeds(seeds, wave: int | None = None) -> list[int]:
    """A block's seeds up to wave ``wave`` (1-based; None: every seed it may run). A list is the
    fixed design, all in wave 1; ``{start, step, max}`` is sequential (tkd.statistics.sequential): seeds
    0..start-1 in wave 1, then ``step`` more per wave up to ``max``."""
    if isinstance(seeds, list):
        return list(seeds)
    n = seeds["max"] if wave is None else min(seeds["start"] + (wave - 1) * seeds["step"], seeds["max"])
    return list(range(n))


def wave_count(seeds) -> int:
    """How many waves a block has (1 for a list of seeds)."""
    if isinstance(seeds, list):
        return 1
    return 1 + math.ceil((seeds["max"] - seeds["start"]) / seeds["step"])


def sequential(config: dict) -> bool:
    """Whether any enabled block runs its seeds in waves."""
    return any(wave_count(b["seeds"]) > 1 for b in config["grid"] if block_on(config, b))


def runs(config: dict, wave: int | None = None) -> list[dict]:
    """Every run of the enabled grid blocks whose data set is on, as dicts of :data:`KEYS`, up to
    wave ``wave`` of a sequential block (None: every run the grid may make)."""
    out = []
    for block in config["grid"]:
        if not block_on(config, block):
            continue
        for arch, method, seed, gen in product(block["archs"], block["methods"], wave_seeds(block["seeds"], wave),
                                               range(block["generations"] + 1)):
            out.append(dict(dataset=block["dataset"], arch=arch, method=method, seed=seed, generation=gen))
    return out


def wave_runs(config: dict, wave: int, chains_: list[tuple] | None = None) -> list[dict]:
    """The runs wave ``wave`` adds, to the chains (dataset, arch, method) listed (None: to all)."""
    want = None if chains_ is None else set(map(tuple, chains_))
    out = []
    for block in config["grid"]:
        if not block_on(config, block) or wave > wave_count(block["seeds"]):
            continue
        new = [s for s in wave_seeds(block["seeds"], wave) if s not in wave_seeds(block["seeds"], wave - 1)]
        for arch, method, seed, gen in product(block["archs"], block["methods"], new, range(block["generations"] + 1)):
            if want is None or (block["dataset"], arch, method) in want:
                out.append(dict(dataset=block["dataset"], arch=arch, method=method, seed=seed, generation=gen))
    return out


def chains(grid_runs: list[dict]) -> list[tuple]:
    """(dataset, arch, method, seed) of every chain, sorted."""
    return sorted({(r["dataset"], r["arch"], r["method"], r["seed"]) for r in grid_runs})


def cells(grid_runs: list[dict]) -> list[tuple]:
    """(dataset, arch) of every cell of the paper tables, sorted."""
    return sorted({(r["dataset"], r["arch"]) for r in grid_runs})


def transfer_chains(config: dict, all_chains: list[tuple]) -> list[tuple]:
    """The chains that get a transfer probe: the probe reads 32x32 images, so not ImageFolder sources."""
    if not config.get("transfer", {}).get("enabled", True):
        return []
    return [c for c in all_chains if config["datasets"][c[0]]["kind"] != "imagefolder"]


def datasets_used(config: dict, grid_runs: list[dict]) -> list[str]:
    """The data sets the grid trains on, and the transfer target when there are probes."""
    used = {r["dataset"] for r in grid_runs}
    if transfer_chains(config, chains(grid_runs)):
        used.add(config["transfer"]["dataset"])
    return sorted(used)


def archs_used(config: dict) -> list[str]:
    return sorted({a for b in config["grid"] if block_on(config, b) for a in b["archs"]})
