"""Choosing the best generation (or method) without scoring on what it was chosen on.

The paper reports each method's *best* generation. Choosing the best of several noisy values
and reporting that same value overstates it, for two reasons:

* test-image luck: a generation that happens to suit these test images;
* run luck: a run that trained well is good on every test image, so choosing on one half of
  the test set and scoring on the other removes the first kind but not this one.

So the choice is **cross-fitted over seeds and over test halves** (:func:`pick`): the seeds
fall into folds (one per seed up to :data:`FOLDS` seeds; beyond, :data:`FOLDS` folds, the mean
over :data:`PARTITIONS` seeded partitions); for each seed, the group (generation, or method and
generation) with the best mean top-1 on test half *a* over the seeds of the *other* folds is
chosen and this seed's run of it scored on half *b*; the same with the halves swapped; the
seed's value is the mean of the two scores. No seed's value helped choose what it is scored on,
and no image is both chosen on and scored: each value is unbiased for the generation it scores.
The values are not independent, though (a seed's run luck steers the other folds' choices), so
the standard error of their mean is a bootstrap's over seeds that chooses again in every
resample (:func:`bootstrap_se`). With a single seed nothing else can choose: it is chosen on
its own other half (the images stay apart, the run luck does not).

What a row estimates (docs/analyses.md): the true value of the side's best group, its *estimand*;
where groups are near-equal the choice sometimes misses and the estimate reads a little low.

The paper's way, choosing and scoring on the whole test set, is :func:`best_on_test`,
labelled optimistic wherever shown. How each quantity is read (its column, halves, error or
accuracy) is :data:`QUANTITIES`.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cube import Cube

__all__ = ["Quantity", "QUANTITIES", "partitions", "cross_fit", "side_values", "pick", "bootstrap_se", "resolution",
           "image_resolution", "best_generation", "best_on_test", "half", "describe", "CHOOSE_ON", "FOLDS"]

FOLDS = 10  # a seed's group is chosen on the seeds of the other folds: one per seed up to 10 seeds
PARTITIONS = 4  # beyond, random partitions into FOLDS folds, averaged (docs/analyses.md: why these numbers)
REPLICATES = 200  # bootstrap resamples of the seeds for a cross-fitted row's standard error (Efron and Tibshirani: 200 suffice for a standard error)
_FOLD_SEED, _BOOT_SEED = 20190127, 20190128  # the generators of the folds and the resamples (see partitions)
CHOOSE_ON = "test_top1"  # the best generation is the most accurate one (on a half, or on the whole test set)
DEFAULT_RESOLUTION = 0.01  # points: one image of a 10,000-image test set, where the image count is not known


@dataclass(frozen=True)
class Quantity:
    column: str  # in runs.csv
    halves: bool = False  # has test halves (then a side that chooses is cross-fitted over them)
    error: bool = False  # an error rate: 100 - the accuracy
    accuracy: bool = True  # in points, quantised by the test set's size (else a probability, in [0, 1])
    in_runs: bool = True  # a runs.csv column (else the transfer table's)

    @property
    def range(self) -> tuple[float, float]:
        """Where its values lie: points of accuracy, or a probability."""
        return (0.0, 100.0) if self.accuracy else (0.0, 1.0)

    def columns(self) -> list[str]:
        """Its columns: the whole test set's, and each half's where it has halves."""
        return [self.column] + ([half(self.column, h) for h in "ab"] if self.halves else [])


QUANTITIES = {
    "top1": Quantity("test_top1", True),
    "top5": Quantity("test_top5", True),
    "top1_err": Quantity("test_top1", True, True),
    "top5_err": Quantity("test_top5", True, True),
    "mean_top1_prob": Quantity("mean_top1_prob", accuracy=False),
    "probe_top1": Quantity("probe_top1", in_runs=False),
}


def half(column: str, which: str) -> str:
    """The runs.csv column of ``column`` (test_top1, test_top5) on half ``which`` (a or b)."""
    return f"{column}_{which}"


def partitions(n: int) -> np.ndarray:
    """How the ``n`` seeds (in their sorted order) fall into folds: :data:`PARTITIONS` × n fold
    numbers. Up to :data:`FOLDS` seeds each seed is its own fold (leave one seed out, one
    partition); beyond, :data:`PARTITIONS` random partitions into :data:`FOLDS` folds of (nearly)
    equal size, drawn from a generator seeded by ``n`` alone: the same seeds give the same folds on
    every machine, in the workflow's checkpoint, ``tkd claims`` and ``tkd plan`` alike."""
    if n <= FOLDS:
        return np.arange(n)[None]
    rng = np.random.default_rng([_FOLD_SEED, n])
    return np.stack([rng.permutation(np.arange(n) % FOLDS) for _ in range(PARTITIONS)])


