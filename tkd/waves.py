"""Seeds in waves, owned in one place: from the config and the decisions judged so far, which runs
are asked for, which wave is the last, and each cell's looks.

A grid block with ``seeds: {start, step, max}`` runs its seeds in waves (:mod:`tkd.grid` lists
them); after each wave a checkpoint judges the claims (:mod:`tkd.sequential`, statistics only)
and writes its decision (``summary/waves/wave<N>.json``: stop, or the next wave's runs). The
Snakefile's input functions, ``tkd status``, ``tkd tables`` and ``tkd plan`` all ask a
:class:`Waves` — the workflow with a reader that waits for the checkpoint, the commands with one
that reads the files judged so far. Plain Python: the Snakefile's parse path imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from . import grid, layout

__all__ = ["Cell", "Waves", "looks", "looks_param", "from_files"]


class Cell(NamedTuple):
    dataset: str
    arch: str


def looks(config: dict) -> dict[Cell, tuple[int, ...]]:
    """Per cell: how many seeds it has after each of its waves (one look: the fixed design)."""
    return {Cell(b["dataset"], arch): tuple(len(grid.wave_seeds(b["seeds"], w))
                                            for w in range(1, grid.waves(b["seeds"]) + 1))
            for b in config["grid"] if grid.block_on(config, b) for arch in b["archs"]}


def looks_param(config: dict) -> list[dict]:
    """:func:`looks` as plain records, for a rule's params (which Snakemake stores as JSON)."""
    return [dict(dataset=c.dataset, arch=c.arch, looks=list(n)) for c, n in looks(config).items()]


def from_param(records: list[dict]) -> dict[Cell, tuple[int, ...]]:
    return {Cell(r["dataset"], r["arch"]): tuple(r["looks"]) for r in records}


@dataclass
class Waves:
    """The waves of one config. ``read(n)``: the decision after wave n, or None while it is not
    judged (the workflow's reader waits for the checkpoint instead)."""

    config: dict
    read: Callable[[int], dict | None]

    @property
    def sequential(self) -> bool:
        return grid.sequential(self.config)

    @property
    def most(self) -> int:
        """The most waves any cell has."""
        return max((len(n) for n in looks(self.config).values()), default=1)

    def runs_through(self, wave: int) -> list[dict]:
        """The runs of waves 1..``wave``: the first, then those each earlier decision asked for."""
        runs = grid.runs(self.config, wave=1)
        for earlier in range(1, wave):
            runs += self.read(earlier)["next_runs"]
        return runs

    def judged(self) -> list[dict]:
        """The decisions judged so far, in order."""
        out = []
        while self.sequential and (decision := self.read(len(out) + 1)) is not None:
            out.append(decision)
            if decision["stop"]:
                break
        return out

    def final(self) -> int:
        """The wave after which the grid stopped (1 in the fixed design). With the workflow's reader
        this waits for each checkpoint in turn."""
        wave = 1
        while self.sequential and not self.read(wave)["stop"]:
            wave += 1
        return wave

    def asked(self) -> list[dict]:
        """Every run asked for so far: the whole grid in the fixed design; in waves, the first and
        each one a judged wave asked for."""
        if not self.sequential:
            return grid.runs(self.config)
        judged = self.judged()
        return self.runs_through(len(judged) + (0 if judged and judged[-1]["stop"] else 1))

    def now(self) -> int:
        """The wave the grid is at: the last judged one if it stopped, else the one running."""
        judged = self.judged()
        return len(judged) if judged and judged[-1]["stop"] else min(len(judged) + 1, self.most)


def from_files(config: dict) -> Waves:
    """The waves of a results folder as far as they are judged (for the commands)."""
    import functools

    from .files import read_json

    @functools.cache  # a decision, once judged, does not change while a command reads it
    def read(wave: int) -> dict | None:
        path = Path(config["results"]) / layout.WAVE.format(wave=wave)
        return read_json(path, "wave decision") if path.is_file() else None

    return Waves(config, read)
