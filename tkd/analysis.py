"""Ensembles of generations, from saved test logits (nothing is retrained)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluate import softmax


def ensemble_accuracy(logits: list[np.ndarray], fine: np.ndarray) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (%) of the average of the models' softmax probabilities."""
    p = np.mean([softmax(z) for z in logits], axis=0)
    order = np.argsort(-p, axis=1, kind="stable")
    top1 = (order[:, 0] == fine).mean() * 100
    top5 = (order[:, :5] == fine[:, None]).any(axis=1).mean() * 100
    return float(top1), float(top5)


def chain_ensembles(logits_by_generation: dict[int, np.ndarray], fine: np.ndarray,
                    last: list[int] | None = None) -> pd.DataFrame:
    """Ensembles along one chain (dataset, arch, method, seed).

    ``first``: generations 0..m for every m (m = 0 is the patriarch alone).
    ``last``: the last k generations, for every k in ``last`` that fits.
    """
    gens = sorted(logits_by_generation)
    rows = []
    for m in gens:
        members = [g for g in gens if g <= m]
        top1, top5 = ensemble_accuracy([logits_by_generation[g] for g in members], fine)
        rows.append(dict(kind="first", size=len(members), generations=f"0-{m}", top1=top1, top5=top5))
    for k in last or []:
        if 1 <= k <= len(gens):
            members = gens[-k:]
            top1, top5 = ensemble_accuracy([logits_by_generation[g] for g in members], fine)
            rows.append(dict(kind="last", size=k, generations=f"{members[0]}-{members[-1]}", top1=top1, top5=top5))
    return pd.DataFrame(rows)
