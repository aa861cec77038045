"""Patch-classifier architectures (plain torch, no torchvision) in an explicit registry, and model files.

Architectures follow the ImageNet designs the TIL-map paper fine-tunes, with its 2-class heads
(paper Table 3): ResNet-18/34 (BasicBlock, last layer Linear(512, 2) at width 64) and VGG16 with
the classifier reduced to 1024 features (Linear(25088, 1024) -> ReLU -> Dropout -> Linear(1024, 2)),
and Inception-v4 (`inception.py`; inputs of at least 75 px, 139 px or more for stable training).
`width` scales every layer's channels (64 = the published network); small widths at the native
patch size are the CPU option. Each network has `backbone` and `head` submodules so training can
freeze the backbone for the first epochs.

A model file is safetensors: tensors plus the metadata JSON under the key "radpath" (format,
version, task, arch, arch_kwargs, input_px, patch_px, mpp, classes, mean, std, metrics, data_hash).
safetensors cannot run code when loaded; a pickle `.pt` with the same content is accepted only
through `torch.load(weights_only=True)`. A JSON sidecar (`<file>.json`) repeats the metadata for people.

A folder is a published model in the WSInfer model-zoo format (`radpath.pathology.zoo`): `read_meta`,
`load_model` and `model_hash` take either. `positive_index` says which output is the positive class.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radpath.errors import ModelFileError
from radpath.pathology.inception import InceptionV4

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


def save_model(
    path: str | Path, model: nn.Module, meta: dict[str, Any], *, fmt: str = FORMAT, version: int = FORMAT_VERSION
) -> Path:
    """Write `model`'s weights and `meta` as one safetensors file, plus a `<path>.json` sidecar.

    `fmt` names the kind of model (patch classifier, segmentation network) a loader checks for.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": fmt, "version": version, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"radpath": json.dumps(full)})
    Path(f"{path}.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
        if "radpath" not in header:
            raise ModelFileError(f"model file {path}: safetensors file without radpath metadata")
        return tensors, json.loads(header["radpath"])
    except (SafetensorError, OSError, ValueError):
        pass
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise ModelFileError(
                f"model file {path}: refused, loading it would run code (pickled objects beyond tensors)"
            ) from None
        raise ModelFileError(f"model file {path}: not a safetensors or torch weights file ({exc})") from None
    if not isinstance(blob, dict) or "state_dict" not in blob or "meta" not in blob:
        raise ModelFileError(f"model file {path}: a torch file without 'state_dict' and 'meta'")
    meta = blob["meta"]
    return dict(blob["state_dict"]), json.loads(meta) if isinstance(meta, str) else dict(meta)


def read_meta(path: str | Path) -> dict[str, Any]:
    """A model file's metadata, or a zoo folder's (from its config.json; nothing is loaded)."""
    if Path(path).is_dir():
        from radpath.pathology import zoo

        return zoo.read_meta(path)
    if not Path(path).is_file():
        raise ModelFileError(f"model file {path} does not exist")
    return _read(Path(path))[1]


def read_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and metadata of any radpath model file (safetensors, or a weights-only torch file);
    other model kinds (cell detectors) check the metadata's `format` themselves."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    return _read(path)


def model_hash(path: str | Path) -> str:
    """sha256 of a model file, or of a zoo folder's config and weights (`zoo.folder_hash`)."""
    from radpath.warehouse.runs import hash_file

    if Path(path).is_dir():
        from radpath.pathology import zoo

        return zoo.folder_hash(path)
    return hash_file(Path(path))


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
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    tensors, meta = _read(path)
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"model file {path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if task is not None and meta.get("task") != task:
        raise ModelFileError(f"model file {path}: a {meta.get('task')!r} model, expected a {task!r} model")
    if input_px is not None and int(meta.get("input_px", -1)) != input_px:
        raise ModelFileError(f"model file {path}: input size {meta.get('input_px')} px, expected {input_px} px")
    return instantiate(path, tensors, meta, build, device), meta


def instantiate(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
    build: Callable[..., nn.Module], device: str = "cpu",
) -> nn.Module:
    """The network `build(meta['arch'], **meta['arch_kwargs'])` with a model file's weights, in eval mode on
    `device`; weights that do not fit are a ModelFileError naming the file (patch, cell and tissue models)."""
    model = build(str(meta.get("arch")), **meta.get("arch_kwargs", {}))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ModelFileError(f"model file {path}: weights do not fit architecture {meta.get('arch')}: {exc}") from None
    return model.eval().to(device)


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelFileError("--device cuda asked for, but torch sees no CUDA device")
    return device
