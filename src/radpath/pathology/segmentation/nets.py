"""Segmentation networks (segmentation-models-pytorch) in an explicit registry, and their model files.

The paper's networks (its table of IoU on TIGER's stroma task): U-Net with a VGG16 encoder (.830),
U-Net with a ResNet34 encoder (.862), FPN with a ResNet34 encoder (.864). Encoders start from random
weights (`encoder_weights=None`: nothing is downloaded) or from a local weights file. Small CPU
options: the ResNet18 encoder and timm's ResNet10-T, with `depth` 3 (three encoder stages).

A model file is the shared format (`radpath.pathology.models.save_model`: safetensors
tensors + JSON metadata, never a pickle) with format "radpath-segmentation" and the metadata
label_set, arch, arch_kwargs, tile_px, margin_px, mpp, mean, std, metrics, history, data_hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from radpath.errors import ModelFileError
from radpath.pathology.models import read_model_file, save_model
from radpath.pathology.segmentation.labels import label_set

FORMAT = "radpath-segmentation"
FORMAT_VERSION = 1
ARCHS = ("unet", "fpn")
ENCODERS: dict[str, str] = {      # radpath name -> segmentation-models-pytorch encoder name
    "resnet34": "resnet34",
    "vgg16": "vgg16",
    "resnet18": "resnet18",
    "resnet10t": "tu-resnet10t",
}


def build_net(arch: str, encoder: str, n_classes: int, depth: int = 5) -> nn.Module:
    """A U-Net or FPN with `depth` encoder stages and `n_classes` output channels, random weights."""
    import segmentation_models_pytorch as smp

    if arch not in ARCHS:
        raise ModelFileError(f"unknown segmentation architecture {arch!r}; known: {list(ARCHS)}")
    if encoder not in ENCODERS:
        raise ModelFileError(f"unknown encoder {encoder!r}; known: {sorted(ENCODERS)}")
    if not 3 <= depth <= 5:
        raise ModelFileError(f"encoder depth must be 3 to 5, got {depth}")
    name = ENCODERS[encoder]
    if arch == "unet":
        decoder = tuple(max(8, 256 // 2**i) for i in range(depth)) if depth == 5 else (64, 32, 16, 8)[-depth:]
        return smp.Unet(encoder_name=name, encoder_weights=None, encoder_depth=depth, classes=n_classes,
                        decoder_channels=decoder)
    # smp's FPN merges its pyramid at a stride that grows with depth: upsample by 4 at depth 5, 1 at depth 3
    return smp.FPN(encoder_name=name, encoder_weights=None, encoder_depth=depth, classes=n_classes,
                   decoder_pyramid_channels=256 if depth == 5 else 64,
                   decoder_segmentation_channels=128 if depth == 5 else 32, upsampling=2 ** (depth - 3))


def net_from_meta(meta: dict[str, Any]) -> nn.Module:
    kwargs = meta.get("arch_kwargs", {})
    return build_net(str(meta.get("arch")), str(kwargs.get("encoder")), int(kwargs.get("n_classes", 0)),
                     int(kwargs.get("depth", 5)))


def save_seg_model(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    return save_model(path, model, meta, fmt=FORMAT, version=FORMAT_VERSION)


def check_meta(path: str | Path, meta: dict[str, Any], *, labels: str | None = None,
               tile_px: int | None = None) -> None:
    """Refuse a model file of another kind, label set or tile size, naming the file."""
    if meta.get("format") != FORMAT:
        kind = meta.get("format")
        what = f"a {meta.get('task')!r} patch classifier" if kind == "radpath-patch-classifier" else f"format {kind!r}"
        raise ModelFileError(f"model file {path}: {what}, expected a segmentation model ({FORMAT})")
    label_set(str(meta.get("label_set")))
    if labels is not None and meta.get("label_set") != labels:
        raise ModelFileError(f"model file {path}: trained for labels {meta.get('label_set')!r}, expected {labels!r}")
    if tile_px is not None and int(meta.get("tile_px", -1)) != tile_px:
        raise ModelFileError(f"model file {path}: tile size {meta.get('tile_px')} px, expected {tile_px} px")


def read_seg_meta(path: str | Path, *, labels: str | None = None, tile_px: int | None = None) -> dict[str, Any]:
    meta = read_model_file(path)[1]
    check_meta(path, meta, labels=labels, tile_px=tile_px)
    return meta


def load_seg_model(
    path: str | Path, *, labels: str | None = None, tile_px: int | None = None, device: str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved segmentation network (eval mode, on `device`) and its metadata."""
    tensors, meta = read_model_file(path)
    check_meta(path, meta, labels=labels, tile_px=tile_px)
    model = net_from_meta(meta)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ModelFileError(f"model file {path}: weights do not fit {meta.get('arch')} / "
                             f"{meta.get('arch_kwargs')}: {exc}") from None
    model.eval().to(device)
    return model, meta
