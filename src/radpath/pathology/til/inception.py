"""Inception-v4 in plain torch (no torchvision), for the TIL-map paper's `inception_v4` patch classifier.

The pure Inception-v4 of Szegedy, Ioffe, Vanhoucke & Alemi (2016), "Inception-v4, Inception-ResNet
and the Impact of Residual Connections" (arXiv:1602.07261), Figures 3-9: the stem (Fig. 3),
4 x Inception-A (Fig. 4), Reduction-A (Fig. 7, k=192, l=224, m=256, n=384), 7 x Inception-B
(Fig. 5), Reduction-B (Fig. 8), 3 x Inception-C (Fig. 6), global average pooling, dropout (keep
0.8, i.e. p=0.2) and a linear head (2 classes here, 1000 in the paper). Every convolution is
conv (no bias) -> BatchNorm -> ReLU, as in the reference implementations; the average-pool branches
exclude the padding from the average.

`width` scales every layer's channels like the ResNet/VGG `width` in `nets.py`: 64 gives the
paper's channel counts (the stem's first layer has 32 channels at width 64, i.e. width/2), smaller
widths scale every convolution by width/64 with a floor of `MIN_CHANNELS` channels.

Input size: the paper's "V" (valid, unpadded) convolutions and pools are kept, so the spatial
sizes at 299 px are the paper's (35 -> 17 -> 8). The network therefore needs inputs of at least
`MIN_INPUT_PX` (75) pixels on each side; a smaller input raises `ConfigError` naming the minimum
(use `--input-px 75` or more with `train-til`; the paper uses 299). Below 139 px the grid after
Reduction-B is 1-2 px wide, so the last BatchNorms see few values per channel and one SGD step on a
small batch can blow up their statistics; 139 px (a 3x3 final grid) or more is the practical floor.
"""

from __future__ import annotations

import torch
from torch import nn

from radpath.errors import ConfigError

MIN_CHANNELS = 4
MIN_INPUT_PX = 75


class ConvBN(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class _Scale:
    """Channel counts of the paper's network (width 64) scaled to `width`."""

    def __init__(self, width: int):
        if width < 1:
            raise ConfigError(f"inception_v4 width must be >= 1, got {width}")
        self.width = width

    def __call__(self, channels: int) -> int:
        return max(MIN_CHANNELS, (channels * self.width + 32) // 64)


def _avg_pool() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Stem(nn.Module):
    """Fig. 3: 299x299x3 -> 35x35x384."""

    def __init__(self, c: _Scale):
        super().__init__()
        self.conv1 = ConvBN(3, c(32), 3, stride=2)
        self.conv2 = ConvBN(c(32), c(32), 3)
        self.conv3 = ConvBN(c(32), c(64), 3, padding=1)
        self.pool3 = nn.MaxPool2d(3, stride=2)
        self.conv3b = ConvBN(c(64), c(96), 3, stride=2)
        mid = c(64) + c(96)
        self.b4a = nn.Sequential(ConvBN(mid, c(64), 1), ConvBN(c(64), c(96), 3))
        self.b4b = nn.Sequential(
            ConvBN(mid, c(64), 1), ConvBN(c(64), c(64), (7, 1), padding=(3, 0)),
            ConvBN(c(64), c(64), (1, 7), padding=(0, 3)), ConvBN(c(64), c(96), 3),
        )
        self.conv5 = ConvBN(2 * c(96), c(192), 3, stride=2)
        self.pool5 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c(192) + 2 * c(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        x = torch.cat([self.pool3(x), self.conv3b(x)], 1)
        x = torch.cat([self.b4a(x), self.b4b(x)], 1)
        return torch.cat([self.conv5(x), self.pool5(x)], 1)


class InceptionA(nn.Module):
    """Fig. 4: 35x35 grid, 384 channels in and out."""

    def __init__(self, cin: int, c: _Scale):
        super().__init__()
        self.b0 = ConvBN(cin, c(96), 1)
        self.b1 = nn.Sequential(ConvBN(cin, c(64), 1), ConvBN(c(64), c(96), 3, padding=1))
        self.b2 = nn.Sequential(
            ConvBN(cin, c(64), 1), ConvBN(c(64), c(96), 3, padding=1), ConvBN(c(96), c(96), 3, padding=1)
        )
        self.b3 = nn.Sequential(_avg_pool(), ConvBN(cin, c(96), 1))
        self.out_channels = 4 * c(96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], 1)


class ReductionA(nn.Module):
    """Fig. 7 with Inception-v4's k=192, l=224, m=256, n=384: 35x35 -> 17x17."""

    def __init__(self, cin: int, c: _Scale, k: int = 192, l: int = 224, m: int = 256, n: int = 384):  # noqa: E741
        super().__init__()
        self.b0 = ConvBN(cin, c(n), 3, stride=2)
        self.b1 = nn.Sequential(ConvBN(cin, c(k), 1), ConvBN(c(k), c(l), 3, padding=1), ConvBN(c(l), c(m), 3, stride=2))
        self.b2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c(n) + c(m) + cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x)], 1)


