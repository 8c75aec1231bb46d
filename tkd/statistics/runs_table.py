"""What every reader of a runs table (``runs.csv``) checks before it judges anything.

A runs table is keyed by (dataset, arch, method, seed, generation). A row without a method, a
seed or a generation, or two rows with the same key, would be filed under the wrong run by the
arrays of :mod:`tkd.statistics.cube` (an empty method sorts as the last one; the later of two duplicates
wins) and move a verdict without a word; a mislabelled method becomes a method the claims choose
between; a value that is text, NaN, infinite or out of its range (an accuracy outside [0, 100],
a probability outside [0, 1]) becomes a verdict. So the claims, the tables and the waves all
call :func:`check`, which names the offending rows (as lines of the CSV file: header is line 1).
A run that has not finished is not a row at all: its claims read "not run", as they should.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import SpecError

__all__ = ["KEYS", "check", "check_values", "require_runs"]

KEYS = ("dataset", "arch", "method", "seed", "generation")
_SHOWN = 5  # offending lines named in one message


def _lines(mask) -> str:
    lines = [str(i + 2) for i in mask.to_numpy().nonzero()[0]]
    more = f" and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return ", ".join(lines[:_SHOWN]) + more


def check(runs: pd.DataFrame, methods=None, measures: dict[str, tuple[float, float]] | None = None,
          what: str = "runs table", methods_from: str = "") -> pd.DataFrame:
    """``runs`` as it is, once every key is present and whole and no key repeats; ``methods``
    (the config's, where known): the methods a row may name, ``methods_from`` where they came from
    (said with an unknown method: most often a table of another config's grid); ``measures``: the
    columns a reader needs, each with the range its finite values must lie in. Raises :class:`SpecError`."""
    if not len(runs):
        return runs
    runs = runs.reset_index(drop=True)
    missing = [k for k in KEYS if k not in runs.columns]
    if missing:
        raise SpecError(f"{what}: the column {missing[0]!r} is missing; a runs table needs {list(KEYS)}")
    for key in ("dataset", "arch", "method"):
        empty = runs[key].isna() | runs[key].astype(str).str.strip().eq("")
        if empty.any():
            raise SpecError(f"{what}: {key} is empty on line {_lines(empty)}")
    if methods is not None:
        unknown = ~runs.method.isin(list(methods))
        if unknown.any():
            names = sorted(set(runs.method[unknown].astype(str)))
            raise SpecError(f"{what}: method {names[0]!r} on line {_lines(unknown)} is not one of {sorted(methods)}"
                            + (f"; {methods_from}" if methods_from else ""))
    for key in ("seed", "generation"):
        number = pd.to_numeric(runs[key], errors="coerce")
        bad = number.isna() | (number != number.round()) | (number < 0)
        if bad.any():
            raise SpecError(f"{what}: {key} is missing or not a whole number >= 0 on line {_lines(bad)}")
    keys = runs[list(KEYS)].astype({"seed": int, "generation": int})
    repeated = keys.duplicated(keep=False)
    if repeated.any():
        first = keys[repeated].iloc[0]
        raise SpecError(f"{what}: the run {'/'.join(str(first[k]) for k in KEYS)} is listed more than once, on "
                        f"lines {_lines(repeated & (keys == first).all(axis=1))}; each run must appear once")
    for column, (low, high) in (measures or {}).items():
        check_values(runs, column, low, high, what)
    return runs


def check_values(runs: pd.DataFrame, column: str, low: float, high: float, what: str) -> None:
    """Every value of ``column`` a finite number in [low, high]."""
    if column not in runs.columns:
        raise SpecError(f"{what}: the column {column!r} is missing; the claims read it")
    number = pd.to_numeric(runs[column], errors="coerce")
    bad = ~np.isfinite(number.to_numpy(float))
    if bad.any():
        raise SpecError(f"{what}: {column} is not a finite number on line {_lines(pd.Series(bad))}")
    outside = (number < low) | (number > high)
    if outside.any():
        raise SpecError(f"{what}: {column} lies outside [{low:g}, {high:g}] on line {_lines(outside)}")


def require_runs(runs: pd.DataFrame, what: str = "runs table") -> pd.DataFrame:
    """``runs`` when it has at least one run; a file of headers alone is an error, not a table."""
    if not len(runs):
        raise SpecError(f"{what}: no runs (the file has no rows)")
    return runs
