"""The paper's claims, tested on our runs: paired by seed, with a verdict that can say no.

The claims are data (``tkd/statistics/claims.csv``, one row each, with the paper's words, scope and
source). A claim compares a *subject* with a *reference* in one cell (dataset, arch) on one
quantity, in a claimed direction and, where the paper states one, a claimed size:

* a side is ``METHODS@GENERATION``. METHODS selects methods by their patriarch's loss and
  loss parameters (``loss=tsd``, ``loss=ce|ls|cp``, ``loss=tsd&eta=0.6``, ``loss=tsd&eta!=0.6``),
  or ``same`` (the subject's method); an ``each:`` prefix makes one row per matching method.
  GENERATION is ``0`` (the patriarch), ``student`` (the best of generations >= 1), ``best``
  (the best of all) or ``ensemble`` (the ensemble of all generations of the chain).
* Where a side chooses (several methods or generations), it chooses for each seed on half a
  of the test set over the *other* seeds, and both sides are scored on half b
  (:func:`tkd.statistics.selection.pick`; its standard error a bootstrap's, :func:`tkd.statistics.selection.bootstrap_se`): no value helped choose what it is scored on.
* The two sides are paired by seed; the per-seed differences are a :class:`~tkd.statistics.stats.Sample`
  (its sd floored at one test image's worth), the claim a :class:`~tkd.statistics.stats.Region`, and the
  whole table is judged as a family (:mod:`tkd.statistics.verdicts`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .. import terminal
from . import runs_table
from .cube import Cube
from ..errors import SpecError
from .selection import CHOOSE_ON, QUANTITIES, bootstrap_se, describe, pick, resolution
from .stats import Region, Sample, sample, seeds_text
from .verdicts import FDR, Family, Row, judge_table, label

__all__ = ["load_claims", "claims_table", "summary_text", "Criteria", "CLAIM_COLUMNS", "OUTPUT_COLUMNS", "RowCache",
           "rows_of"]

CLAIM_COLUMNS = ["claim", "words", "source", "dataset", "arch", "quantity", "subject", "reference", "direction",
                 "claimed_low", "claimed_high", "note"]
OPTIONAL_COLUMNS = {"delta": ""}  # a claim's own smallest effect worth claiming (empty: the config's)
# claims.csv: the row's scope and sides, the raw (row alone, 95 %) figures, then the family's
OUTPUT_COLUMNS = ["claim", "dataset", "arch", "method", "metric", "claimed", "delta", "paper_size", "subject", "reference",
                  "estimate", "sd", "n", "ci_low", "ci_high", "raw_verdict", "p_supported", "p_against", "level",
                  "family_ci_low", "family_ci_high", "direction", "size", "verdict", "label", "seeds_needed",
                  "power_now", "why", "shape", "words", "source", "note"]


@dataclass(frozen=True)
class Criteria:
    """How the claims are judged (the config's ``paper`` section): the tolerance around a claimed
    size, the family's false-verdict rate, and the smallest effect worth claiming (delta) of a
    direction claim: in points for accuracies (None: the tolerance), and for a probability."""

    tolerance: float = 0.5
    fdr: float = FDR
    delta: float | None = None
    delta_probability: float = 0.025
    futility: float = 0.0  # seeds in waves: a row whose chance of a decision by the most seeds is below it stops

    @classmethod
    def of(cls, paper: dict) -> "Criteria":
        delta = paper.get("delta", {})
        return cls(paper["tolerance"], paper["fdr"], delta.get("points"), delta.get("probability", 0.025),
                   paper.get("futility", 0.0))

    def delta_for(self, claim: pd.Series) -> float:
        """The claim's own delta where it states one, else the config's for its quantity."""
        own = claim.get("delta", "")
        if isinstance(own, str) and own.strip():
            return float(own)
        if isinstance(own, float) and not math.isnan(own):
            return own
        if not QUANTITIES[claim["quantity"]].accuracy:
            return self.delta_probability
        return self.tolerance if self.delta is None else self.delta


GENERATIONS = ("0", "student", "best", "ensemble")


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """The claims; the packaged ``claims.csv`` unless ``path`` is given. Checked as data."""
    from ..grid.config import data_file
    from ..files import read_csv

    source = data_file(str(path)) if path else Path(str(resources.files("tkd.statistics") / "claims.csv"))
    df = read_csv(source, what="claims file", dtype=str, keep_default_na=False)
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise SpecError(f"{source}: column {missing[0]!r} is missing; expected {CLAIM_COLUMNS}")
    for c, default in OPTIONAL_COLUMNS.items():
        if c not in df.columns:
            df[c] = default
    for i, row in df.iterrows():
        where = f"{source}: claim {row['claim']} (row {i + 2})"
        if row["quantity"] not in QUANTITIES:
            raise SpecError(f"{where}: quantity {row['quantity']!r} is unknown; choose one of {sorted(QUANTITIES)}")
        if row["direction"] not in ("<", ">"):
            raise SpecError(f"{where}: direction {row['direction']!r} must be < or >")
        for side in ("subject", "reference"):
            try:
                Side.parse(row[side])
            except ValueError as err:
                raise SpecError(f"{where}: {side}: {err}") from None
        try:
            if row["delta"].strip() and not float(row["delta"]) >= 0:
                raise ValueError
        except ValueError:
            raise SpecError(f"{where}: delta {row['delta']!r} must be a number >= 0 (or empty)") from None
    for c in ("claimed_low", "claimed_high"):
        df[c] = [float(v) if v else math.nan for v in df[c]]
    return df


@dataclass(frozen=True)
class Side:
    """One side of a comparison: which methods, which generation, one row per method or not."""

    conditions: tuple  # ((key, negated, values), ...); empty with same
    generation: str
    each: bool = False
    same: bool = False

    @classmethod
    def parse(cls, text: str) -> "Side":
        each = text.startswith("each:")
        methods, sep, generation = text.removeprefix("each:").partition("@")
        if not sep or generation not in GENERATIONS:
            raise ValueError(f"{text!r}: expected METHODS@GENERATION, GENERATION one of {list(GENERATIONS)}")
        if methods == "same":
            return cls((), generation, each, same=True)
        conditions = []
        for cond in methods.split("&"):
            negated = "!=" in cond
            key, _, values = cond.partition("!=" if negated else "=")
            if not key or not values:
                raise ValueError(f"{text!r}: {cond!r} is not KEY=VALUE[|VALUE] or KEY!=VALUE")
            conditions.append((key, negated, tuple(values.split("|"))))
        return cls(tuple(conditions), generation, each)

    def methods(self, info: dict[str, dict]) -> list[str]:
        """The methods of one cell whose patriarch matches (``info``: method -> its patriarch's
        loss and loss parameters, :func:`method_info`)."""
        def hit(params: dict, key: str, values: tuple) -> bool:
            return any(_same(params.get(key), w) for w in values)

        return sorted(m for m, params in info.items()
                      if all(hit(params, key, values) != negated for key, negated, values in self.conditions))


def _same(value, wanted: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return str(value) == wanted


def method_info(runs: pd.DataFrame) -> dict[tuple, dict[str, dict]]:
    """Per (dataset, arch) cell, per method: its patriarch's loss and loss parameters (the
    ``spec_*`` columns of generation 0, without the prefix)."""
    patriarchs = runs[runs.generation == 0]
    spec = [c for c in patriarchs.columns if c.startswith("spec_")]
    info: dict[tuple, dict[str, dict]] = {}
    for (dataset, arch, method), row in patriarchs.groupby(["dataset", "arch", "method"])[spec].first().iterrows():
        info.setdefault((dataset, arch), {})[method] = {c.removeprefix("spec_"): v for c, v in row.items()}
    return info


def _paper_size(direction: str, low: float, high: float) -> str:
    if math.isnan(low):
        return ""
    if low == high:
        return f"{low:+g}"
    if math.isinf(high):
        return f">= {low:+g}"
    return f"{low:+g} to {high:+g}"


def region_of(claim: pd.Series, criteria: Criteria) -> Region:
    claimed = None if math.isnan(claim["claimed_low"]) else (claim["claimed_low"], claim["claimed_high"])
    return Region.effect(claim["direction"], claimed, criteria.tolerance, criteria.delta_for(claim))


def _scopes(claim: pd.Series, cells: list[tuple]) -> list[tuple]:
    want = [(d, a) for d, a in cells if claim["dataset"] in ("*", d) and claim["arch"] in ("*", a)]
    return want or [(claim["dataset"], claim["arch"])]


def _compare(claim, cube: Cube, info, subject_methods) -> tuple[dict, Sample | None]:
    """One comparison: its sides' labels and the per-seed differences as a sample (None: not run)."""
    subject, reference = Side.parse(claim["subject"]), Side.parse(claim["reference"])
    ref_methods = subject_methods if reference.same else reference.methods(info)
    needs = sorted(set(subject_methods) | set(ref_methods))  # the chains this row needs more seeds of
    if not subject_methods or not ref_methods:
        side = "subject" if not subject_methods else "reference"
        return dict(why=f"no method of the grid matches the {side} {claim[side]!r}"), None
    s_groups = cube.groups(subject_methods, subject.generation)
    r_groups = cube.groups(ref_methods, reference.generation)
    if not s_groups or not r_groups:
        return dict(why="no finished runs of one side", needs=needs), None
    halves = len(s_groups) > 1 or len(r_groups) > 1
    (s, s_choices), (r, r_choices) = (pick(cube, g, claim["quantity"], halves) for g in (s_groups, r_groups))
    both = ~np.isnan(s) & ~np.isnan(r)
    out = dict(needs=needs)
    for name, groups, choices in (("subject", s_groups, s_choices), ("reference", r_groups, r_choices)):
        used = [c for choice in choices for c in (choice[both] if both.any() else choice[choice >= 0])]
        out[name] = describe([cube.label(groups[c]) for c in used]) if used else ""
    if not both.any():
        why = ("no transfer probes in these results (transfer.enabled: false?)" if claim["quantity"] == "probe_top1"
               else f"no runs of both sides share a seed, or the runs have no {claim['quantity']} column")
        return dict(out, why=why), None
    if halves:
        out["note_choice"] = ("best cross-fitted: chosen for each seed on the other seeds' test half a to score its "
                              "half b, and on half b to score half a")
    floor = max(resolution(cube, s_groups, claim["quantity"]), resolution(cube, r_groups, claim["quantity"]))
    se = bootstrap_se(cube, [s_groups, r_groups], claim["quantity"], halves) if halves else None
    return out, sample(s[both] - r[both], floor, se)


