"""Everything measured from saved test logits, in numpy (no torch): accuracy, the secondary-
information measures, ensembles of generations, and the two halves of a test set.

Ranks follow the probabilities; ties go to the lower class index.
"""
from __future__ import annotations

import numpy as np

__all__ = ["softmax", "topk_accuracy", "split_halves", "logit_measures", "ensemble_accuracy", "chain_ensembles"]

HALVES = ("a", "b")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _ranked(p: np.ndarray) -> np.ndarray:
    return np.argsort(-p, axis=1, kind="stable")


def topk_accuracy(scores: np.ndarray, fine: np.ndarray, ks=(1, 5)) -> tuple[float, ...]:
    """Top-k accuracy (%) of class scores (logits or probabilities) for every k in ``ks`` (nan: no images)."""
    if len(fine) == 0:
        return tuple(float("nan") for _ in ks)
    order = _ranked(scores)
    return tuple(float((order[:, :k] == fine[:, None]).any(axis=1).mean() * 100) for k in ks)


def split_halves(fine: np.ndarray) -> np.ndarray:
    """Which half of the test set each image is in: 0 (half a) or 1 (half b).

    Within every class the images alternate between the halves in file order, so both halves
    hold every class in equal share. Half a is for choosing (the best generation), half b for
    reporting what was chosen: choosing and scoring on the same images overstates the result.
    """
    half = np.zeros(len(fine), np.int64)
    for c in np.unique(fine):
        idx = np.flatnonzero(fine == c)
        half[idx[1::2]] = 1
    return half


def logit_measures(logits: np.ndarray, fine: np.ndarray, coarse: np.ndarray, k: int = 5,
                   class_coarse: np.ndarray | None = None) -> dict:
    """Accuracy and secondary-information measures from test logits.

    * ``top1``/``top5``: accuracy in %; ``top1_a``/``top5_a`` and ``top1_b``/``top5_b`` the same
      on the two halves of :func:`split_halves`, which hold ``images_a`` and ``images_b`` images.
    * ``mean_top1_prob``: mean of the largest softmax probability (how peaked).
    * ``mean_entropy``: mean entropy of the softmax, in nats.
    * ``secondary_mass``: mean probability on the classes ranked 2..k.
    * ``secondary_in_superclass``: the share of that mass on classes of the true class's superclass.
    * ``dist_c`` (harness definition of the paper's coarse-grained Dist^C): the mean share of the
      classes ranked 2..k that lie *outside* the superclass of the top-ranked (predicted) class.
      Low: secondary classes are its siblings.
    * ``dist_s`` (harness definition of the paper's semantic-level Dist^S): the mean probability
      on the true class's superclass, i.e. how well the model places its mass on the right group
      of classes, right class or not.

    The paper's own formulas for Dist^C and Dist^S could not be recovered; these are the
    harness's, built on the fine/coarse label hierarchy.
    """
    p = softmax(logits)
    order = _ranked(p)
    if class_coarse is None:  # the superclass of every class, read off the labelled data
        class_coarse = np.full(p.shape[1], -1)
        class_coarse[fine] = coarse
    secondary = order[:, 1:k]
    sec_p = np.take_along_axis(p, secondary, axis=1)
    same = class_coarse[secondary] == coarse[:, None]
    mass = sec_p.sum(axis=1)
    outside_primary = class_coarse[secondary] != class_coarse[order[:, :1]]
    in_true_super = class_coarse[None, :] == coarse[:, None]
    hits = {k_: (order[:, :k_] == fine[:, None]).any(axis=1) for k_ in (1, 5)}
    half = split_halves(fine)
    out = {
        "dist_c": float(outside_primary.mean()),
        "dist_s": float((p * in_true_super).sum(axis=1).mean()),
        "top1": float(hits[1].mean() * 100), "top5": float(hits[5].mean() * 100),
        "mean_top1_prob": float(p.max(axis=1).mean()),
        "mean_entropy": float(-(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1).mean()),
        "secondary_mass": float(mass.mean()),
        "secondary_in_superclass": float((sec_p * same).sum() / max(mass.sum(), 1e-300)),
        "k": int(k),
    }
    for h, name in enumerate(HALVES):
        for k_, hit in hits.items():
            out[f"top{k_}_{name}"] = float(hit[half == h].mean() * 100) if (half == h).any() else float("nan")
        out[f"images_{name}"] = int((half == h).sum())
    return out


def ensemble_accuracy(logits: list[np.ndarray], fine: np.ndarray) -> dict:
    """Top-1 and top-5 accuracy (%) of the average of the models' softmax probabilities, on the
    whole test set and on its halves (``top1_a`` ...)."""
    p = np.mean([softmax(z) for z in logits], axis=0)
    half = split_halves(fine)
    top1, top5 = topk_accuracy(p, fine)
    out = {"top1": top1, "top5": top5}
    for h, name in enumerate(HALVES):
        a1, a5 = topk_accuracy(p[half == h], fine[half == h])
        out.update({f"top1_{name}": a1, f"top5_{name}": a5})
    return out


def chain_ensembles(logits_by_generation: dict[int, np.ndarray], fine: np.ndarray,
                    last: list[int] | None = None) -> list[dict]:
    """Ensembles along one chain (dataset, arch, method, seed).

    ``first``: generations 0..m for every m (m = 0 is the patriarch alone).
    ``last``: the last k generations, for every k in ``last`` that fits.
    """
    gens = sorted(logits_by_generation)
    rows = []
    for m in gens:
        members = [g for g in gens if g <= m]
        rows.append(dict(kind="first", size=len(members), generations=f"0-{m}",
                         **ensemble_accuracy([logits_by_generation[g] for g in members], fine)))
    for k in last or []:
        if 1 <= k <= len(gens):
            members = gens[-k:]
            rows.append(dict(kind="last", size=k, generations=f"{members[0]}-{members[-1]}",
                             **ensemble_accuracy([logits_by_generation[g] for g in members], fine)))
    return rows
