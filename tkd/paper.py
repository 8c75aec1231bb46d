"""Our numbers beside the paper's: statistics over seeds, verdicts, and the paper-style tables.

Everything works on tidy pandas frames: ``runs.csv`` (one row per run) and the
reported numbers (``tkd/reported.csv``, one row per number the paper or a cited
paper reports). Accuracy and error are kept apart by the ``metric`` column and
converted in one place, :func:`our_metric`.
"""
from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

REPORTED_COLUMNS = ["dataset", "arch", "method", "generation", "metric", "value", "upper", "source", "note"]
METRICS = {
    "top1_acc": ("test_top1", False),  # metric -> (runs.csv column, is an error rate)
    "top5_acc": ("test_top5", False),
    "top1_err": ("test_top1", True),
    "top5_err": ("test_top5", True),
    "top1_gain": ("test_top1", False),  # best generation of the method minus the ce patriarch
}
KEYS = ["dataset", "arch", "method"]
VERDICTS = ("reproduced", "not reproduced", "no reported value", "not run", "not compared")


def load_reported(path: str | Path | None = None) -> pd.DataFrame:
    """The reported numbers; the packaged ``reported.csv`` unless ``path`` is given."""
    source = Path(path) if path else resources.files("tkd") / "reported.csv"
    with source.open() as f:
        df = pd.read_csv(f, dtype={"generation": str, "arch": str}, keep_default_na=False,
                         na_values={"value": [""], "upper": [""]})
    missing = [c for c in REPORTED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: column {missing[0]!r} is missing; expected {REPORTED_COLUMNS}")
    bad = sorted(set(df.metric) - set(METRICS))
    if bad:
        raise ValueError(f"{source}: metric {bad[0]!r} is unknown; choose one of {sorted(METRICS)}")
    return df


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) for fewer than two values (no interval exists)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    lo, hi = st.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    return float(lo), float(hi)


def cell_stats(runs: pd.DataFrame, column: str = "test_top1", confidence: float = 0.95) -> pd.DataFrame:
    """Per (dataset, arch, method, generation): n, mean, std, and the t-interval over seeds.

    A ``generation == "best"`` row per (dataset, arch, method) repeats the
    generation with the highest mean (named in ``best_of``).
    """
    rows = []
    for key, g in runs.groupby(KEYS + ["generation"]):
        v = g[column].to_numpy(float)
        lo, hi = t_interval(v, confidence)
        rows.append(dict(zip(KEYS + ["generation"], key), n=len(v), mean=v.mean(),
                         std=v.std(ddof=1) if len(v) > 1 else math.nan, ci_low=lo, ci_high=hi,
                         values=tuple(v)))
    cells = pd.DataFrame(rows)
    cells["generation"] = cells["generation"].astype(str)
    best = cells.loc[cells.groupby(KEYS)["mean"].idxmax()].copy()
    best["best_of"] = best["generation"]
    best["generation"] = "best"
    return pd.concat([cells, best], ignore_index=True)


def our_metric(cell: pd.Series, metric: str) -> dict:
    """Our value of ``metric`` for one cell of :func:`cell_stats` (errors are 100 - accuracy)."""
    _, is_error = METRICS[metric]
    if not is_error:
        return dict(mean=cell["mean"], ci_low=cell["ci_low"], ci_high=cell["ci_high"])
    return dict(mean=100 - cell["mean"], ci_low=100 - cell["ci_high"], ci_high=100 - cell["ci_low"])


def verdict(mean: float, ci_low: float, ci_high: float, n: int, value: float, upper: float = math.nan,
            tolerance: float = 0.0) -> tuple[str, str]:
    """(verdict, why). Reproduced when the reported value (or range) meets our interval widened by
    ``tolerance``, or lies within ``tolerance`` of our mean. One seed gives no interval."""
    if n == 0 or mean is None or math.isnan(mean):
        return "not run", "no runs of this cell"
    if value is None or math.isnan(value):
        return "no reported value", ""
    hi_rep = value if math.isnan(upper) else upper
    gap = max(value - mean, mean - hi_rep, 0.0)  # distance from our mean to the reported value/range
    if n < 2 or math.isnan(ci_low):
        ok = gap <= tolerance
        return ("reproduced" if ok else "not reproduced"), f"n={n}: no interval from one seed; tolerance ±{tolerance:g}"
    ok = (value <= ci_high + tolerance and hi_rep >= ci_low - tolerance) or gap <= tolerance
    return ("reproduced" if ok else "not reproduced"), f"95% t-interval over n={n} seeds, tolerance ±{tolerance:g}"