@dataclass
class ClaimRow(Row):
    """A row of the claims table: what the family judges (:class:`~tkd.statistics.verdicts.Row`) and its
    labels (claim, cell, sides, the chains it needs, ...)."""

    labels: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return self.labels["key"]

    @property
    def cell(self) -> tuple[str, str]:
        return self.labels["dataset"], self.labels["arch"]

    @property
    def needs(self) -> list[str]:
        """The methods whose chains this row compares (more seeds of them can decide it)."""
        return self.labels.get("needs", [])


def measures(claims: pd.DataFrame) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """The columns the claims read, each with the range of its values: of the runs table (the
    quantities, and the top-1 of each half that a side chooses on), and of the transfer table."""
    runs, transfer = {c: QUANTITIES["top1"].range for c in QUANTITIES["top1"].columns()}, {}
    for name in sorted(set(claims.quantity)):
        q = QUANTITIES[name]
        (runs if q.in_runs else transfer).update({c: q.range for c in q.columns()})
    assert CHOOSE_ON == QUANTITIES["top1"].column  # the choice reads top-1, checked above
    return runs, transfer


class RowCache(dict):
    """The rows of cells already computed, by cell and the runs of it present, for a caller that
    judges many subsets of one runs table with the same claims and criteria (the waves, the
    planner). ``checked``: the whole table passed :func:`tkd.statistics.runs_table.check`, so its subsets need
    not be checked again."""

    checked: bool = False