class InceptionB(nn.Module):
    """Fig. 5: 17x17 grid, 1024 channels in and out."""

    def __init__(self, cin: int, c: _Scale):
        super().__init__()
        self.b0 = ConvBN(cin, c(384), 1)
        self.b1 = nn.Sequential(
            ConvBN(cin, c(192), 1), ConvBN(c(192), c(224), (1, 7), padding=(0, 3)),
            ConvBN(c(224), c(256), (7, 1), padding=(3, 0)),
        )
        self.b2 = nn.Sequential(
            ConvBN(cin, c(192), 1), ConvBN(c(192), c(192), (7, 1), padding=(3, 0)),
            ConvBN(c(192), c(224), (1, 7), padding=(0, 3)), ConvBN(c(224), c(224), (7, 1), padding=(3, 0)),
            ConvBN(c(224), c(256), (1, 7), padding=(0, 3)),
        )
        self.b3 = nn.Sequential(_avg_pool(), ConvBN(cin, c(128), 1))
        self.out_channels = c(384) + 2 * c(256) + c(128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], 1)


class ReductionB(nn.Module):
    """Fig. 8: 17x17 -> 8x8, 1024 -> 1536 channels."""

    def __init__(self, cin: int, c: _Scale):
        super().__init__()
        self.b0 = nn.Sequential(ConvBN(cin, c(192), 1), ConvBN(c(192), c(192), 3, stride=2))
        self.b1 = nn.Sequential(
            ConvBN(cin, c(256), 1), ConvBN(c(256), c(256), (1, 7), padding=(0, 3)),
            ConvBN(c(256), c(320), (7, 1), padding=(3, 0)), ConvBN(c(320), c(320), 3, stride=2),
        )
        self.b2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c(192) + c(320) + cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x)], 1)


class InceptionC(nn.Module):
    """Fig. 6: 8x8 grid, 1536 channels in and out."""

    def __init__(self, cin: int, c: _Scale):
        super().__init__()
        self.b0 = ConvBN(cin, c(256), 1)
        self.b1 = ConvBN(cin, c(384), 1)
        self.b1a = ConvBN(c(384), c(256), (1, 3), padding=(0, 1))
        self.b1b = ConvBN(c(384), c(256), (3, 1), padding=(1, 0))
        self.b2 = nn.Sequential(
            ConvBN(cin, c(384), 1), ConvBN(c(384), c(448), (3, 1), padding=(1, 0)),
            ConvBN(c(448), c(512), (1, 3), padding=(0, 1)),
        )
        self.b2a = ConvBN(c(512), c(256), (1, 3), padding=(0, 1))
        self.b2b = ConvBN(c(512), c(256), (3, 1), padding=(1, 0))
        self.b3 = nn.Sequential(_avg_pool(), ConvBN(cin, c(256), 1))
        self.out_channels = 6 * c(256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.b1(x)
        b2 = self.b2(x)
        return torch.cat([self.b0(x), self.b1a(b1), self.b1b(b1), self.b2a(b2), self.b2b(b2), self.b3(x)], 1)


class InceptionV4(nn.Module):
    """Inception-v4 with `backbone` (stem to global average pool) and `head` (dropout + linear)."""

    def __init__(self, width: int = 64, n_classes: int = 2, dropout: float = 0.2):
        super().__init__()
        c = _Scale(width)
        stem = Stem(c)
        layers: list[nn.Module] = [stem]
        cin = stem.out_channels
        for block, count in ((InceptionA, 4), (ReductionA, 1), (InceptionB, 7), (ReductionB, 1), (InceptionC, 3)):
            for _ in range(count):
                module = block(cin, c)
                layers.append(module)
                cin = module.out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, n_classes))
        self.features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < MIN_INPUT_PX or x.shape[-2] < MIN_INPUT_PX:
            raise ConfigError(
                f"inception_v4 needs inputs of at least {MIN_INPUT_PX} x {MIN_INPUT_PX} px (unpadded stem and "
                f"reductions, as in the paper), got {tuple(x.shape[-2:])}; use --input-px {MIN_INPUT_PX} or more "
                "(the paper: 299)"
            )
        return self.head(self.backbone(x))
