"""The paper's architectures, registered in timm's model registry.

After ``import tkd.models`` both ``timm.create_model("resnet56_cifar", num_classes=100)``
and ``tkd.models.create("resnet56_cifar", num_classes=100)`` work.

* CIFAR ResNets: :class:`tkd.archs.CifarResNet` (plain torch, so a job that trains one
  need not import timm; :func:`tkd.archs.create` is what the trainer calls).
* DenseNet-BC on CIFAR (Huang et al. 2017): timm's :class:`~timm.models.densenet.DenseNet`
  (bottleneck, compression 0.5) with the CIFAR stem, a 3x3 stride-1 convolution
  to 2k channels and no stem norm or pool.
* ResNet-18 for ILSVRC2012 is timm's own ``resnet18``.
"""
from __future__ import annotations

import torch.nn as nn
from timm.models import create_model as _timm_create
from timm.models import register_model
from timm.models.densenet import DenseNet

from .archs import CIFAR_RESNETS, MODELS, CifarResNet

__all__ = ["CifarResNet", "create", "MODELS"]


def _cifar_densenet(growth_rate: int, depth: int, **kwargs) -> DenseNet:
    n = (depth - 4) // 6  # bottleneck layers per block: 2 convs each, 3 blocks
    model = DenseNet(growth_rate=growth_rate, block_config=(n, n, n), **kwargs)
    stem = 2 * growth_rate
    model.features.conv0 = nn.Conv2d(model.in_chans, stem, 3, 1, 1, bias=False)
    model.features.norm0 = nn.Identity()
    model.features.pool0 = nn.Identity()
    return model


# timm's factory passes these to every entrypoint; our constructors take none of them.
_FACTORY_KWARGS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _no_pretrained(name: str, pretrained: bool, kwargs: dict) -> dict:
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights: the paper trains from scratch")
    return {k: v for k, v in kwargs.items() if k not in _FACTORY_KWARGS}


@register_model
def resnet8_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    """Tiny ResNet-8 for the offline demo (not in the paper)."""
    kwargs = _no_pretrained("resnet8_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet8_cifar"], **kwargs)


@register_model
def resnet8_tiny_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    """ResNet-8 at half width (8/16/32 channels): the offline demo's CPU model (not in the paper)."""
    kwargs = _no_pretrained("resnet8_tiny_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet8_tiny_cifar"], **kwargs)


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet20_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet20_cifar"], **kwargs)


@register_model
def resnet32_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet32_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet32_cifar"], **kwargs)


@register_model
def resnet56_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet56_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet56_cifar"], **kwargs)


@register_model
def resnet110_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet110_cifar", pretrained, kwargs)
    return CifarResNet(**CIFAR_RESNETS["resnet110_cifar"], **kwargs)


@register_model
def densenet_bc_100_cifar(pretrained: bool = False, **kwargs) -> DenseNet:
    """DenseNet-BC (L=100, k=12)."""
    kwargs = _no_pretrained("densenet_bc_100_cifar", pretrained, kwargs)
    return _cifar_densenet(12, 100, **kwargs)


@register_model
def densenet_bc_190_cifar(pretrained: bool = False, **kwargs) -> DenseNet:
    """DenseNet-BC (L=190, k=40)."""
    kwargs = _no_pretrained("densenet_bc_190_cifar", pretrained, kwargs)
    return _cifar_densenet(40, 190, **kwargs)


def create(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build an architecture of the harness by name, randomly initialised."""
    if name not in MODELS:
        raise ValueError(f"arch={name!r} is unknown; choose one of {sorted(MODELS)}")
    return _timm_create(name, pretrained=False, num_classes=num_classes, **kwargs)
