"""Patch-classifier architectures (plain torch, no torchvision) in an explicit registry, and their model files.

Architectures follow the ImageNet designs the TIL-map paper fine-tunes, with its 2-class heads
(paper Table 3): ResNet-18/34 (BasicBlock, last layer Linear(512, 2) at width 64) and VGG16 with
the classifier reduced to 1024 features (Linear(25088, 1024) -> ReLU -> Dropout -> Linear(1024, 2)),
and Inception-v4 (`inception.py`; inputs of at least 75 px, 139 px or more for stable training).
`width` scales every layer's channels (64 = the published network); small widths at the native
patch size are the CPU option. Each network has `backbone` and `head` submodules so training can
freeze the backbone for the first epochs.

A model file is the shared format (`radpath.pathology.models`) with format "radpath-patch-classifier"
and the metadata task, arch, arch_kwargs, input_px, patch_px, mpp, classes, mean, std, metrics,
data_hash. `load_model` also takes a WSInfer model-zoo folder (`radpath.pathology.zoo`);
`positive_index` says which output is the positive class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radpath.errors import ModelFileError
from radpath.pathology.models import instantiate, read_model_file, save_model
from radpath.pathology.til.inception import InceptionV4

FORMAT = "radpath-patch-classifier"
FORMAT_VERSION = 1
TASKS = ("tumor", "lymphocyte")


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.down(x))


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...], width: int = 64, n_classes: int = 2):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        ]
        cin = width
        for stage, n in enumerate(blocks):
            cout = width * 2**stage
            for b in range(n):
                layers.append(BasicBlock(cin, cout, 2 if (b == 0 and stage > 0) else 1))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


VGG16_CFG = (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M")


class VGG16(nn.Module):
    """VGG16 with the paper's reduced classifier (1024 features instead of 4096)."""

    def __init__(self, width: int = 64, n_classes: int = 2, hidden: int = 1024):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                cout = width * int(item)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(7), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(cin * 49, hidden), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": lambda width=64: ResNet((2, 2, 2, 2), width),
    "resnet34": lambda width=64: ResNet((3, 4, 6, 3), width),
    "vgg16": lambda width=64: VGG16(width),
    "inception_v4": lambda width=64: InceptionV4(width),
}


def build(arch: str, **kwargs: Any) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ModelFileError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**kwargs)


def save_classifier(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write a patch classifier's model file (format "radpath-patch-classifier") and its JSON sidecar."""
    return save_model(path, model, meta, fmt=FORMAT, version=FORMAT_VERSION)


# Class names taken as the positive class of a published (zoo) model when none is named.
POSITIVE_NAMES = {"tumor": ("tumor", "tumour"), "lymphocyte": ("tils", "til", "lymphocytes", "lymphocyte")}


def positive_index(meta: dict[str, Any], task: str, wanted: str | None = None, *, source: str = "") -> int:
    """Index of the positive class among the model's outputs.

    `wanted` names it; otherwise a radpath model's is its last class (training puts it there) and a
    zoo model's is the class called like the task (tumor / tils ...), else the user must name it.
    """
    classes = [str(c) for c in meta.get("classes", [])]
    where = f"model {source}: " if source else ""
    if wanted is not None:
        if wanted not in classes:
            raise ModelFileError(f"{where}no class {wanted!r} for the {task} map; its classes are {classes}")
        return classes.index(wanted)
    if meta.get("format") == FORMAT:
        return 1
    found = [c for c in classes if c.lower() in POSITIVE_NAMES.get(task, ())]
    if len(found) != 1:
        option = "--tumor-class" if task == "tumor" else "--til-class"
        raise ModelFileError(f"{where}which class is positive for the {task} map? Its classes are {classes}; "
                             f"name one with {option}")
    return classes.index(found[0])


def load_model(
    path: str | Path, task: str | None = None, *, input_px: int | None = None, device: str = "cpu",
    trust_model_code: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved patch classifier (eval mode) and its metadata; checks task and input size.

    A folder is loaded as a WSInfer model-zoo model (it declares no task; TorchScript weights only
    with `trust_model_code`).
    """
    path = Path(path)
    if path.is_dir():
        from radpath.pathology import zoo

        return zoo.load_zoo_model(path, device=device, trust_model_code=trust_model_code)  # type: ignore[no-any-return]
    tensors, meta = read_model_file(path)
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"model file {path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if task is not None and meta.get("task") != task:
        raise ModelFileError(f"model file {path}: a {meta.get('task')!r} model, expected a {task!r} model")
    if input_px is not None and int(meta.get("input_px", -1)) != input_px:
        raise ModelFileError(f"model file {path}: input size {meta.get('input_px')} px, expected {input_px} px")
    return instantiate(path, tensors, meta, build, device), meta
