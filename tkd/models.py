"""The paper's architectures, registered in timm's model registry.

After ``import tkd.models`` both ``timm.create_model("resnet56_cifar", num_classes=100)``
and ``tkd.models.create("resnet56_cifar", num_classes=100)`` work.

* CIFAR ResNets (He et al. 2016, Sec. 4.2): 3 stages of ``n`` basic blocks with
  16/32/64 channels and parameter-free option-A shortcuts; depth = 6n + 2.
* DenseNet-BC on CIFAR (Huang et al. 2017): timm's :class:`~timm.models.densenet.DenseNet`
  (bottleneck, compression 0.5) with the CIFAR stem, a 3x3 stride-1 convolution
  to 2k channels and no stem norm or pool.
* ResNet-18 for ILSVRC2012 is timm's own ``resnet18``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import ClassifierHead
from timm.models import create_model as _timm_create
from timm.models import register_model
from timm.models.densenet import DenseNet

__all__ = ["CifarResNet", "create", "MODELS"]


class BasicBlock(nn.Module):
    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        # Option A: subsample and zero-pad channels, so shortcuts add no parameters.
        self.pad = out_chs - in_chs
        self.stride = stride

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs, with timm's model interface."""

    def __init__(self, depth: int = 56, num_classes: int = 100, in_chans: int = 3,
                 width: int = 16, global_pool: str = "avg", drop_rate: float = 0.0, **kwargs):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth={depth} must be 6n+2")
        if kwargs:
            raise TypeError(f"CifarResNet got unexpected arguments {sorted(kwargs)}")
        n = (depth - 2) // 6
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_chans, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, chs = [], width
        for i, out_chs in enumerate((width, 2 * width, 4 * width)):
            first = BasicBlock(chs, out_chs, stride=2 if i else 1)
            rest = [BasicBlock(out_chs, out_chs) for _ in range(n - 1)]
            stages.append(nn.Sequential(first, *rest))
            chs = out_chs
        self.stages = nn.Sequential(*stages)
        self.num_features = chs
        self.head = ClassifierHead(chs, num_classes, pool_type=global_pool, drop_rate=drop_rate)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.head.reset(num_classes, pool_type=global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(F.relu(self.bn1(self.conv1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


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
    return CifarResNet(depth=8, **kwargs)


@register_model
def resnet8_tiny_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    """ResNet-8 at half width (8/16/32 channels): the offline demo's CPU model (not in the paper)."""
    kwargs = _no_pretrained("resnet8_tiny_cifar", pretrained, kwargs)
    return CifarResNet(depth=8, width=8, **kwargs)


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet20_cifar", pretrained, kwargs)
    return CifarResNet(depth=20, **kwargs)


@register_model
def resnet32_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet32_cifar", pretrained, kwargs)
    return CifarResNet(depth=32, **kwargs)


@register_model
def resnet56_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet56_cifar", pretrained, kwargs)
    return CifarResNet(depth=56, **kwargs)


@register_model
def resnet110_cifar(pretrained: bool = False, **kwargs) -> CifarResNet:
    kwargs = _no_pretrained("resnet110_cifar", pretrained, kwargs)
    return CifarResNet(depth=110, **kwargs)


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


# name -> input resolution the model is built for; the harness accepts only these.
MODELS: dict[str, int] = {
    "resnet8_cifar": 32,
    "resnet8_tiny_cifar": 32,
    "resnet20_cifar": 32,
    "resnet32_cifar": 32,
    "resnet56_cifar": 32,
    "resnet110_cifar": 32,
    "densenet_bc_100_cifar": 32,
    "densenet_bc_190_cifar": 32,
    "resnet18": 224,
}


def create(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build an architecture of the harness by name, randomly initialised."""
    if name not in MODELS:
        raise ValueError(f"arch={name!r} is unknown; choose one of {sorted(MODELS)}")
    return _timm_create(name, pretrained=False, num_classes=num_classes, **kwargs)