def _chosen(choose: np.ndarray, folds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For weights (replicates × seeds) and one partition ``folds``: each seed's group with the best
    weighted mean of ``choose`` (seeds × groups, NaN: no run) over the *other* folds' seeds, among
    the groups this seed ran; -1 where it ran none. A seed whose other folds ran nothing is chosen
    on its own value. Ties go to the lowest index. Returns replicates × seeds."""
    present = ~np.isnan(choose)
    filled = np.where(present, choose, 0.0)
    sums = weights[:, :, None] * filled[None]  # replicates × seeds × groups
    counts = weights[:, :, None] * present[None]
    if len(np.unique(folds)) == len(folds):  # one seed per fold (leave one out): a fold's sum is its seed's
        other = sums.sum(1, keepdims=True) - sums
        other_count = counts.sum(1, keepdims=True) - counts
    else:
        order = np.argsort(folds, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(folds[order]) != 0])
        inside = np.add.reduceat(sums[:, order], starts, axis=1)  # replicates × folds × groups
        count = np.add.reduceat(counts[:, order], starts, axis=1)
        fold_index = np.searchsorted(folds[order][starts], folds)  # each seed's fold, as a row of ``inside``
        other = (inside.sum(1, keepdims=True) - inside)[:, fold_index]
        other_count = (count.sum(1, keepdims=True) - count)[:, fold_index]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = other / other_count  # replicates × seeds × groups
    alone = (other_count == 0).all(axis=2, keepdims=True)
    score = np.where(alone, choose[None], score)
    score = np.where(present[None] & ~np.isnan(score), score, -np.inf)
    return np.where(present.any(axis=1)[None], score.argmax(axis=2), -1)


def cross_fit(values: np.ndarray, folds: np.ndarray | None = None) -> np.ndarray:
    """For each seed (row of ``values``, seeds × groups, NaN where a group has no run of that
    seed): the index of the group whose mean over the seeds of the *other* folds is best, among the
    groups that have a run of this seed; -1 where it has none. ``folds``: each seed's fold (default:
    one per seed, leave one out). Ties go to the lowest index. A seed with nothing else to learn
    from (a single seed) is chosen on its own value."""
    folds = np.arange(len(values)) if folds is None else np.asarray(folds)
    return _chosen(values, folds, np.ones((1, len(values))))[0]


def _scored(score: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """``score`` (seeds × groups) read at each replicate's choice (replicates × seeds); NaN: none."""
    seeds = np.arange(score.shape[0])[None]
    return np.where(choice >= 0, score[seeds, np.maximum(choice, 0)], np.nan)


