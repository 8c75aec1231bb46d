"""Our numbers beside the paper's: the reported absolute numbers with a verdict each, and the
paper-style tables (rows = patriarch methods, columns = generations).

Everything works on tidy pandas frames: ``runs.csv`` (one row per run) and the reported
numbers (``tkd/report/reported.csv``, one row per number the paper or a cited paper reports).
Accuracy and error, top-1 and top-5 are kept apart by the ``metric`` column and read in
one place, :func:`cell_values`. The paper's relative claims are :mod:`tkd.statistics.claims`.
"""
from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SpecError
from ..statistics.selection import QUANTITIES, best_generation, best_on_test, image_resolution
from ..statistics.stats import VERDICTS as STAT_VERDICTS
from ..statistics.stats import seeds_text, value_verdict

REPORTED_COLUMNS = ["dataset", "arch", "method", "generation", "metric", "value", "upper", "source", "note"]
METRICS = {"top1_acc": "top1", "top5_acc": "top5", "top1_err": "top1_err", "top5_err": "top5_err"}  # -> QUANTITIES
KEYS = ["dataset", "arch", "method"]
VERDICTS = STAT_VERDICTS + ("not compared",)
BEST, BEST_ON_TEST = "best", "best on test"


def load_reported(path: str | Path | None = None) -> pd.DataFrame:
    """The reported numbers; the packaged ``reported.csv`` unless ``path`` is given."""
    from ..grid.config import data_file
    from ..files import read_csv

    source = data_file(str(path)) if path else Path(str(resources.files("tkd.report") / "reported.csv"))
    df = read_csv(source, what="reported numbers", dtype={"generation": str, "arch": str}, keep_default_na=False,
                  na_values={"value": [""], "upper": [""]})
    missing = [c for c in REPORTED_COLUMNS if c not in df.columns]
    if missing:
        raise SpecError(f"{source}: column {missing[0]!r} is missing; expected {REPORTED_COLUMNS}")
    bad = sorted(set(df.metric) - set(METRICS))
    if bad:
        raise SpecError(f"{source}: metric {bad[0]!r} is unknown; choose one of {sorted(METRICS)}")
    return df


def _cell(runs: pd.DataFrame, dataset: str, arch: str, method: str) -> pd.DataFrame:
    return runs[(runs.dataset == dataset) & (runs.arch == arch) & (runs.method == method)]


def cell_values(runs: pd.DataFrame, dataset: str, arch: str, method: str, generation: str,
                metric: str = "top1_acc") -> tuple[np.ndarray, float | None, str]:
    """Our per-seed values of ``metric`` for one generation, or for the best one (``"best"``:
    cross-fitted over seeds and test halves, :func:`tkd.statistics.selection.best_generation`), the standard
    error of their mean where they are not independent (None: the usual one), and a note of what
    was chosen."""
    part = _cell(runs, dataset, arch, method)
    if part.empty:
        return np.array([]), None, ""
    if generation == BEST:
        values, se, chosen = best_generation(part, METRICS[metric])
        return values, se, f"{chosen}, cross-fitted over seeds and test halves"
    q = QUANTITIES[METRICS[metric]]
    values = part[part.generation == int(generation)][q.column].to_numpy(float)
    return (100.0 - values if q.error else values), None, ""


def _resolution(runs: pd.DataFrame, cell) -> float:
    """One test image's worth of accuracy in a cell: the floor of its per-seed sd."""
    part = _cell(runs, cell["dataset"], cell["arch"], cell["method"])
    if {"images_a", "images_b"} <= set(part.columns):
        return image_resolution(part.images_a + part.images_b)
    return image_resolution([])


def compare(runs: pd.DataFrame, reported: pd.DataFrame, tolerance: float = 0.5) -> pd.DataFrame:
    """One row per reported number: ours beside it, the difference and the verdict."""
    rows = []
    for _, r in reported.iterrows():
        row = r.to_dict()
        if not r["arch"]:
            row.update(n=0, verdict="not compared", why="the architecture is not named: no cell to compare with",
                       seeds_needed="–")
        else:
            values, se, chosen = cell_values(runs, r["dataset"], r["arch"], r["method"], str(r["generation"]),
                                             r["metric"])
            v = value_verdict(values, r["value"], r["upper"], tolerance, _resolution(runs, r), se=se)
            row.update(ours=v.estimate, ci_low=v.ci_low, ci_high=v.ci_high, n=v.n, diff=v.estimate - r["value"],
                       verdict=v.verdict, why=v.why, seeds_needed=seeds_text(v.seeds_needed, v.n), chosen=chosen)
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("ours", "ci_low", "ci_high", "diff", "seeds_needed", "why", "chosen"):
        if c not in out:
            out[c] = math.nan
    return out