def rows_of(runs, ensembles, transfer, claims, criteria: Criteria, cache: RowCache | None = None) -> list[ClaimRow]:
    """Every row of the table (one per claim and cell, and per method for ``each:`` claims): its
    labels, its sample of per-seed differences (None: not run) and the region its claim makes.
    ``runs`` and ``transfer`` are checked first (:func:`tkd.statistics.runs_table.check`): keys, and the
    values the claims read. ``cache``: a dict kept by a caller that judges many subsets of one runs
    table with the same claims and criteria (the waves, the planner): a cell's rows are computed once
    per set of its runs present."""
    in_runs, in_transfer = measures(claims)
    if cache is None or not cache.checked:
        runs = runs_table.check(runs, measures=in_runs)
    if transfer is not None and len(transfer):
        for column, (low, high) in in_transfer.items():
            runs_table.check_values(transfer, column, low, high, "transfer table")
    parts = dict(iter(runs.groupby(["dataset", "arch"], sort=True))) if len(runs) else {}
    cells = sorted(parts)
    ens_by_cell = {} if ensembles is None or ensembles.empty else \
        {key: part for key, part in ensembles.groupby(["dataset", "arch"])}
    probes = {} if transfer is None or transfer.empty else \
        {key: part for key, part in transfer.groupby(["dataset", "arch"])}
    parsed = _parsed(claims, criteria, cache)
    per_cell = {}
    for key, part in parts.items():
        ens, probe = ens_by_cell.get(key), probes.get(key)
        seen = None
        if cache is not None and ens is None and probe is None:
            seen = (key, frozenset(zip(part.method.to_numpy(), part.seed.to_numpy(), part.generation.to_numpy())))
            if seen in cache:
                per_cell[key] = cache[seen]
                continue
        per_cell[key] = _cell_rows(parsed, key, cells, Cube.of(part, ens, probe), _info(part, key, cache))
        if seen is not None:
            cache[seen] = per_cell[key]
    rows = []
    for number, claim, region, base in parsed:
        for dataset, arch in _scopes(claim, cells):
            if (dataset, arch) in per_cell:
                rows += per_cell[(dataset, arch)][number]
            else:
                rows.append(ClaimRow(None, region, labels=dict(base, dataset=dataset, arch=arch, key=(
                    number, dataset, arch, ()), why="this dataset / arch is not in the runs")))
    return rows