def side_values(cube: Cube, groups: list[tuple[int, int]], quantity: str, halves: bool,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, list]:
    """One side's value per replicate and seed (replicates × seeds; NaN: none) under ``weights``
    (replicates × seeds; default: each seed once), averaged over the partitions of
    :func:`partitions`, and the groups chosen (one array per partition and half; -1: none).

    A side with one group has no choice: its run, on the mean of the two test halves (``halves``,
    when either side of a comparison chooses) or on the whole test set. A side with several groups
    chooses per seed on the other folds (:func:`cross_fit`): on half a to score half b, and on half
    b to score half a, and averages the two scores; a quantity without halves (a linear probe's, on
    another data set) is chosen on the whole source test set."""
    memo = cube.memo.setdefault("side_values", {})
    key = (tuple(groups), quantity, halves, None if weights is None else id(weights))
    if key not in memo:  # a side shared by rows (C3's two rows, C5's subject) is chosen once per cube
        memo[key] = _side_values(cube, groups, quantity, halves, weights)
    return memo[key]


def _side_values(cube: Cube, groups, quantity: str, halves: bool, weights) -> tuple[np.ndarray, list]:
    q = QUANTITIES[quantity]
    n = len(cube.seeds)
    weights = np.ones((1, n)) if weights is None else weights
    if len(groups) == 1:
        choice = np.where(np.isnan(cube.matrix(groups, "test_top1")[:, 0]), -1, 0)[None]
        if q.halves and halves:
            values = (_scored(cube.matrix(groups, half(q.column, "a")), choice)
                      + _scored(cube.matrix(groups, half(q.column, "b")), choice)) / 2
        else:
            values = _scored(cube.matrix(groups, q.column), choice)
        values, choices = np.broadcast_to(values, weights.shape), [choice[0]]
        return (100.0 - values if q.error else values), choices
    per_partition, choices = [], []
    for folds in partitions(n):
        if q.halves:
            chose = [_chosen(cube.matrix(groups, half(CHOOSE_ON, h)), folds, weights) for h in "ab"]
            values = (_scored(cube.matrix(groups, half(q.column, "b")), chose[0])
                      + _scored(cube.matrix(groups, half(q.column, "a")), chose[1])) / 2
        else:
            chose = [_chosen(cube.matrix(groups, CHOOSE_ON), folds, weights)]
            values = _scored(cube.matrix(groups, q.column), chose[0])
        per_partition.append(values)
        choices += [c[0] for c in chose]
    values = np.mean(per_partition, axis=0)
    return (100.0 - values if q.error else values), choices


def pick(cube: Cube, groups: list[tuple[int, int]], quantity: str, halves: bool) -> tuple[np.ndarray, list]:
    """One side's value per seed of the cube (NaN: none) and the groups chosen (:func:`side_values`
    with each seed once)."""
    values, choices = side_values(cube, groups, quantity, halves)
    return values[0], choices


def bootstrap_se(cube: Cube, sides: list[list[tuple[int, int]]], quantity: str, halves: bool) -> float:
    """The standard error of the mean per-seed difference of two sides (of one side: its mean), by a
    bootstrap over seeds that chooses again in every resample: :data:`REPLICATES` resamples of the
    seeds with replacement (seeded by their number: the same runs give the same figure), a copy of
    a seed in its seed's fold, so never choosing for itself; the sd of the resampled means, times
    sqrt(m / (m - 1)) for m seeds with a value, so that a side with no choice gets the usual
    standard error on average.

    Why not the jackknife: a choice re-made without each seed in turn flips among near-equal
    generations for many seeds at once, which does not shrink with more seeds: its standard error
    stayed at 0.33 points from 10 to 60 seeds while the estimate's spread fell from 0.19 to 0.10
    (docs/analyses.md). With folds each choice rests on most of the seeds, and the bootstrap's
    standard error follows the estimate's spread as seeds grow (measured there)."""
    n = len(cube.seeds)
    weights = _bootstrap_weights(n)  # row 0: the seeds themselves
    values = [side_values(cube, groups, quantity, halves, weights)[0] for groups in sides]
    diff = values[0] - values[1] if len(values) == 2 else values[0]
    m = int((~np.isnan(diff[0])).sum())
    if m < 2:
        return np.nan
    used = np.where(np.isnan(diff), 0.0, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (used * np.nan_to_num(diff)).sum(axis=1)[1:] / used.sum(axis=1)[1:]
    means = means[np.isfinite(means)]
    return float(means.std(ddof=1) * np.sqrt(m / (m - 1))) if len(means) > 1 else np.nan


@functools.lru_cache(maxsize=256)
def _bootstrap_weights(n: int) -> np.ndarray:
    """The seeds once, then :data:`REPLICATES` resamples of them (counts per seed), seeded by ``n``."""
    rng = np.random.default_rng([_BOOT_SEED, n])
    weights = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), REPLICATES)]).astype(float)
    weights.setflags(write=False)
    return weights


