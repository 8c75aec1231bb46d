"""How the claims table behaves on simulated paper grids whose truth is known, in both noise
regimes of tkd.statistics.simulate: the family's error on pure noise, the bias of choosing the best
generation and the intervals for it, and the power to find real effects. Prints the tables of docs/analyses.md.

    python benchmarks/calibration.py               # 400 null grids per regime, about 3 minutes
    python benchmarks/calibration.py --grids 100   # quicker, coarser
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tkd.statistics import simulate  # noqa: E402
from tkd.statistics.claims import Criteria, claims_table, load_claims  # noqa: E402
from tkd.grid.config import load  # noqa: E402
from tkd.statistics.selection import best_generation, best_on_test  # noqa: E402
from tkd.statistics.stats import interval, sample, t_interval  # noqa: E402

def holds(config, size, effect=2.0):
    """The known-answer truth of tests/test_verdicts.py: tkd.statistics.simulate.paper_holds, tolerant
    patriarchs ``effect`` below the one-hot one (and 0.2 less confident), the tolerant chain peaking
    ``size`` above the baselines' best student."""
    return simulate.paper_holds(config["methods"], effect=effect, size=size, confidence_effect=0.2)


def grids(config, claims, truth, noise, n, seeds=3, conf=None, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    return pd.concat([claims_table(simulate.grid_runs(config, truth, noise, rng, conf, seeds=list(range(seeds))),
                                   claims=claims, plan=False).assign(grid=i) for i in range(n)], ignore_index=True)


def _one_family_supported(rows: pd.DataFrame, fdr: float = 0.05) -> bool:
    """The alternative not taken: one Benjamini-Hochberg over the p-values of both decisions."""
    from scipy.stats import false_discovery_control

    p = np.concatenate([rows.p_supported.to_numpy(), rows.p_against.to_numpy()])
    rejected = false_discovery_control(p, method="bh") <= fdr  # 2m hypotheses: one row alone is its 95 %
    return bool(rejected[: len(rows)].any())


def null_rows(config, claims, n):
    out = []
    for regime, noise in simulate.REGIMES.items():
        t = grids(config, claims, simulate.flat(72.0), noise, n, rng_seed=11)
        d = t[t.n >= 3]
        direction = d.claimed.isin(["> 0", "< 0"])
        con = (d.verdict == "contradicted").groupby(d.grid).sum()  # direction rows: false; sized rows: true here
        false_con = ((d.verdict == "contradicted") & direction).groupby(d.grid).sum() / con.clip(lower=1)
        any_of = lambda column, word, rows=d: rows.groupby("grid")[column].apply(lambda v: (v == word).any()).mean()
        out.append({"regime": regime, "grids": n, "rows decided per table": int(d.groupby("grid").size().median()),
                    "P(any supported), family": any_of("verdict", "supported"),
                    "P(any supported), one BH over both kinds": d.groupby("grid").apply(
                        _one_family_supported, include_groups=False).mean(),
                    "P(any supported), row alone": any_of("raw_verdict", "supported"),
                    "false share of contradicted (FDR)": false_con.mean(),
                    "P(any direction row contradicted)": any_of("verdict", "contradicted", d[direction]),
                    "mean C2 estimate": t[t.claim == "C2"].estimate.mean()})
    return pd.DataFrame(out)


def selection_rows(n=1000):
    out = []
    methods = {"ce": {"loss": "ce"}}
    for regime, noise in simulate.REGIMES.items():
        for seeds in (1, 3, 5, 10):
            rng = np.random.default_rng(0)
            on_test, half_same, crossed = [], [], []
            for _ in range(n):
                keys = [dict(dataset="cifar100", arch="a", method="ce", seed=s, generation=g)
                        for s in range(seeds) for g in range(6)]
                runs = simulate.simulate(keys, methods, simulate.flat(72.0), noise, rng)
                on_test.append(best_on_test(runs)[1].test_top1.to_numpy())
                gen = runs.groupby("generation").test_top1_a.mean().idxmax()
                half_same.append(runs[runs.generation == gen].test_top1_b.to_numpy())
                if seeds > 1:
                    values, se, _ = best_generation(runs)
                    crossed.append((values, se))
            row = {"regime": regime, "seeds": seeds,
                   "best on test (paper)": np.mean([v.mean() for v in on_test]) - 72,
                   "half a -> half b, same seed": np.mean([v.mean() for v in half_same]) - 72}
            if crossed:
                row["cross-fitted"] = np.mean([v.mean() for v, _ in crossed]) - 72
                row["coverage, usual se"] = np.mean([lo <= 72 <= hi for lo, hi in (t_interval(v) for v, _ in crossed)])
                row["coverage, tkd's se"] = np.mean([lo <= 72 <= hi for lo, hi in
                                                     (interval(sample(v, se=se)) for v, se in crossed)])
            out.append(row)
    return pd.DataFrame(out)


def _crossfit_means(a: np.ndarray, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The leave-one-seed-out cross-fitted mean (top-1) for each set ``idx`` (sets × seeds, seed
    indices) of the seeds × generations halves ``a``, ``b``: a copy of a seed never helps choose for
    itself. With ``idx`` the seeds themselves and at most tkd.statistics.selection.FOLDS seeds, it is
    tkd.statistics.selection.pick's own value."""
    return _crossfit_sets(a[idx], b[idx], (idx[:, :, None] != idx[:, None, :]).astype(float))


def _crossfit_sets(A: np.ndarray, B: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The cross-fitted mean of each set of seeds (halves ``A``, ``B``: sets × n × generations),
    ``others[r, i, j]`` saying whether seed j of set r helps choose for seed i."""
    count = others.sum(2)[..., None]

    def scored(choose, score):
        with np.errstate(invalid="ignore", divide="ignore"):
            chosen = np.einsum("rij,rjg->rig", others, choose) / count
        return np.take_along_axis(score, chosen.argmax(2)[..., None], 2)[..., 0]

    return ((scored(A, B) + scored(B, A)) / 2).mean(1)


def _loo_jackknife(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The earlier construction, for comparison: the leave-one-seed-out cross-fitted mean and its
    jackknife standard error (each seed left out in turn, the others choosing again)."""
    n = len(a)
    estimate = _crossfit_means(a, b, np.arange(n)[None])[0]
    replicates = _crossfit_means(a, b, np.array([np.delete(np.arange(n), j) for j in range(n)]))
    return estimate, float(np.sqrt((n - 1) / n * ((replicates - replicates.mean()) ** 2).sum()))


def interval_rows(n=400, seeds_list=(5, 10, 20, 40), regimes=None):
    """A best generation (six generations of one chain) at 5-40 seeds: tkd's estimate (cross-fitted
    over folds of seeds and test halves) and its bootstrap standard error against the earlier
    leave-one-seed-out estimate with the jackknife's, and the usual t-interval of tkd's per-seed
    values. Truth: generations equal, or one ahead by 0.3 or 1.0 points; the estimand is the best
    generation's true top-1, so a choice that misses counts against coverage (bias included).
    *spread*: the sd of the estimate over the grids; *se / spread*: the mean standard error over it."""
    from scipy.stats import t as student_t

    from tkd.statistics.cube import Cube

    out = []
    for regime, noise in simulate.REGIMES.items():
        if regimes and regime not in regimes:
            continue
        for ahead in (0.0, 0.3, 1.0):
            for seeds in seeds_list:
                rng = np.random.default_rng(1)
                keys = [dict(dataset="cifar100", arch="a", method="ce", seed=s, generation=g)
                        for s in range(seeds) for g in range(6)]
                quantile, truth = student_t.ppf(0.975, seeds - 1), 72.0 + ahead
                rows = []
                for _ in range(n):
                    runs = simulate.simulate(keys, {"ce": {"loss": "ce"}},
                                             lambda run: 72.0 + ahead * (run["generation"] == 3), noise, rng)
                    values, se, _ = best_generation(runs)
                    cube = Cube.of(runs)
                    groups = cube.groups(cube.methods, "best")
                    old, jack = _loo_jackknife(cube.matrix(groups, "test_top1_a"), cube.matrix(groups, "test_top1_b"))
                    rows.append((values.mean(), se, values.std(ddof=1) / np.sqrt(seeds), old, jack))
                est, se, usual, old, jack = np.array(rows).T
                covered = lambda centre, error: np.mean(np.abs(centre - truth) <= quantile * error)  # noqa: E731
                out.append({"regime": regime, "best ahead by": ahead, "seeds": seeds, "grids": n,
                            "bias": est.mean() - truth, "spread": est.std(ddof=1),
                            "se / spread": se.mean() / est.std(ddof=1), "coverage": covered(est, se),
                            "coverage, usual se": covered(est, usual), "half-width": quantile * se.mean(),
                            "earlier: bias": old.mean() - truth, "earlier: spread": old.std(ddof=1),
                            "earlier: se / spread": jack.mean() / old.std(ddof=1),
                            "earlier: coverage": covered(old, jack)})
    return pd.DataFrame(out)


def best_rows(config, claims, n, seeds_list=(5, 10, 20, 40), regimes=None):
    """Null paper grids (every chain equal, generations 0-5) at 5-40 seeds, the fixed design: for
    each best-generation row (C2, C3, C4), the mean reported standard error against the spread of
    the estimate over the grids, and the share decided not reproduced; P(any supported)."""
    out = []
    subset = claims[claims.claim.isin(["C2", "C3", "C4"])]
    for regime, noise in simulate.REGIMES.items():
        if regimes and regime not in regimes:
            continue
        for seeds in seeds_list:
            t = grids(config, subset, simulate.flat(72.0), noise, n, seeds=seeds, rng_seed=37)
            t = t.assign(row=t.groupby("grid").cumcount())  # the same row of every grid
            t = t[t.claimed.isin(["> 0", "< 0"])]
            row = {"regime": regime, "seeds": seeds, "grids": n}
            for claim, part in t.groupby("claim"):
                se = part.sd / np.sqrt(part.n)
                spread = part.groupby("row").estimate.std(ddof=1).mean()
                row[f"{claim} se"] = se.mean()
                row[f"{claim} se / spread"] = se.mean() / spread
                row[f"{claim} not reproduced"] = part.verdict.isin(["negligible", "contradicted"]).mean()
            row["P(any supported)"] = t.groupby("grid").verdict.apply(lambda v: (v == "supported").any()).mean()
            out.append(row)
    return pd.DataFrame(out)


def _centred(rng, law, shape):
    """Draws of mean 0 and sd 1: Gaussian, or a centred lognormal of log-sd ``law``."""
    if law is None:
        return rng.standard_normal(shape)
    x = np.exp(law * rng.standard_normal(shape)) - np.exp(law ** 2 / 2)
    return x / np.sqrt((np.exp(law ** 2) - 1) * np.exp(law ** 2))


def skew_rows(n=4000, tables=400):
    """One row at exactly delta (0.5, sd 0.5) with skewed per-seed differences: how often "against"
    (not reproduced) is decided at a nominal 2.5 % (fixed design at 5, 10, 20 seeds; waves at
    4, 5, ..., 10 seeds with the default boundary), how often the row's own shape check marks it and
    the error among marked and unmarked rows, and how often a table of 30 such rows is marked."""
    from tkd.statistics.sequential import Design, SequentialTrack, evidence
    from tkd.statistics.stats import Region, p_values, sample, table_shape

    region = Region.effect(">", delta=0.5)
    design = Design(tuple(range(4, 11)), 0.25)
    out = []
    for law in (None, 0.5, 1.0):
        rng = np.random.default_rng(5)
        for seeds in (5, 10, 20, "waves 4..10"):
            m = design.looks[-1] if isinstance(seeds, str) else seeds
            x = 0.5 + 0.5 * _centred(rng, law, (n, m))
            if isinstance(seeds, str):
                errs = []
                for v in x:
                    looks = [sample(v[:k]) for k in design.looks]
                    track = SequentialTrack.of(looks, evidence(looks, region), design)
                    errs.append(track.p[1] <= 0.025)
                out.append({"per-seed law": "Gaussian" if law is None else f"lognormal, log-sd {law}", "seeds": seeds,
                            "rows": n, "error": np.mean(errs)})
                continue
            rows = [sample(v) for v in x]
            err = np.array([p_values(r, region)[1] <= 0.025 for r in rows])
            marked = np.array([bool(r.shape) for r in rows])
            families = [table_shape(rows[i * 30:(i + 1) * 30]) for i in range(min(tables, n // 30))]
            out.append({"per-seed law": "Gaussian" if law is None else f"lognormal, log-sd {law}", "seeds": seeds,
                        "rows": n, "error": err.mean(), "row marked": marked.mean(),
                        "error, marked rows": err[marked].mean() if marked.any() else np.nan,
                        "error, unmarked rows": err[~marked].mean(),
                        "table of 30 marked": np.mean([bool(f) for f in families])})
    return pd.DataFrame(out)


def power_rows(config, claims, n):
    out = []
    c3 = claims[claims.claim == "C3"]
    scenarios = [("every claim holds by 2 points", *holds(config, 2.0), claims, 5),
                 ("C3: +1.7 (claimed 1.2-2.2)", *holds(config, 1.7), c3, 10),
                 ("C3: +0.5 (claimed 1.2-2.2)", *holds(config, 0.5), c3, 5),
                 ("C3: +0.5 (claimed 1.2-2.2)", *holds(config, 0.5), c3, 10)]
    for regime, noise in simulate.REGIMES.items():
        for name, truth, conf, subset, seeds in scenarios:
            t = grids(config, subset, truth, noise, n, seeds=seeds, conf=conf, rng_seed=2)
            d = t[t.n >= 3]
            sized = d[~d.claimed.isin(["> 0", "< 0"])]
            out.append({"regime": regime, "scenario": name, "seeds": seeds,
                        "rows supported": (d.verdict == "supported").mean(),
                        "direction rows supported": (d[d.claimed.isin(["> 0", "< 0"])].verdict == "supported").mean(),
                        "sized rows supported": (sized.verdict == "supported").mean(),
                        "sized: consistent / smaller / undetermined": " / ".join(
                            f"{(sized['size'] == s).mean():.2f}" for s in ("consistent", "smaller", "undetermined"))})
    return pd.DataFrame(out)


def sequential_rows(config, claims, n, waves):
    """Null and paper-holds grids run through their waves as the workflow runs them
    (tkd.statistics.wave_claims.emulate): the family's error (group-sequential; the fixed verdict re-run at
    every look; the fixed design at the most seeds), its power, and the training runs the waves made
    against the fixed design's at the most seeds."""
    from tkd import grid
    from tkd.grid.waves import looks as cell_looks
    from tkd.statistics.sequential import designs
    from tkd.statistics.wave_claims import emulate, samples_by_look
    from tkd.statistics.verdicts import judge_table

    seq = dict(config, grid=[dict(b, seeds=dict(waves)) for b in config["grid"]])
    cells, criteria = designs(cell_looks(seq), config["paper"]["boundary"]), Criteria.of(config["paper"])
    looks = len(next(iter(cells.values())).looks)
    fixed_runs = len(grid.runs(seq))  # the fixed design at the most seeds
    top1, conf = simulate.paper_holds(config["methods"], effect=1.0, size=1.72, confidence_effect=0.05)
    out = []
    for regime, noise in simulate.REGIMES.items():
        for scenario, truth, c in (("nothing holds", simulate.flat(72.0), None), ("the paper holds", top1, conf)):
            rng = np.random.default_rng(23)
            seq_any, naive_any, once_any, seq_power, once_power, made = [], [], [], [], [], []
            for _ in range(n):
                runs = simulate.grid_runs(seq, truth, noise, rng, c)
                ran = emulate(seq, runs, claims, criteria, cells)
                table = ran.table
                looked = samples_by_look(runs, None, None, claims, criteria, cells, looks)
                fixed = [[r["verdict"] for r in judge_table(at_look, plan=False)[0]] for at_look in looked]
                tested = table.n.gt(0)
                seq_any.append((table.verdict == "supported").any())
                naive_any.append(any("supported" in f for f in fixed))
                once_any.append("supported" in fixed[-1])
                seq_power.append((table.verdict[tested] == "supported").mean())
                once_power.append(np.mean([v == "supported" for v, t in zip(fixed[-1], tested) if t]))
                made.append(len(ran.runs))
            row = {"regime": regime, "scenario": scenario, "looks": "/".join(map(str, next(iter(cells.values())).looks)),
                   "grids": n}
            if scenario == "nothing holds":
                row.update({"P(any supported), waves": np.mean(seq_any),
                            "P(any supported), fixed verdict at every look": np.mean(naive_any),
                            "P(any supported), fixed at the most seeds": np.mean(once_any)})
            else:
                row.update({"rows supported, waves": np.mean(seq_power),
                            "rows supported, fixed at the most seeds": np.mean(once_power)})
            row["trainings run / fixed at the most seeds"] = np.mean(made) / fixed_runs
            out.append(row)
    return pd.DataFrame(out)


def negligible_rows(config, claims, n, seeds=10):
    """Null paper grids at ``seeds`` seeds: the share of direction rows called not reproduced
    (negligible or contradicted) per claim and metric, and P(any supported) per table."""
    out = []
    for regime, noise in simulate.REGIMES.items():
        t = grids(config, claims, simulate.flat(72.0), noise, n, seeds=seeds, rng_seed=31)
        d = t[t.claimed.isin(["> 0", "< 0"]) & t.n.gt(0)]
        against = d.verdict.isin(["negligible", "contradicted"])
        row = {"regime": regime, "grids": n, "seeds": seeds, "direction rows not reproduced": against.mean()}
        for (claim, metric), part in against.groupby([d.claim, d.metric]):
            row[f"{claim} {metric}"] = part.mean()
        row["P(any supported)"] = t.groupby("grid").verdict.apply(lambda v: (v == "supported").any()).mean()
        out.append(row)
    return pd.DataFrame(out)


def near_delta_rows(config, claims, n, seeds=10):
    """Every direction claim true by exactly delta, then by 1.2 delta (tkd.statistics.simulate.claims_by): how
    often a row, and a table, is called not reproduced (negligible or contradicted)."""
    out = []
    delta = config["paper"]["delta"]
    points = delta["points"] if delta["points"] is not None else config["paper"]["tolerance"]
    for scale in (1.0, 1.2):
        truth, confidence = simulate.claims_by(config["methods"], points * scale, delta["probability"] * scale)
        for regime, noise in simulate.REGIMES.items():
            t = grids(config, claims, truth, noise, n, seeds=seeds, conf=confidence, rng_seed=47)
            rows = t[t.n.gt(0)]
            against = rows.verdict.isin(["negligible", "contradicted"])
            row = {"truth": f"{scale:g} delta", "regime": regime, "grids": n, "seeds": seeds,
                   "rows not reproduced": against.mean(),
                   "P(any row not reproduced)": against.groupby(rows.grid).any().mean()}
            for claim, part in against.groupby(rows.claim):
                row[claim] = part.mean()
            out.append(row)
    return pd.DataFrame(out)


def design_rows(config, simulations):
    """tkd plan's figures for candidate designs of the waves (boundary shape, looks, futility)."""
    import copy

    from tkd.statistics.plan import plan

    out = []
    for shape, waves, futility in [(0.0, (4, 2, 10), 0.0), (0.25, (4, 2, 10), 0.0), (0.5, (4, 2, 10), 0.0),
                                   (0.25, (5, 1, 10), 0.0), (0.25, (3, 2, 10), 0.0), (0.25, (4, 2, 10), 0.2),
                                   (0.25, (5, 1, 10), 0.2), (0.25, (5, 1, 10), 0.3)]:
        c = copy.deepcopy(config)
        c["paper"].update(boundary=shape, futility=futility)
        c["plan"]["sequential"] = dict(zip(("start", "step", "max"), waves))
        _, costs = plan(c, simulations=simulations)
        seq = costs[costs.design == "sequential, expected"].set_index("scenario")
        fixed = costs[costs.design == "fixed, the waves' most seeds"].set_index("scenario")
        row = {"shape": shape, "looks": f"{waves[0]}..{waves[2]} by {waves[1]}", "futility": futility}
        for scenario, short in (("the paper holds", "holds"), ("nothing holds", "null")):
            ratio, se = seq.loc[scenario, "of_fixed_most"], seq.loc[scenario, "gpu_h_se"] / fixed.loc[scenario, "gpu_h"]
            row[f"{short}: GPU-h / fixed"] = f"{ratio:.3f} ± {se:.3f}"
            row[f"{short}: decided, waves / fixed"] = (f"{seq.loc[scenario, 'decided']:.3f} ± {seq.loc[scenario, 'decided_se']:.3f}"
                                                       f" / {fixed.loc[scenario, 'decided']:.3f}")
        out.append(row)
    return pd.DataFrame(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=400, help="null paper grids per regime")
    ap.add_argument("--power-grids", type=int, default=40, help="grids per power scenario and regime")
    ap.add_argument("--sequential-grids", type=int, default=100, help="grids per sequential scenario and regime")
    ap.add_argument("--negligible-grids", type=int, default=40, help="null grids at 10 seeds per regime")
    ap.add_argument("--near-delta-grids", type=int, default=200, help="grids per regime with claims true by delta")
    ap.add_argument("--interval-grids", type=int, default=400, help="grids per interval case (best generation)")
    ap.add_argument("--best-grids", type=int, default=100, help="null paper grids per regime and seed count")
    ap.add_argument("--seeds", default="5,10,20,40", help="seed counts of the intervals and best tables")
    ap.add_argument("--design-simulations", type=int, default=60, help="simulated grids per design and scenario")
    ap.add_argument("--only", action="append", choices=["null", "selection", "intervals", "best", "skew", "power",
                                                        "sequential",
                                                        "negligible", "near-delta", "designs"],
                    help="print only these tables (repeatable; default: all)")
    args = ap.parse_args()
    config, claims = load([str(Path(__file__).resolve().parent.parent / "config.yaml")]), load_claims()
    seeds = tuple(int(x) for x in args.seeds.split(","))
    sections = [  # (kind, title, the table, computed only when printed)
        ("null", "Null paper grids (no effect anywhere, 3 seeds)", lambda: null_rows(config, claims, args.grids)),
        ("selection", "Choosing the best of six equal generations (bias in points, 95 % coverage)", selection_rows),
        ("intervals", "A best generation's estimate, its standard error and 95 % coverage, by seeds",
         lambda: interval_rows(args.interval_grids, seeds)),
        ("best", "Best-generation rows on null paper grids, by seeds", lambda: best_rows(
            config, claims, args.best_grids, seeds)),
        ("skew", "Skewed per-seed differences: one row's error at exactly delta (nominal 2.5 %)", skew_rows),
        ("power", "Power on simulated paper grids", lambda: power_rows(config, claims, args.power_grids)),
        *[("sequential", f"Seeds in waves (start 4, step {step}, max 10)",
           lambda step=step: sequential_rows(config, claims, args.sequential_grids, {"start": 4, "step": step, "max": 10}))
          for step in (2, 1)],
        ("negligible", "Null paper grids at 10 seeds: not reproduced", lambda: negligible_rows(
            config, claims, args.negligible_grids)),
        ("near-delta", "Claims true by delta and by 1.2 delta at 10 seeds: not reproduced", lambda: near_delta_rows(
            config, claims, args.near_delta_grids)),
        ("designs", "Designs of the waves, priced by tkd plan", lambda: design_rows(config, args.design_simulations))]
    t0 = time.perf_counter()
    for kind, title, table in sections:
        if not args.only or kind in args.only:
            print(f"## {title}\n\n{table().to_markdown(index=False, floatfmt='.3f')}\n", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
