"""The paper's training objectives, each returning its named terms.

Every loss takes raw logits ``(N, C)`` and integer targets ``(N,)`` and returns a
dict of batch-mean terms whose sum is the objective (:func:`total`), so a trainer
can log the CE and the KL of Eq. 2, or the CE and the TSD of Eq. 3, apart.

The *patriarch* (generation 0) learns with one of :data:`PATRIARCH_LOSSES`, the
one list of losses: a loss is registered with :func:`patriarch` and its
parameters are the keyword arguments of its signature (those without a default
are required). Every later generation is a *student* trained with
:func:`student_loss` against the frozen generation m-1.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["PATRIARCH_LOSSES", "patriarch", "loss_params", "patriarch_loss", "student_loss", "total",
           "cross_entropy", "label_smoothing_loss", "confidence_penalty_loss", "tsd_loss"]

Terms = dict[str, torch.Tensor]
PATRIARCH_LOSSES: dict[str, Callable[..., Terms]] = {}


def patriarch(name: str):
    """Register a patriarch loss under its config name (``methods.<m>.loss``)."""
    def register(fn: Callable[..., Terms]) -> Callable[..., Terms]:
        PATRIARCH_LOSSES[name] = fn
        return fn
    return register


def total(terms: Terms) -> torch.Tensor:
    """The objective: the sum of the terms, in their order."""
    values = iter(terms.values())
    out = next(values)
    for v in values:
        out = out + v
    return out


def _check(name: str, value: float, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is out of range: {rule}")


@patriarch("ce")
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> Terms:
    """Eq. 1: one-hot cross-entropy, ``-log p_y``."""
    return {"ce": F.cross_entropy(logits, target)}


@patriarch("ls")
def label_smoothing_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float) -> Terms:
    """CE against ``(1-eps)*onehot + eps/C`` (Szegedy et al. 2016)."""
    _check("epsilon", epsilon, 0.0 <= epsilon < 1.0, "0 <= epsilon < 1")
    return {"ce": F.cross_entropy(logits, target, label_smoothing=float(epsilon))}


@patriarch("cp")
def confidence_penalty_loss(logits: torch.Tensor, target: torch.Tensor, beta: float) -> Terms:
    """CE minus ``beta`` times the entropy of the prediction (Pereyra et al. 2017)."""
    _check("beta", beta, beta >= 0.0, "beta >= 0")
    log_p = F.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
    return {"ce": F.nll_loss(log_p, target), "entropy": -(beta * entropy)}


@patriarch("tsd")
def tsd_loss(logits: torch.Tensor, target: torch.Tensor, eta: float, k: int = 5) -> Terms:
    """Eq. 3, the tolerant teacher: ``eta*CE + (1-eta)*(p_(1) - mean(p_(2..k)))``.

    The ranking is of the model's own output, so the top score need not be the
    label. Indices are chosen on the forward pass; the gradient flows through
    the chosen probabilities.
    """
    _check("eta", eta, 0.0 <= eta <= 1.0, "0 <= eta <= 1")
    num_classes = logits.shape[1]
    if isinstance(k, bool) or int(k) != k or not 2 <= k <= num_classes:
        raise ValueError(f"k={k!r} is out of range: 2 <= k <= C={num_classes}, an integer")
    log_p = F.log_softmax(logits, dim=1)
    top = log_p.exp().topk(int(k), dim=1).values
    tsd = (top[:, 0] - top[:, 1:].mean(dim=1)).mean()
    return {"ce": eta * F.nll_loss(log_p, target), "tsd": (1.0 - eta) * tsd}


def student_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
                 lam: float, temperature: float = 1.0) -> Terms:
    """Eq. 2: ``lam*CE + (1-lam)*T^2*KL(p_teacher/T || p_student/T)``.

    The teacher is a fixed target: no gradient reaches it.
    """
    _check("lam", lam, 0.0 <= lam <= 1.0, "0 <= lam <= 1")
    _check("temperature", temperature, temperature > 0.0, "temperature > 0")
    t = float(temperature)
    ce = F.cross_entropy(student_logits, target)
    kl = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits.detach() / t, dim=1),
                  reduction="batchmean", log_target=True)
    return {"ce": lam * ce, "kl": (1.0 - lam) * t * t * kl}


def loss_params(name: str) -> dict[str, bool]:
    """The parameters of a patriarch loss, from its signature: name -> required."""
    params = list(inspect.signature(PATRIARCH_LOSSES[name]).parameters.values())[2:]  # after logits, target
    return {p.name: p.default is inspect.Parameter.empty for p in params}


def patriarch_loss(name: str, num_classes: int = 1000, **params) -> Callable[[torch.Tensor, torch.Tensor], Terms]:
    """The patriarch's loss chosen by config name, with its parameters bound.

    Parameters are checked now (against ``num_classes`` where they depend on it),
    so bad config fails before any work.

    >>> loss = patriarch_loss("tsd", eta=0.6, k=5)
    """
    if name not in PATRIARCH_LOSSES:
        raise ValueError(f"loss={name!r} is unknown; choose one of {sorted(PATRIARCH_LOSSES)}")
    fn, allowed = PATRIARCH_LOSSES[name], loss_params(name)
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise ValueError(f"loss {name!r} takes no parameter {extra[0]!r}; it takes {list(allowed) or 'none'}")
    missing = [p for p, required in allowed.items() if required and p not in params]
    if missing:
        raise ValueError(f"loss {name!r} needs parameter {missing[0]!r}")
    fn(torch.zeros(1, num_classes), torch.zeros(1, dtype=torch.long), **params)  # the range checks

    def loss(logits: torch.Tensor, target: torch.Tensor) -> Terms:
        return fn(logits, target, **params)

    loss.__name__ = f"{name}_loss"
    return loss