def image_resolution(images) -> float:
    """One test image's worth of accuracy (points) at these test-set sizes (the largest), or
    :data:`DEFAULT_RESOLUTION` where the sizes are not known."""
    images = np.asarray(images, float)
    images = images[~np.isnan(images)]
    return 100.0 / float(images.max()) if len(images) else DEFAULT_RESOLUTION


def resolution(cube: Cube, groups: list[tuple[int, int]], quantity: str) -> float:
    """One image's worth of the quantity, the floor of a row's per-seed sd: accuracies are counts of
    images (points), and the mean top-1 probability moves by at most 1 / images when one image's
    probability changes; near-equal differences must not give a near-zero-width interval."""
    q = QUANTITIES[quantity]
    if not q.halves and q.accuracy:  # a probe's own test set, of unknown size
        return DEFAULT_RESOLUTION
    one_image = image_resolution(cube.matrix(groups, "images_a") + cube.matrix(groups, "images_b"))
    return one_image if q.accuracy else one_image / 100  # a mean probability: one image moves it by 1 / images


def best_generation(runs: pd.DataFrame, quantity: str = "top1") -> tuple[np.ndarray, float, str]:
    """One method's runs (one cell): the per-seed values of ``quantity`` of its best generation,
    cross-fitted as :func:`pick` does, the bootstrap standard error of their mean
    (:func:`bootstrap_se`), and which generations were chosen."""
    cube = Cube.of(runs)
    groups = cube.groups(cube.methods, "best")
    values, choices = pick(cube, groups, quantity, halves=True)
    used = [c for choice in choices for c in choice[~np.isnan(values)]]
    se = bootstrap_se(cube, [groups], quantity, halves=True) if len(groups) > 1 else np.nan
    return values[~np.isnan(values)], se, describe([cube.label(groups[c]) for c in used])


def describe(chosen: list[tuple[str, int]]) -> str:
    """What was chosen, compactly: "tsd-0.6 gen 3", or with the share of the choices each got,
    "tsd-0.6 gen 3 (75 %), 4 (13 %); tsd-0.7 gen 1 (13 %)" (generation -1: the ensemble of all
    generations)."""
    counts = Counter(chosen).most_common()
    total = sum(count for _, count in counts)
    by_method: dict[str, list[str]] = {}
    for (method, gen), count in counts:
        what = "ensemble of all generations" if gen < 0 else str(gen)
        by_method.setdefault(method, []).append(what + (f" ({100 * count / total:.0f} %)" if len(counts) > 1 else ""))
    parts = []
    for method, gens in by_method.items():
        ens = [g for g in gens if g.startswith("ensemble")]
        parts.append(f"{method} " + ", ".join(ens + (["gen " + ", ".join(g for g in gens if g not in ens)]
                                                        if len(ens) < len(gens) else [])))
    return "; ".join(parts)


def best_on_test(runs: pd.DataFrame, column: str = "test_top1") -> tuple[tuple[int], pd.DataFrame]:
    """The generation with the best mean ``column`` on the whole test set, and its runs (optimistic)."""
    gen = runs.groupby("generation")[column].mean().idxmax()
    return (gen,), runs[runs.generation == gen]
