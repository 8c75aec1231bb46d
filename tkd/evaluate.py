"""Evaluate a finished run, and per-run measures computed from saved test logits."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def evaluate_run(run_dir: str | Path, device: str = "auto") -> dict:
    """Re-evaluate ``run_dir/model.pt`` on the test set its ``spec.yaml`` names."""
    import torch
    import yaml

    from .spec import SpecError, TrainSpec
    from .train import evaluate_model, load_inputs, load_weights, make_loaders, resolve_device

    run_dir = Path(run_dir)
    spec_file = run_dir / "spec.yaml"
    if not spec_file.is_file():
        raise SpecError(f"{str(spec_file)!r} does not exist: is {str(run_dir)!r} a finished run?")
    d = yaml.safe_load(spec_file.read_text())
    d.pop("teacher", None)  # the teacher is not needed, and may have moved
    d["generation"] = 0
    spec = TrainSpec.from_dict(d)
    dev = resolve_device(device)
    spec.download = False
    dataset, num_classes, _, _ = load_inputs(spec, torch.device("cpu"))
    model = load_weights(run_dir / "model.pt", spec.arch, num_classes, "model").to(dev)
    _, loader = make_loaders(spec, dataset, dev)
    top1, top5, _ = evaluate_model(model, loader, amp=spec.amp and dev.type == "cuda")
    return {"test_top1": top1, "test_top5": top5, "run_dir": str(run_dir), "device": str(dev)}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def logit_measures(logits: np.ndarray, fine: np.ndarray, coarse: np.ndarray, k: int = 5,
                   class_coarse: np.ndarray | None = None) -> dict:
    """Accuracy and secondary-information measures from test logits (numpy only).

    Ranks follow the probabilities; ties go to the lower class index.

    * ``top1``/``top5``: accuracy in %.
    * ``mean_top1_prob``: mean of the largest softmax probability (how peaked).
    * ``mean_entropy``: mean entropy of the softmax, in nats.
    * ``secondary_mass``: mean probability on the classes ranked 2..k.
    * ``secondary_in_superclass``: the share of that mass on classes of the
      true class's superclass.
    * ``dist_c`` (harness definition of the paper's coarse-grained Dist^C): the
      mean share of the classes ranked 2..k that lie *outside* the superclass of
      the top-ranked (predicted) class. Low: secondary classes are its siblings.
    * ``dist_s`` (harness definition of the paper's semantic-level Dist^S): the
      mean probability on the true class's superclass, i.e. how well the model
      places its mass on the right group of classes, right class or not.

    The paper's own formulas for Dist^C and Dist^S could not be recovered; these
    are the harness's, built on the fine/coarse label hierarchy.
    """
    p = softmax(logits)
    order = np.argsort(-p, axis=1, kind="stable")
    top1 = (order[:, 0] == fine).mean() * 100
    top5 = (order[:, :5] == fine[:, None]).any(axis=1).mean() * 100
    if class_coarse is None:  # the superclass of every class, read off the labelled data
        class_coarse = np.full(p.shape[1], -1)
        class_coarse[fine] = coarse
    secondary = order[:, 1:k]
    sec_p = np.take_along_axis(p, secondary, axis=1)
    same = class_coarse[secondary] == coarse[:, None]
    mass = sec_p.sum(axis=1)
    outside_primary = class_coarse[secondary] != class_coarse[order[:, :1]]
    in_true_super = class_coarse[None, :] == coarse[:, None]
    return {
        "dist_c": float(outside_primary.mean()),
        "dist_s": float((p * in_true_super).sum(axis=1).mean()),
        "top1": float(top1), "top5": float(top5),
        "mean_top1_prob": float(p.max(axis=1).mean()),
        "mean_entropy": float(-(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1).mean()),
        "secondary_mass": float(mass.mean()),
        "secondary_in_superclass": float((sec_p * same).sum() / max(mass.sum(), 1e-300)),
        "k": int(k),
    }
