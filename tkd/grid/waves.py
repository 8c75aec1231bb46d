"""Seeds in waves, owned in one place: from the config and the decisions judged so far, which runs
are asked for, which wave of each cell is the last, and each cell's looks.

A grid block with ``seeds: {start, step, max}`` runs its seeds in waves (:mod:`tkd.grid` lists
them). Each (dataset, arch) **cell goes at its own pace**: after each of its waves a checkpoint
judges the cell's claim rows (:mod:`tkd.statistics.wave_claims`) and writes its decision
(``summary/waves/<dataset>/<arch>/wave<N>.json``: stop, or the cell's next wave's runs), so a
cell of fast architectures is not held back by the slowest one. The Snakefile's input
functions, ``tkd status``, ``tkd tables`` and ``tkd plan`` all ask a :class:`Waves` — the
workflow with a reader that waits for the checkpoint, the commands with one that reads the files
judged so far. A cell of a block with a list of seeds has one wave and no checkpoint. Plain
Python: the Snakefile's parse path imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from .. import grid, layout

__all__ = ["Cell", "Waves", "looks", "looks_param", "from_files", "cell_of"]


class Cell(NamedTuple):
    dataset: str
    arch: str


def cell_of(run: dict) -> Cell:
    return Cell(run["dataset"], run["arch"])


def looks(config: dict) -> dict[Cell, tuple[int, ...]]:
    """Per cell: how many seeds it has after each of its waves (one look: the fixed design)."""
    return {Cell(b["dataset"], arch): tuple(len(grid.wave_seeds(b["seeds"], w))
                                            for w in range(1, grid.wave_count(b["seeds"]) + 1))
            for b in config["grid"] if grid.block_on(config, b) for arch in b["archs"]}


def looks_param(config: dict) -> list[dict]:
    """:func:`looks` as plain records, for a rule's params (which Snakemake stores as JSON)."""
    return [dict(dataset=c.dataset, arch=c.arch, looks=list(n)) for c, n in looks(config).items()]


def from_param(records: list[dict]) -> dict[Cell, tuple[int, ...]]:
    return {Cell(r["dataset"], r["arch"]): tuple(r["looks"]) for r in records}


@dataclass
class Waves:
    """The waves of one config, cell by cell. ``read(cell, n)``: the cell's decision after its wave
    n, or None while it is not judged (the workflow's reader waits for the checkpoint instead)."""

    config: dict
    read: Callable[[Cell, int], dict | None]

    @property
    def sequential(self) -> bool:
        return grid.sequential(self.config)

    @property
    def cells(self) -> dict[Cell, tuple[int, ...]]:
        """Every cell of the grid and its looks."""
        return looks(self.config)

    def sequential_cells(self) -> list[Cell]:
        """The cells whose seeds run in waves (a checkpoint after each)."""
        return [cell for cell, n in self.cells.items() if len(n) > 1]

    @property
    def most(self) -> int:
        """The most waves any cell has."""
        return max((len(n) for n in self.cells.values()), default=1)

    def first(self, cell: Cell) -> list[dict]:
        """The cell's first wave: in the fixed design, every run of the cell."""
        return [r for r in grid.runs(self.config, wave=1) if cell_of(r) == cell]

    def next_wave(self, cell: Cell, wave: int) -> list[dict]:
        """Every run the cell's wave ``wave`` may add (the checkpoint keeps those an open row asks for)."""
        return [r for r in grid.wave_runs(self.config, wave) if cell_of(r) == cell]

    def runs_through(self, cell: Cell, wave: int) -> list[dict]:
        """The cell's runs of its waves 1..``wave``: the first, then those each earlier decision asked for."""
        runs = self.first(cell)
        for earlier in range(1, wave):
            runs += self.read(cell, earlier)["next_runs"]
        return runs

    def judged(self, cell: Cell) -> list[dict]:
        """The cell's decisions judged so far, in order."""
        out = []
        while len(self.cells.get(cell, ())) > 1 and (decision := self.read(cell, len(out) + 1)) is not None:
            out.append(decision)
            if decision["stop"]:
                break
        return out

    def final(self, cell: Cell) -> int:
        """The wave after which the cell stopped (1 in the fixed design). With the workflow's reader
        this waits for each of the cell's checkpoints in turn."""
        wave = 1
        while len(self.cells[cell]) > 1 and not self.read(cell, wave)["stop"]:
            wave += 1
        return wave

    def final_runs(self, cell: Cell) -> list[dict]:
        """Every run of the cell as it ends."""
        return self.runs_through(cell, self.final(cell))

    def asked(self) -> list[dict]:
        """Every run asked for so far: each cell's first wave, and each run a judged wave asked for."""
        runs = []
        for cell in self.cells:
            judged = self.judged(cell)
            runs += self.runs_through(cell, len(judged) + (0 if judged and judged[-1]["stop"] else 1))
        return runs

    def asked_by_wave(self) -> list[dict]:
        """Every run asked for so far, each with ``wave``: the wave of its cell that asked for it."""
        runs = []
        for cell in self.cells:
            runs += [dict(r, wave=1) for r in self.first(cell)]
            for k, decision in enumerate(self.judged(cell)):
                runs += [dict(r, wave=k + 2) for r in decision["next_runs"]]
        return runs

    def now(self, cell: Cell) -> int:
        """The wave the cell is at: the last judged one if it stopped, else the one running."""
        judged = self.judged(cell)
        return len(judged) if judged and judged[-1]["stop"] else min(len(judged) + 1, len(self.cells[cell]))


def decision_path(results: str | Path, cell: Cell, wave: int) -> Path:
    return Path(results) / layout.WAVE.format(dataset=cell.dataset, arch=cell.arch, wave=wave)


def from_files(config: dict) -> Waves:
    """The waves of a results folder as far as they are judged (for the commands)."""
    import functools

    from ..files import read_json

    @functools.cache  # a decision, once judged, does not change while a command reads it
    def read(cell: Cell, wave: int) -> dict | None:
        path = decision_path(config["results"], cell, wave)
        return read_json(path, "wave decision") if path.is_file() else None

    return Waves(config, read)