def _parsed(claims: pd.DataFrame, criteria: Criteria, cache: RowCache | None) -> list[tuple]:
    """Each claim with its number, region and labels (once per claims table where a cache is kept)."""
    key = ("parsed", id(claims), criteria)
    if cache is not None and key in cache:
        return cache[key]
    parsed = [(number, claim, region_of(claim, criteria), dict(
        claim=claim["claim"], metric=claim["quantity"], words=claim["words"], source=claim["source"],
        note=claim["note"], paper_size=_paper_size(claim["direction"], claim["claimed_low"], claim["claimed_high"])))
        for number, claim in enumerate(claims.to_dict("records"))]  # dicts: read per row and cell, cheaply
    if cache is not None:
        cache[key] = parsed
        cache[("claims", id(claims))] = claims  # kept alive: its id stays its own while the cache lives
    return parsed


def _info(part: pd.DataFrame, cell: tuple, cache: RowCache | None) -> dict[str, dict]:
    """:func:`method_info` of one cell's runs; once per set of methods where a cache is kept (a
    method's patriarch is the same in every subset of one table)."""
    if cache is None:
        return method_info(part).get(cell, {})
    key = ("info", cell, frozenset(part.method.unique()))
    if key not in cache:
        cache[key] = method_info(part).get(cell, {})
    return cache[key]


def _cell_rows(parsed: list, cell: tuple, cells: list, cube: Cube, info: dict) -> dict[int, list[ClaimRow]]:
    """One cell's rows of every claim whose scope takes it in (claim number -> its rows)."""
    dataset, arch = cell
    out = {}
    for number, claim, region, base in parsed:
        if cell not in _scopes(claim, cells):
            continue
        subject = Side.parse(claim["subject"])
        matched = subject.methods(info)
        out[number] = []
        for methods in ([[m] for m in matched] if subject.each and matched else [matched]):
            labels, smp = _compare(claim, cube, info, methods)
            method = methods[0] if subject.each and matched else ""
            out[number].append(ClaimRow(smp, region, labels=dict(base, dataset=dataset, arch=arch, method=method,
                                                                 key=(number, dataset, arch, tuple(methods)),
                                                                 **labels)))
    return out