def _gain(cells: pd.DataFrame, dataset: str, arch: str, method: str) -> dict | None:
    """Best generation of ``method`` minus the ce patriarch, with a Welch interval."""
    pick = lambda m, g: cells[(cells.dataset == dataset) & (cells.arch == arch) & (cells.method == m)
                              & (cells.generation == g)]
    a, b = pick(method, "best"), pick("ce", "0")
    if a.empty or b.empty:
        return None
    x, y = np.array(a.iloc[0]["values"]), np.array(b.iloc[0]["values"])
    mean = x.mean() - y.mean()
    if len(x) < 2 or len(y) < 2:
        return dict(mean=mean, ci_low=math.nan, ci_high=math.nan, n=min(len(x), len(y)))
    ci = st.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    return dict(mean=mean, ci_low=float(ci.low), ci_high=float(ci.high), n=min(len(x), len(y)))


def compare(runs: pd.DataFrame, reported: pd.DataFrame, tolerance: float = 0.0) -> pd.DataFrame:
    """One row per reported number: ours beside it, the difference and the verdict."""
    cells = cell_stats(runs) if len(runs) else pd.DataFrame(columns=KEYS + ["generation"])
    rows = []
    for _, r in reported.iterrows():
        row = r.to_dict()
        ours = None
        if not r["arch"]:
            row.update(verdict="not compared", why="the architecture is not named: no cell to compare with")
        elif r["metric"] == "top1_gain":
            ours = _gain(cells, r["dataset"], r["arch"], r["method"])
        else:
            match = cells[(cells.dataset == r["dataset"]) & (cells.arch == r["arch"])
                          & (cells.method == r["method"]) & (cells.generation == str(r["generation"]))]
            if len(match):
                c = match.iloc[0]
                ours = dict(our_metric(c, r["metric"]), n=int(c["n"]))
        if ours is not None:
            v, why = verdict(ours["mean"], ours["ci_low"], ours["ci_high"], ours["n"], r["value"], r["upper"],
                             tolerance)
            row.update(ours=ours["mean"], ci_low=ours["ci_low"], ci_high=ours["ci_high"], n=ours["n"],
                       diff=ours["mean"] - r["value"], verdict=v, why=why)
        elif "verdict" not in row:
            row.update(n=0, verdict="not run", why="no runs of this cell in runs.csv")
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("ours", "ci_low", "ci_high", "diff"):
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


def ensemble_cells(ensembles: pd.DataFrame) -> pd.DataFrame:
    """mean/std/n over seeds of ensemble top-1, per (dataset, arch, method) and column label:
    "ens 0-m" (all generations of the chain) and "ens last k"."""
    if ensembles is None or ensembles.empty:
        return pd.DataFrame(columns=KEYS + ["generation", "n", "mean", "std"])
    e = ensembles.copy()
    full = e[e.kind == "first"].groupby(KEYS)["size"].transform("max")
    e = e[(e.kind == "last") | (e["size"] == full.reindex(e.index))]
    e["generation"] = [f"ens 0-{s - 1}" if k == "first" else f"ens last {s}" for k, s in zip(e.kind, e["size"])]
    g = e.groupby(KEYS + ["generation"])["top1"]
    out = g.agg(n="count", mean="mean", std="std").reset_index()
    return out


def generation_tables(runs: pd.DataFrame, reported: pd.DataFrame | None = None,
                      tolerance: float = 0.0, ensembles: pd.DataFrame | None = None) -> list[dict]:
    """Per (dataset, arch): rows = methods, columns = generations 0..m, best, and the ensembles
    of generations; the best of each column is marked.

    Each cell carries the reported top-1 accuracy where one exists, the difference
    and the verdict; elsewhere the verdict is "no reported value".
    """
    reported = load_reported() if reported is None else reported
    ens = ensemble_cells(ensembles)
    cells = pd.concat([cell_stats(runs), ens.assign(ci_low=math.nan, ci_high=math.nan)], ignore_index=True)
    tables = []
    for (dataset, arch), part in cells.groupby(["dataset", "arch"]):
        plain = [g for g in part.generation.unique() if str(g).isdigit()]
        gens = sorted(plain, key=int) + ["best"] + sorted(g for g in part.generation.unique() if str(g).startswith("ens"))
        methods = sorted(part.method.unique())
        top = {g: part[part.generation == g]["mean"].max() for g in gens}
        rows = []
        for m in methods:
            cols = []
            for g in gens:
                c = part[(part.method == m) & (part.generation == g)]
                if c.empty:
                    cols.append(None)
                    continue
                c = c.iloc[0]
                paper = reported_accuracy(reported, dataset, arch, m, g)
                v, _ = verdict(c["mean"], c["ci_low"], c["ci_high"], int(c["n"]),
                               math.nan if paper is None else paper, tolerance=tolerance)
                cols.append(dict(mean=c["mean"], std=c["std"], n=int(c["n"]), best=bool(c["mean"] == top[g]),
                                 best_of=c.get("best_of") if g == "best" else None, reported=paper,
                                 diff=None if paper is None else c["mean"] - paper, verdict=v))
            rows.append(dict(method=m, cells=cols))
        tables.append(dict(dataset=dataset, arch=arch, generations=gens, rows=rows))
    return tables


def render(template: str, **context) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("tkd", "templates"), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda x, nd=2: "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"
    env.filters["tex"] = lambda s: str(s).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
    return env.get_template(template).render(**context)
