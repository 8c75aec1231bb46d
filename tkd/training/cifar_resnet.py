"""CIFAR ResNets (He et al. 2016, Sec. 4.2) in plain torch, with timm's model interface.

Three stages of ``n`` basic blocks with 16/32/64 channels (times ``width / 16``) and
parameter-free option-A shortcuts; depth = 6n + 2. Plain torch on purpose: a job that
trains one need not import timm (which pulls in torchvision: start-up time in every job).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["CifarResNet"]


class _Head(nn.Module):
    """Average pool, dropout, linear: timm's ClassifierHead for this one case (same state-dict keys)."""

    def __init__(self, in_chs: int, num_classes: int, drop_rate: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.fc(x)


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
        if global_pool != "avg":
            raise ValueError(f"global_pool={global_pool!r}: CIFAR ResNets pool by average")
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
        self.head = _Head(chs, num_classes, drop_rate)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(F.relu(self.bn1(self.conv1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