def claims_table(runs: pd.DataFrame, ensembles: pd.DataFrame | None = None, transfer: pd.DataFrame | None = None,
                 claims: pd.DataFrame | None = None, criteria: Criteria = Criteria(),
                 family_out: list | None = None, plan: bool = True, cache: RowCache | None = None) -> pd.DataFrame:
    """One row per claim and cell (and per method for ``each:`` claims), tidy, judged as a family
    (:mod:`tkd.statistics.verdicts`). ``family_out``: a list that receives the :class:`~tkd.statistics.verdicts.Family`;
    ``plan``: add seeds needed and power (simulations of many tables leave them out); ``cache``: see
    :func:`rows_of`."""
    claims = load_claims() if claims is None else claims
    table, family = finish_table(rows_of(runs, ensembles, transfer, claims, criteria, cache), criteria.fdr, plan)
    if family_out is not None:
        family_out.append(family)
    return table


def finish_table(rows: list[ClaimRow], fdr: float = FDR, plan: bool = True) -> tuple[pd.DataFrame, Family]:
    """The rows judged as a family, as the tidy table (numbers stay numbers: ``seeds_needed`` is
    a float, inf beyond :data:`~tkd.statistics.stats.MAX_SEEDS`, rendered by :func:`tkd.statistics.stats.seeds_text`)."""
    judged, family = judge_table(rows, fdr, plan)
    out = []
    for claim_row, verdict in zip(rows, judged):
        row = dict(claim_row.labels)
        why = " ".join(filter(None, [verdict.pop("why", None) or row.pop("why", ""), row.pop("note_choice", "")]))
        if verdict.get("shape"):
            why += f"; its error may exceed its level: {verdict['shape']}"
        row.update(verdict, claimed=claim_row.region.shown(), why=why.replace(" best cross", "; best cross"))
        row["label"] = label(row["verdict"], row.get("direction", ""), row.get("delta"))
        out.append(row)
    table = pd.DataFrame(out)
    for c in OUTPUT_COLUMNS:
        if c not in table:
            table[c] = math.nan
    return table[OUTPUT_COLUMNS], family


NOT_IN_GRID = "this dataset / arch is not in the runs"
METRIC_NAMES = {"top1": "top-1", "top5": "top-5", "top1_err": "top-1 err", "top5_err": "top-5 err",
                "mean_top1_prob": "confidence", "probe_top1": "probe top-1"}
WIDE_NOTES = {"one seed": "one seed: no spread yet, so no interval and no seeds needed (?)",
              "few seeds": "few seeds: a t-interval of four seeds or fewer is wide",
              "cross-fit": "cross-fit: a best generation chosen on other seeds, its standard error a bootstrap's "
                              "(wider where generations are near-equal)"}


def summary_text(table: pd.DataFrame, caption: str = "", width: int = terminal.WIDTH) -> str:
    """The claims table as a terminal reads it, within ``width`` columns: the rows of each cell
    under the cell's name (family-level interval and verdict; *seeds*: for 80 % power; *note*: why
    an interval is wide), then the rows that cannot run here folded into a line or two, then
    ``caption``. Every column is in claims.csv."""
    runnable = table[table.n.fillna(0) > 0]
    waves = "wave" in table and table.wave.notna().any()
    blocks = [_cell_block(dataset, arch, rows, waves)
              for (dataset, arch), rows in runnable.groupby(["dataset", "arch"], sort=False)]
    prose = _folded(table[table.n.fillna(0) == 0])
    if blocks:
        prose.append("interval: the family's (see the caption); seeds: the seeds a row needs for 80 % power"
                     + ("; wave: the look that decided it (blank: none yet)" if waves else "") + ".")
    prose += [WIDE_NOTES[note] + "." for note in sorted(set().union(*(notes for _, notes in blocks)))]
    prose += [caption] if caption else []
    tables = "\n\n".join(text for text, _ in blocks) or "no claim row has runs to compare yet"
    return "\n\n".join([tables] + [terminal.prose(line, width) for line in prose])


