"""The harness's architectures in timm's model registry.

After ``import tkd.training.models``, ``timm.create_model("resnet56_cifar", num_classes=100)`` works
for every architecture of :data:`tkd.training.archs.ARCHS` (ResNet-18 is timm's own). The entrypoints
are made from that one list; the architectures themselves are data in :mod:`tkd.training.archs`.
"""
from __future__ import annotations

from timm.models import register_model

from .archs import ARCHS, create

__all__ = ["create", "ARCHS"]


def _create(name: str, pretrained: bool, **kwargs):
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights: the paper trains from scratch")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm's factory passes these
        kwargs.pop(key, None)
    return create(name, kwargs.pop("num_classes", 1000), **kwargs)


def _entrypoint(name: str):
    """A timm entrypoint for ``name``, as timm's own are written: ``name(pretrained=False, **kwargs)``."""
    def entrypoint(pretrained: bool = False, **kwargs):
        return _create(name, pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__  # timm files each model under its module
    entrypoint.__doc__ = f"{name}: {ARCHS[name].note or ARCHS[name].family} (tkd.training.archs)"
    return entrypoint


# every architecture of tkd.training.archs.ARCHS that timm does not already have (ResNet-18 is timm's own)
for _name, _arch in ARCHS.items():
    if _arch.family != "timm":
        globals()[_name] = register_model(_entrypoint(_name))
