"""The harness's architectures in timm's model registry.

After ``import tkd.models``, ``timm.create_model("resnet56_cifar", num_classes=100)`` works
for every architecture of :data:`tkd.archs.ARCHS` (ResNet-18 is timm's own). Each entrypoint
is two lines, as timm's are; the architectures themselves are data in :mod:`tkd.archs`.
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


@register_model
def resnet8_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet8_cifar", pretrained, **kwargs)


@register_model
def resnet8_tiny_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet8_tiny_cifar", pretrained, **kwargs)


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet20_cifar", pretrained, **kwargs)


@register_model
def resnet32_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet32_cifar", pretrained, **kwargs)


@register_model
def resnet56_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet56_cifar", pretrained, **kwargs)


@register_model
def resnet110_cifar(pretrained: bool = False, **kwargs):
    return _create("resnet110_cifar", pretrained, **kwargs)


@register_model
def densenet_bc_100_cifar(pretrained: bool = False, **kwargs):
    return _create("densenet_bc_100_cifar", pretrained, **kwargs)


@register_model
def densenet_bc_190_cifar(pretrained: bool = False, **kwargs):
    return _create("densenet_bc_190_cifar", pretrained, **kwargs)