def reported_accuracy(reported: pd.DataFrame, dataset: str, arch: str, method: str, generation: str):
    """The reported top-1 *accuracy* of one cell (errors converted), or None."""
    r = reported[(reported.dataset == dataset) & (reported.arch == arch) & (reported.method == method)
                 & (reported.generation == generation) & reported.metric.isin(["top1_acc", "top1_err"])]
    if r.empty:
        return None
    r = r.iloc[0]
    return r["value"] if r["metric"] == "top1_acc" else 100 - r["value"]


def _stats(values) -> dict:
    v = np.asarray(values, float)
    return dict(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else math.nan, n=len(v),
                values=v)


def method_columns(part: pd.DataFrame, ensembles: pd.DataFrame | None, best: bool = True) -> dict[str, dict]:
    """One method's cells of a paper table: each generation, the best one (held out and on
    test), and its ensembles of generations. Values are test top-1 (%) per seed."""
    cells = {str(g): dict(_stats(grp.test_top1)) for g, grp in part.groupby("generation")}
    if best:
        values, se, chosen = best_generation(part)
        cells[BEST] = dict(_stats(values), se=se, note=chosen.removeprefix(f"{part.method.iloc[0]} "))
        (gen,), chosen = best_on_test(part)
        cells[BEST_ON_TEST] = dict(_stats(chosen.test_top1), note=f"gen {gen}")
    if ensembles is not None and not ensembles.empty:
        e = ensembles
        full = e[e.kind == "first"]
        if not full.empty:
            widest = full[full["size"] == full.groupby("seed")["size"].transform("max")]
            cells[f"ens 0-{int(widest['size'].max()) - 1}"] = _stats(widest.top1)
        for k, grp in e[e.kind == "last"].groupby("size"):
            cells[f"ens last {int(k)}"] = _stats(grp.top1)
    return cells


def _column_order(names) -> list[str]:
    gens = sorted((c for c in names if c.isdigit()), key=int)
    return gens + [c for c in (BEST, BEST_ON_TEST) if c in names] + sorted(c for c in names if c.startswith("ens"))


def generation_tables(runs: pd.DataFrame, reported: pd.DataFrame | None = None, tolerance: float = 0.5,
                      ensembles: pd.DataFrame | None = None, column: str = "test_top1", best: bool = True) -> list[dict]:
    """Per (dataset, arch): rows = methods, columns = generations 0..m, the best generation (held
    out, and on test; ``best``), and the ensembles of generations; the best of each column is marked.

    A cell for which the paper reports a top-1 value carries it, the difference and the verdict.
    """
    reported = load_reported() if reported is None else reported
    tables = []
    for (dataset, arch), cell in runs.rename(columns={column: "test_top1"}).groupby(["dataset", "arch"]):
        by_method = {}
        for method, part in cell.groupby("method"):
            ens = None
            if ensembles is not None and not ensembles.empty:
                ens = ensembles[(ensembles.dataset == dataset) & (ensembles.arch == arch) & (ensembles.method == method)]
            by_method[method] = method_columns(part, ens, best)
        columns = _column_order({c for cells in by_method.values() for c in cells})
        top = {c: max((m[c]["mean"] for m in by_method.values() if c in m), default=math.nan) for c in columns}
        rows = []
        for method, cells in sorted(by_method.items()):
            row = []
            for c in columns:
                if c not in cells:
                    row.append(None)
                    continue
                cell_ = {"note": None, **cells[c], "best": bool(cells[c]["mean"] == top[c]), "reported": None,
                         "diff": None, "verdict": None}
                paper = reported_accuracy(reported, dataset, arch, method, c) if c != BEST_ON_TEST else None
                if paper is not None:
                    v = value_verdict(cell_["values"], paper, tolerance=tolerance, plan=False, se=cell_.get("se"),
                                      floor=_resolution(cell, dict(dataset=dataset, arch=arch, method=method)))
                    cell_.update(reported=paper, diff=cell_["mean"] - paper, verdict=v.verdict)
                row.append(cell_)
            rows.append(dict(method=method, cells=row))
        tables.append(dict(dataset=dataset, arch=arch, generations=columns, rows=rows))
    return tables


_TEX = {"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "<": r"$<$", ">": r"$>$", "–": "--", "×": r"$\times$",
        "±": r"$\pm$", "−": "$-$"}


def tex(text) -> str:
    """Text as LaTeX typesets it in text mode (``<`` would print as an inverted exclamation mark)."""
    return "".join(_TEX.get(c, c) for c in str(text))


def render(template: str, **context) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("tkd.report", "templates"), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda x, nd=2: "–" if _missing(x) else f"{x:.{nd}f}"
    env.filters["int"] = lambda x: "–" if _missing(x) else f"{int(x)}"
    env.filters["seeds"] = lambda x, n: seeds_text(x, 0 if _missing(n) else int(n))  # a number until shown
    env.filters["tex"] = tex
    env.filters["text"] = lambda x: "–" if _missing(x) or x == "" else x
    env.filters["pct"] = lambda x, nd=0: "–" if _missing(x) else f"{100 * x:.{nd}f} %"
    return env.get_template(template).render(**context)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
