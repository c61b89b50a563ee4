"""A MobileNetV3-small-style network (Howard et al. 2019, table 2).

Inverted residuals with depthwise convolutions, squeeze-and-excitation and hard-swish: the
operator mix that stresses memory-bound kernels rather than large GEMMs.
"""

from __future__ import annotations

import torch
from torch import nn

# (kernel, expanded channels, out channels, squeeze-excite, activation, stride)
_SMALL = [
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
]


def _make_divisible(v: float, divisor: int = 8) -> int:
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


def _act(name: str) -> nn.Module:
    return nn.Hardswish(inplace=True) if name == "hswish" else nn.ReLU(inplace=True)


class SqueezeExcite(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        squeezed = _make_divisible(ch // 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(ch, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeezed, ch, 1)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, kernel: int, exp: int, out_ch: int, se: bool, act: str,
                 stride: int) -> None:
        super().__init__()
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if exp != in_ch:
            layers += [nn.Conv2d(in_ch, exp, 1, bias=False), nn.BatchNorm2d(exp), _act(act)]
        layers += [nn.Conv2d(exp, exp, kernel, stride, kernel // 2, groups=exp, bias=False),
                   nn.BatchNorm2d(exp), _act(act)]
        if se:
            layers.append(SqueezeExcite(exp))
        layers += [nn.Conv2d(exp, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_residual else out


class MobileNetV3Small(nn.Module):
    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        first = _make_divisible(16 * width_mult)
        layers: list[nn.Module] = [nn.Conv2d(3, first, 3, 2, 1, bias=False),
                                   nn.BatchNorm2d(first), nn.Hardswish(inplace=True)]
        in_ch = first
        for kernel, exp, out, se, act, stride in _SMALL:
            exp_ch, out_ch = _make_divisible(exp * width_mult), _make_divisible(out * width_mult)
            layers.append(InvertedResidual(in_ch, kernel, exp_ch, out_ch, se, act, stride))
            in_ch = out_ch
        last = 6 * in_ch
        layers += [nn.Conv2d(in_ch, last, 1, bias=False), nn.BatchNorm2d(last),
                   nn.Hardswish(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last, 1024), nn.Hardswish(inplace=True),
                                        nn.Dropout(0.2), nn.Linear(1024, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
