"""``tkd evaluate``: run a finished run's saved model on its test set again."""
from __future__ import annotations

from pathlib import Path


def evaluate_run(run_dir: str | Path, device: str = "auto") -> dict:
    """Re-evaluate ``run_dir/model.pt`` on the test set its ``spec.yaml`` names."""
    from ..files import read_yaml
    from ..layout import RUN_FILES
    from .runtime import evaluate_model, load_data, load_weights, make_loaders, resolve_device
    from .spec import TrainSpec

    run_dir = Path(run_dir)
    spec = TrainSpec.from_dict({**read_yaml(run_dir / RUN_FILES["spec"], "run spec (is this a finished run?)"),
                                "download": False})
    dev = resolve_device(device)
    dataset = load_data(spec)
    model = load_weights(run_dir / RUN_FILES["model"], spec.arch, dataset.num_classes, "model").to(dev)
    _, loader = make_loaders(spec, dataset, dev)
    top1, top5, _ = evaluate_model(model, loader)
    return {"test_top1": top1, "test_top5": top5, "run_dir": str(run_dir), "device": str(dev)}
