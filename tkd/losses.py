"""The paper's training objectives.

All functions take raw logits ``(N, C)`` and integer targets ``(N,)`` and return
the batch mean. Names follow the paper: the *patriarch* (generation 0) is
trained with one of :data:`PATRIARCH_LOSSES`; every later generation is a
*student* trained with :func:`student_loss` against the frozen generation m-1.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "cross_entropy",
    "label_smoothing_loss",
    "confidence_penalty_loss",
    "tsd_loss",
    "student_loss",
    "PATRIARCH_LOSSES",
    "patriarch_loss",
]


def _check(name: str, value: float, ok: bool, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r} is out of range: {rule}")


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 1: one-hot cross-entropy, ``-log p_y``."""
    return F.cross_entropy(logits, target)


def label_smoothing_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float) -> torch.Tensor:
    """CE against ``(1-eps)*onehot + eps/C`` (Szegedy et al. 2016)."""
    _check("epsilon", epsilon, 0.0 <= epsilon < 1.0, "0 <= epsilon < 1")
    return F.cross_entropy(logits, target, label_smoothing=float(epsilon))


def confidence_penalty_loss(logits: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """CE minus ``beta`` times the entropy of the prediction (Pereyra et al. 2017)."""
    _check("beta", beta, beta >= 0.0, "beta >= 0")
    log_p = F.log_softmax(logits, dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1).mean()
    return F.nll_loss(log_p, target) - beta * entropy


def tsd_loss(logits: torch.Tensor, target: torch.Tensor, eta: float, k: int = 5) -> torch.Tensor:
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
    return eta * F.nll_loss(log_p, target) + (1.0 - eta) * tsd


def student_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    lam: float,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Eq. 2: ``lam*CE + (1-lam)*T^2*KL(p_teacher/T || p_student/T)``.

    The teacher is a fixed target: no gradient reaches it.
    """
    _check("lam", lam, 0.0 <= lam <= 1.0, "0 <= lam <= 1")
    _check("temperature", temperature, temperature > 0.0, "temperature > 0")
    t = float(temperature)
    ce = F.cross_entropy(student_logits, target)
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits.detach() / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return lam * ce + (1.0 - lam) * t * t * kl


# name -> (function, the parameters it takes)
PATRIARCH_LOSSES: dict[str, tuple[Callable[..., torch.Tensor], tuple[str, ...]]] = {
    "ce": (cross_entropy, ()),
    "ls": (label_smoothing_loss, ("epsilon",)),
    "cp": (confidence_penalty_loss, ("beta",)),
    "tsd": (tsd_loss, ("eta", "k")),
}
_REQUIRED = {"ce": (), "ls": ("epsilon",), "cp": ("beta",), "tsd": ("eta",)}


def patriarch_loss(name: str, num_classes: int = 1000, **params) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The patriarch's loss chosen by config name, with its parameters bound.

    Parameters are checked now (against ``num_classes`` where they depend on it),
    so bad config fails before any work.

    >>> loss = patriarch_loss("tsd", eta=0.6, k=5)
    """
    if name not in PATRIARCH_LOSSES:
        raise ValueError(f"loss={name!r} is unknown; choose one of {sorted(PATRIARCH_LOSSES)}")
    fn, allowed = PATRIARCH_LOSSES[name]
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise ValueError(f"loss {name!r} takes no parameter {extra[0]!r}; it takes {list(allowed) or 'none'}")
    missing = [p for p in _REQUIRED[name] if p not in params]
    if missing:
        raise ValueError(f"loss {name!r} needs parameter {missing[0]!r}")
    probe = torch.zeros(1, num_classes)
    fn(probe, torch.zeros(1, dtype=torch.long), **params)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return fn(logits, target, **params)

    loss.__name__ = f"{name}_loss"
    return loss
