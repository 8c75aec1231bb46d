"""The harness's architectures: one registry, configs as data, one :func:`create`.

Each entry names the builder of its family and that builder's arguments, as timm's
``default_cfgs`` do. Building a CIFAR ResNet imports no timm (it is plain torch,
:mod:`tkd.training.cifar_resnet`); the DenseNets use timm's ``DenseNet`` class and ResNet-18 is
timm's own, imported only when one is built. :mod:`tkd.training.models` registers every entry in
timm's model registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ARCHS", "Arch", "create"]


@dataclass(frozen=True)
class Arch:
    family: str  # a key of _BUILDERS
    args: dict = field(default_factory=dict)  # the family builder's arguments
    input_size: int = 32  # the resolution the model is built for
    note: str = ""


ARCHS: dict[str, Arch] = {
    "resnet8_cifar": Arch("cifar_resnet", dict(depth=8), note="the tests' model (not in the paper)"),
    "resnet8_tiny_cifar": Arch("cifar_resnet", dict(depth=8, width=8), note="the offline demo's CPU model"),
    "resnet20_cifar": Arch("cifar_resnet", dict(depth=20)),
    "resnet32_cifar": Arch("cifar_resnet", dict(depth=32)),
    "resnet56_cifar": Arch("cifar_resnet", dict(depth=56)),
    "resnet110_cifar": Arch("cifar_resnet", dict(depth=110)),
    "densenet_bc_100_cifar": Arch("densenet_cifar", dict(growth_rate=12, depth=100), note="DenseNet-BC, k=12"),
    "densenet_bc_190_cifar": Arch("densenet_cifar", dict(growth_rate=40, depth=190), note="DenseNet-BC, k=40"),
    # torchvision's (and He et al.'s) initialisation: timm's default zero-initialises the last
    # BatchNorm of every block, a later trick the paper's ResNet-18 baseline did not use
    "resnet18": Arch("timm", dict(zero_init_last=False), input_size=224, note="ILSVRC2012"),
}


def _cifar_resnet(num_classes: int, **kwargs):
    from .cifar_resnet import CifarResNet

    return CifarResNet(num_classes=num_classes, **kwargs)


def _densenet_cifar(num_classes: int, growth_rate: int, depth: int, **kwargs):
    """DenseNet-BC on CIFAR (Huang et al. 2017): timm's DenseNet (bottleneck, compression 0.5) with
    the CIFAR stem, a 3x3 stride-1 convolution to 2k channels and no stem norm or pool."""
    import torch.nn as nn
    from timm.models.densenet import DenseNet

    n = (depth - 4) // 6  # bottleneck layers per block: 2 convs each, 3 blocks
    model = DenseNet(growth_rate=growth_rate, block_config=(n, n, n), num_classes=num_classes, **kwargs)
    model.features.conv0 = nn.Conv2d(model.in_chans, 2 * growth_rate, 3, 1, 1, bias=False)
    model.features.norm0 = nn.Identity()
    model.features.pool0 = nn.Identity()
    return model


def _timm(num_classes: int, name: str, **kwargs):
    import timm

    return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


_BUILDERS = {"cifar_resnet": _cifar_resnet, "densenet_cifar": _densenet_cifar, "timm": _timm}


def create(name: str, num_classes: int, **kwargs):
    """Build an architecture of the harness by name, randomly initialised."""
    if name not in ARCHS:
        raise ValueError(f"arch={name!r} is unknown; choose one of {sorted(ARCHS)}")
    arch = ARCHS[name]
    extra = dict(name=name) if arch.family == "timm" else {}
    return _BUILDERS[arch.family](num_classes, **extra, **{**arch.args, **kwargs})
