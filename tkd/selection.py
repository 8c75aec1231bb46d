"""Choosing the best generation (or method) without scoring on what it was chosen on.

The paper reports each method's *best* generation. Choosing the best of several noisy values
and reporting that same value overstates it, for two reasons:

* test-image luck: a generation that happens to suit these test images;
* run luck: a run that trained well is good on every test image, so choosing on one half of
  the test set and scoring on the other removes the first kind but not this one.

So the choice is **cross-fitted over seeds and over test halves** (:func:`pick`): for each
seed, the group (generation, or method and generation) with the best mean top-1 on test half
*a* over the *other* seeds is chosen and this seed's run of it scored on half *b*; the same
with the halves swapped; the seed's value is the mean of the two scores. No seed's value
helped choose what it is scored on, no image is both chosen on and scored, and every test
image counts: the per-seed values stay unbiased and independent, so a t-interval over them
keeps its coverage. With a single seed nothing else can choose: it is chosen on its own other
half (the images stay apart, the run luck does not).

The paper's way, choosing and scoring on the whole test set, is :func:`best_on_test`,
labelled optimistic wherever shown. How each quantity is read (its column, halves, error or
accuracy) is :data:`QUANTITIES`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cube import Cube

__all__ = ["Quantity", "QUANTITIES", "cross_fit", "pick", "jackknife_se", "resolution", "image_resolution",
           "best_generation", "best_on_test", "half", "describe", "CHOOSE_ON"]

CHOOSE_ON = "test_top1"  # the best generation is the most accurate one (on a half, or on the whole test set)
DEFAULT_RESOLUTION = 0.01  # points: one image of a 10,000-image test set, where the image count is not known


@dataclass(frozen=True)
class Quantity:
    column: str  # in runs.csv
    halves: bool = False  # has test halves (then a side that chooses is cross-fitted over them)
    error: bool = False  # an error rate: 100 - the accuracy
    accuracy: bool = True  # in points, quantised by the test set's size


QUANTITIES = {
    "top1": Quantity("test_top1", True),
    "top5": Quantity("test_top5", True),
    "top1_err": Quantity("test_top1", True, True),
    "top5_err": Quantity("test_top5", True, True),
    "mean_top1_prob": Quantity("mean_top1_prob", accuracy=False),
    "probe_top1": Quantity("probe_top1"),
}


def half(column: str, which: str) -> str:
    """The runs.csv column of ``column`` (test_top1, test_top5) on half ``which`` (a or b)."""
    return f"{column}_{which}"


def cross_fit(values: np.ndarray) -> np.ndarray:
    """For each seed (row of ``values``, seeds × groups, NaN where a group has no run of that
    seed): the index of the group whose mean over the *other* seeds is best, among the groups
    that have a run of this seed; -1 where it has none. Ties go to the lowest index. A seed with
    no other seed to learn from (a single seed) is chosen on its own value."""
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    others = present.sum(0) - present  # per seed and group: how many *other* seeds ran it
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (filled.sum(0) - filled) / others
    alone = (others == 0).all(axis=1, keepdims=True)  # nothing else to learn from: its own value
    score = np.where(alone, values, score)
    score = np.where(present & ~np.isnan(score), score, -np.inf)
    return np.where(present.any(axis=1), score.argmax(axis=1), -1)


def pick(cube: Cube, groups: list[tuple[int, int]], quantity: str, halves: bool) -> tuple[np.ndarray, list]:
    """One side's value per seed of the cube (NaN: none) and the group chosen for each seed (one
    array per choice; -1: none). ``halves``: score on the mean of the two test halves (when either
    side chooses), else on the whole test set.

    A side with several groups chooses per seed by :func:`tkd.selection.cross_fit` (over the other
    seeds): on half a to score half b, and on half b to score half a, and averages the two scores;
    a quantity without halves (a linear probe's, on another data set) is chosen on the whole
    source test set."""
    q = QUANTITIES[quantity]
    seeds = np.arange(len(cube.seeds))

    def take(column, choice):
        values = cube.matrix(groups, column)[seeds, np.maximum(choice, 0)]
        return np.where(choice >= 0, values, np.nan)

    if len(groups) == 1:
        choices = [np.where(np.isnan(cube.matrix(groups, "test_top1")[:, 0]), -1, 0)]
        values = (take(half(q.column, "a"), choices[0]) + take(half(q.column, "b"), choices[0])) / 2 \
            if q.halves and halves else take(q.column, choices[0])
    elif q.halves:
        choices = [cross_fit(cube.matrix(groups, half(CHOOSE_ON, h))) for h in "ab"]
        values = (take(half(q.column, "b"), choices[0]) + take(half(q.column, "a"), choices[1])) / 2
    else:
        choices = [cross_fit(cube.matrix(groups, CHOOSE_ON))]
        values = take(q.column, choices[0])
    return (100.0 - values if q.error else values), choices


def jackknife_se(cube: Cube, statistic) -> float:
    """The jackknife standard error over seeds of ``statistic(cube)``, re-choosing without each seed.

    Cross-fitted values are unbiased but not independent: a seed's run luck steers the other
    seeds' choices, so the usual standard error of their mean understates the spread (a 95 %
    t-interval covers 85-93 % of the time with equal generations, simulated). The jackknife
    over seeds redoes the choices without each seed in turn; by the Efron-Stein inequality it
    does not understate the variance on average (94-99 % coverage, simulated: docs/analyses.md), and where the
    best generation is clear it equals the usual standard error."""
    n = len(cube.seeds)
    if n < 2:
        return np.nan
    replicates = np.array([statistic(cube.without_seed(j)) for j in range(n)])
    return float(np.sqrt((n - 1) / n * ((replicates - replicates.mean()) ** 2).sum()))


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
    cross-fitted as :func:`pick` does, the jackknife standard error of their mean, and which
    generations were chosen."""
    cube = Cube.of(runs)
    groups = cube.groups(cube.methods, "best")

    def mean(c: Cube) -> float:
        return float(np.nanmean(pick(c, groups, quantity, halves=True)[0]))

    values, choices = pick(cube, groups, quantity, halves=True)
    used = [c for choice in choices for c in choice[~np.isnan(values)]]
    se = jackknife_se(cube, mean) if len(groups) > 1 else np.nan
    return values[~np.isnan(values)], se, describe([cube.label(groups[c]) for c in used])


def describe(chosen: list[tuple[str, int]]) -> str:
    """What was chosen for each seed, compactly: "tsd-0.6 gen 3", or "tsd-0.6 gen 3×2, 4; tsd-0.7 gen 1"
    (generation -1: the ensemble of all generations)."""
    counts = Counter(chosen).most_common()
    by_method: dict[str, list[str]] = {}
    for (method, gen), count in counts:
        what = "ensemble of all generations" if gen < 0 else str(gen)
        by_method.setdefault(method, []).append(what + (f"×{count}" if count > 1 and len(counts) > 1 else ""))
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