def _cell_block(dataset: str, arch: str, rows: pd.DataFrame, waves: bool) -> tuple[str, set]:
    """One cell's rows under its name, and the notes that say why some intervals are wide."""
    shown = pd.DataFrame({
        "claim": [_claim_label(r) for r in rows.itertuples()],
        "metric": rows.metric.map(lambda m: METRIC_NAMES.get(m, m)),
        "claimed": rows.claimed.map(lambda c: str(c).replace(" to ", "..").replace("+", "")),
        "estimate [interval]": ["–" if pd.isna(x) else f"{x:+.2f}" + ("" if pd.isna(lo) else f" [{lo:.2f}, {hi:.2f}]")
                                for x, lo, hi in zip(rows.estimate, rows.family_ci_low, rows.family_ci_high)],
        "n": rows.n.map(lambda x: f"{int(x)}"),
        "verdict": rows.label.map(_short_label),
        "seeds": ["?" if pd.isna(x) else seeds_text(x, n) for x, n in zip(rows.seeds_needed, rows.n.fillna(0))],
        "note": [_wide(r) for r in rows.itertuples()]})
    if waves:
        shown.insert(6, "wave", rows.wave.map(lambda w: "" if pd.isna(w) else f"{w:g}"))
    title = f"{dataset} / {arch}"
    if shown.n.nunique() == 1:  # one number of seeds: said once, in the title
        title += f" ({_seeds(rows.n.iloc[0])})"
        shown = shown.drop(columns="n")
    notes = set(shown.note) - {""}
    if not notes:
        shown = shown.drop(columns="note")
    return f"{title}\n\n" + terminal.table(shown), notes


def _folded(rows: pd.DataFrame) -> list[str]:
    """The rows with no runs to compare, a sentence for those outside the grid and one for the rest."""
    absent, idle = rows[rows.why == NOT_IN_GRID], rows[rows.why != NOT_IN_GRID]
    out = []
    if len(absent):
        out.append(f"{_rows(len(absent))} need{'s' if len(absent) == 1 else ''} data sets or architectures "
                   "this grid does not run: "
                   + ", ".join(f"{c} ({_scope(part)})" for c, part in absent.groupby("claim", sort=False)) + ".")
    if len(idle):
        out.append(f"{_rows(len(idle))} ha{'s' if len(idle) == 1 else 've'} nothing to compare here: "
                   + "; ".join(f"{claim} {METRIC_NAMES.get(metric, metric)} in {', '.join(part.arch)}: {why}"
                               for (claim, metric, why), part in idle.groupby(["claim", "metric", "why"], sort=False))
                   + ".")
    return out


def _claim_label(row) -> str:
    """The claim, and for a row of one method of an ``each:`` claim, its method."""
    return f"{row.claim} {row.method}" if isinstance(row.method, str) and row.method else row.claim


def _seeds(n: float) -> str:
    return f"{int(n)} seed{'' if n == 1 else 's'}"


def _rows(count: int) -> str:
    return f"{count} claim row{'' if count == 1 else 's'}"


def _short_label(label: str) -> str:
    return label.replace("negligible (positive, < ", "negligible (>0, <").replace("not run", "–")


def _scope(rows: pd.DataFrame) -> str:
    cells = sorted({a if d == "*" or a != "*" else d for d, a in zip(rows.dataset, rows.arch)})
    return ", ".join(cells)


def _wide(row) -> str:
    """Why a row's interval is wide, in a word ("" where it is not): a half-width beyond twice the
    smallest effect worth claiming (0.5 points where the row has none)."""
    if pd.isna(row.family_ci_low):
        return "one seed" if row.n == 1 else ""
    delta = row.delta if isinstance(row.delta, float) and not math.isnan(row.delta) else 0.5
    if (row.family_ci_high - row.family_ci_low) / 2 <= 2 * delta:
        return ""
    if row.n <= 4:
        return "few seeds"
    return "cross-fit" if "cross-fitted" in str(row.why) else ""
