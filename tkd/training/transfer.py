"""Transfer feature extraction: how useful is each generation's representation elsewhere?

Protocol (fixed, the harness's own; the paper's was not recovered): penultimate-layer
features of a trained model on a second data set (CIFAR-10 on a user's machine, a
second synthetic task offline), standardised with the probe-train statistics, then a
multinomial logistic regression with a fixed L2 strength ``C`` fit on that set's train
split and scored on its test split.
"""
from __future__ import annotations

import numpy as np


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 c: float = 1.0, max_iter: int = 1000) -> float:
    """Test accuracy (%) of the fixed linear probe."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float((probe.predict(test_x) == test_y).mean() * 100)


def features(model, images: np.ndarray, mean, std, device, batch_size: int = 512) -> np.ndarray:
    """Penultimate-layer features (timm's ``forward_head(..., pre_logits=True)``) of uint8 NHWC images."""
    import torch

    from .data import ImageSet
    from .loaders import DeviceLoader

    n = len(images)
    loader = DeviceLoader(ImageSet(images, np.zeros(n, np.int64), np.zeros(n, np.int64)), batch_size, device,
                          mean, std, train=False)
    model.eval()
    out = []
    with torch.inference_mode():
        for x, _ in loader.batches():
            out.append(model.forward_head(model.forward_features(x), pre_logits=True).float().cpu())
    return torch.cat(out).numpy()


def probe_chain(arch: str, models: list[str], generations: list[int], source: dict, target: dict, c: float,
                device: str = "auto", threads: int = 0) -> list[dict]:
    """The linear probe of every generation of one chain: ``models`` (their model.pt files, in the
    order of ``generations``) embed ``target``'s images, normalised as their ``source`` data was."""
    import torch

    from . import data as tkd_data
    from .loaders import channel_stats
    from .runtime import load_weights, resolve_device

    if threads:
        torch.set_num_threads(threads)
    src = tkd_data.load(source["kind"], source["path"], download=source.get("download", False),
                        verify=source.get("checksums", True))
    tgt = tkd_data.load(target["kind"], target["path"], download=target.get("download", False),
                        verify=target.get("checksums", True))
    mean, std = channel_stats(src.train.images)  # the models' own input normalisation
    dev = resolve_device(device)
    rows = []
    for gen, path in zip(generations, models, strict=True):
        model = load_weights(path, arch, src.num_classes, "model").to(dev)
        train_x = features(model, tgt.train.images, mean, std, dev)
        test_x = features(model, tgt.test.images, mean, std, dev)
        acc = linear_probe(train_x, tgt.train.fine, test_x, tgt.test.fine, c=c)
        rows.append(dict(generation=gen, probe_top1=acc, feature_dim=train_x.shape[1]))
        print(f"generation {gen}: linear-probe top-1 {acc:.2f}% on {train_x.shape[1]}-d features", flush=True)
    return rows
