"""The two cell detectors' networks (plain torch) and their model files.

* `PathoNet` (Negahbani et al. 2021, Fig. 4-5): two 3x3 convolutions, then a UNet-like encoder of three and
  a decoder of four residual dilated inception modules (RDIM), then three 1x1 convolutions with a linear
  output: one density channel per class. An RDIM has two parallel paths, two 3x3 convolutions and two 3x3
  convolutions of dilation 4, summed with the input: duplicated along the channels in the encoder (where
  the output has twice the input's channels), through a 1x1 convolution in the decoder. `width` is the
  channels after the stem (the published network is wider; small widths are the CPU option). Inputs
  must have sides divisible by 8. The last decoder module and the head keep 2 x `width` channels, so that a
  narrow CPU model still has room for three output maps; the head's activations are leaky, so that a
  head unit switched off early in training (a dead ReLU) cannot leave a class's map untrained.
* `PatchNet` (the IHC lymphocyte paper): a small CNN deciding lymphocyte or not on 70 x 70 patches
  (convolutions of stride 1 and 2 x 2 max pooling, then fully connected layers and a 2-class output).

Model files are the shared safetensors files (`radpath.pathology.models.save_model`) with format
`radpath-cell-detector` and the method, architecture, input size, microns per pixel, classes and the
post-processing parameters in the metadata; loading checks the format, method and input size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radpath.errors import ModelFileError

FORMAT = "radpath-cell-detector"
FORMAT_VERSION = 1
METHODS = ("density", "patch")


def _conv(cin: int, cout: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RDIM(nn.Module):
    """Residual dilated inception module; `encoder=True` needs cout == 2 * cin (duplicated-input shortcut)."""

    def __init__(self, cin: int, cout: int, encoder: bool):
        super().__init__()
        if encoder and cout != 2 * cin:
            raise ValueError("an encoder RDIM doubles the channels")
        self.encoder = encoder
        self.plain = nn.Sequential(_conv(cin, cout), _conv(cout, cout))
        self.dilated = nn.Sequential(_conv(cin, cout, 4), _conv(cout, cout, 4))
        self.shortcut: nn.Module = nn.Identity() if encoder else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = torch.cat([x, x], 1) if self.encoder else self.shortcut(x)
        return self.plain(x) + self.dilated(x) + skip


class PathoNet(nn.Module):
    def __init__(self, width: int = 8, n_classes: int = 3):
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w), _conv(w, w))
        self.enc = nn.ModuleList([RDIM(w, 2 * w, True), RDIM(2 * w, 4 * w, True), RDIM(4 * w, 8 * w, True)])
        self.dec = nn.ModuleList([RDIM(8 * w, 8 * w, False), RDIM(16 * w, 4 * w, False),
                                  RDIM(8 * w, 2 * w, False), RDIM(4 * w, 2 * w, False)])
        self.head = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 1), nn.LeakyReLU(0.1, inplace=True),
                                  nn.Conv2d(2 * w, 2 * w, 1), nn.LeakyReLU(0.1, inplace=True),
                                  nn.Conv2d(2 * w, n_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.dec[0](x)
        for block, skip in zip(self.dec[1:], reversed(skips), strict=True):
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], 1))
        out: torch.Tensor = self.head(x)
        return out


class PatchNet(nn.Module):
    """Convolutions and pooling, then fully connected layers over the 8 x 8 feature map: the head sees where
    in the patch a nucleus lies (a global average pool would not), so it can say "a lymphocyte at the centre"."""

    def __init__(self, width: int = 8, n_classes: int = 2):
        super().__init__()
        w = width
        self.backbone = nn.Sequential(
            nn.Conv2d(3, w, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(8), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(4 * w * 64, 8 * w), nn.ReLU(inplace=True), nn.Linear(8 * w, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.backbone(x))
        return out


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"pathonet": PathoNet, "patchnet": PatchNet}
METHOD_ARCH = {"density": "pathonet", "patch": "patchnet"}


def build(arch: str, **kwargs: Any) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ModelFileError(f"unknown cell-detector architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)


def save_cell_model(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    from radpath.pathology.models import save_model

    return save_model(path, model, meta, fmt=FORMAT, version=FORMAT_VERSION)


def load_cell_model(
    path: str | Path, method: str | None = None, *, input_px: int | None = None, device: str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved cell detector (eval mode) and its metadata; checks format, method and input size."""
    from radpath.pathology.models import instantiate, read_model_file

    tensors, meta = read_model_file(path)
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"model file {path}: format {meta.get('format')!r}, expected a cell detector "
                             f"({FORMAT!r}; train one with radpath train-cells)")
    if method is not None and meta.get("method") != method:
        raise ModelFileError(f"model file {path}: a {meta.get('method')!r} cell detector, expected {method!r}")
    if input_px is not None and int(meta.get("input_px", -1)) != int(input_px):
        raise ModelFileError(f"model file {path}: input size {meta.get('input_px')} px, expected {input_px} px")
    return instantiate(path, tensors, meta, build, device), meta
