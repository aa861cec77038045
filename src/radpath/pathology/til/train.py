"""Training a 2-class patch classifier as the TIL-map paper does.

Data: an ImageFolder-style folder (two class sub-folders of PNG/JPEG patches) or a CSV of
`path,label` (paths relative to the CSV). An optional `dataset.json` beside the patches gives
`patch_px` and `mpp` (the physical size the model will tile slides at). Training: per-channel
normalisation with the training split's mean and SD; augmentation (rotation 0-22.5 degrees,
horizontal and vertical flips, brightness / contrast / saturation jitter) in plain torch; SGD
(lr 0.01, momentum 0.9, weight decay 1e-4) on cross-entropy; the backbone frozen for the first
`freeze_epochs` epochs (the paper: 3 for cancer, 5 for lymphocyte models), then all weights.
Validation accuracy, F1 and AUC are reported and stored in the model file's metadata.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radpath import __version__
from radpath.errors import ConfigError
from radpath.pathology.cards import colour_stats, training_data
from radpath.pathology.models import check_model_name
from radpath.pathology.til.nets import TASKS, build, save_classifier
from radpath.pathology.training import load_init_weights, optimise

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
DEFAULT_GEOMETRY = {"tumor": (350, 0.25), "lymphocyte": (100, 0.5)}   # paper: 350 px at 40x, 100 px at 20x


@dataclass
class PatchData:
    images: torch.Tensor          # N x 3 x S x S uint8
    labels: torch.Tensor          # N int64, 1 = positive
    classes: list[str]
    patch_px: int
    mpp: float
    data_hash: str


@dataclass
class TrainConfig:
    task: str
    arch: str = "resnet18"
    width: int = 64
    input_px: int | None = None          # network input size; default the native patch size
    epochs: int = 20
    freeze_epochs: int = 0
    batch: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    positive: str = "positive"
    seed: int = 1
    init_weights: str | None = None      # local weights file (safetensors/state dict) for the backbone
    device: str = "cpu"
    mpp: float | None = None
    patch_px: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _listing(data: Path) -> list[tuple[Path, str]]:
    if data.is_file() and data.suffix.lower() == ".csv":
        with data.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise ConfigError(f"patch list {data}: expected a CSV with columns path,label")
        return [(data.parent / row["path"], str(row["label"])) for row in rows]
    if not data.is_dir():
        raise ConfigError(f"patch data {data}: expected a folder of class sub-folders or a CSV of path,label")
    items = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        items += [(f, folder.name) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return items


def load_patches(
    data: str | Path, task: str, *, positive: str = "positive", input_px: int | None = None,
    patch_px: int | None = None, mpp: float | None = None,
) -> PatchData:
    """Read every patch (resized to `input_px`) with labels 1 for `positive`, 0 for the other class."""
    from PIL import Image

    data = Path(data)
    items = _listing(data)
    classes = sorted({label for _, label in items})
    if len(classes) != 2 or positive not in classes:
        raise ConfigError(f"patch data {data}: expected two classes including {positive!r}, found {classes}")
    info_file = (data if data.is_dir() else data.parent) / "dataset.json"
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    if info.get("task") not in (None, task):
        raise ConfigError(f"patch data {data}: dataset.json says task {info.get('task')!r}, not {task!r}")
    digest = hashlib.sha256()
    arrays, labels = [], []
    native = None
    for path, label in items:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + label.encode() + b"\0" + raw)
        image = Image.open(path).convert("RGB")
        native = native or image.size[0]
        size = input_px or native
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(image))
        labels.append(1 if label == positive else 0)
    default_px, default_mpp = DEFAULT_GEOMETRY[task]
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return PatchData(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        classes=[c for c in classes if c != positive] + [positive],
        patch_px=int(patch_px or info.get("patch_px") or native or default_px),
        mpp=float(mpp or info.get("mpp") or default_mpp),
        data_hash=digest.hexdigest(),
    )


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random rotation (0-22.5 deg), flips, brightness/contrast/saturation jitter of a float batch in [0, 1]."""
    n = x.shape[0]
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * (hi - lo) + lo).to(dev)

    angle = uniform(0.0, 22.5) * math.pi / 180.0
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = nn.functional.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    flip_h = (torch.rand(n, generator=generator) < 0.5).to(dev)
    flip_v = (torch.rand(n, generator=generator) < 0.5).to(dev)
    x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)
    x = x * uniform(0.85, 1.15)[:, None, None, None]                              # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(0.85, 1.15)[:, None, None, None] + mean              # contrast
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * uniform(0.85, 1.15)[:, None, None, None] + grey              # saturation
    return x.clamp(0.0, 1.0)


def binary_metrics(labels: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, F1 (positive class) and ROC AUC of positive-class probabilities."""
    from sklearn.metrics import f1_score, roc_auc_score

    pred = (prob >= threshold).astype(int)
    auc = float(roc_auc_score(labels, prob)) if len(set(labels.tolist())) == 2 else float("nan")
    return {
        "accuracy": float((pred == labels).mean()),
        "f1": float(f1_score(labels, pred, zero_division=0)),
        "auc": auc,
        "n_val": int(len(labels)),
    }


def predict(model: nn.Module, images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: str,
            batch: int = 256) -> np.ndarray:
    """Positive-class probabilities of uint8 image batches (no augmentation)."""
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = images[start : start + batch].to(device).float() / 255.0
            with torch.autocast("cuda", enabled=device.startswith("cuda")):
                logits = model((x - mean) / std)
            out.append(torch.softmax(logits.float(), 1)[:, 1].cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def train_classifier(
    data: str | Path, config: TrainConfig, out: str | Path, log: Any = None
) -> dict[str, Any]:
    """Train on `data`, save the model to `out`; returns its metadata (with validation metrics)."""
    check_model_name(out)
    if config.task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {config.task!r}")
    torch.manual_seed(config.seed)
    patches = load_patches(
        data, config.task, positive=config.positive, input_px=config.input_px, patch_px=config.patch_px,
        mpp=config.mpp,
    )
    n = len(patches.labels)
    rng = np.random.default_rng(config.seed)
    val_idx, train_idx = [], []
    for label in (0, 1):  # stratified split
        members = rng.permutation(np.flatnonzero(patches.labels.numpy() == label))
        k = max(1, int(round(len(members) * config.val_fraction)))
        val_idx += members[:k].tolist()
        train_idx += members[k:].tolist()
    train_x, train_y = patches.images[train_idx], patches.labels[train_idx]
    val_x, val_y = patches.images[val_idx], patches.labels[val_idx]
    device = config.device
    as_float = train_x.float() / 255.0
    mean = as_float.mean(dim=(0, 2, 3)).view(1, 3, 1, 1).to(device)
    std = as_float.std(dim=(0, 2, 3)).clamp(min=1e-3).view(1, 3, 1, 1).to(device)
    model = build(config.arch, width=config.width)
    if config.init_weights:
        load_init_weights(model, config.init_weights)
    model.to(device)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device.startswith("cuda"))
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        frozen = epoch < config.freeze_epochs
        for param in model.backbone.parameters():  # type: ignore[union-attr]
            param.requires_grad_(not frozen)
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch):
            idx = order[start : start + config.batch]
            xb = augment(train_x[idx].to(device).float() / 255.0, generator)
            yb = train_y[idx].to(device)
            with torch.autocast("cuda", enabled=device.startswith("cuda")):
                loss = loss_fn(model((xb - mean) / std), yb)
            total += optimise(optimiser, loss, scaler) * len(idx)
        metrics = binary_metrics(val_y.numpy(), predict(model, val_x, mean, std, device))
        history.append({"epoch": epoch + 1, "loss": total / max(1, len(order)), "frozen": frozen, **metrics})
        if log is not None:
            log(history[-1])
    meta = {
        "task": config.task,
        "arch": config.arch,
        "arch_kwargs": {"width": config.width},
        "input_px": int(train_x.shape[-1]),
        "patch_px": patches.patch_px,
        "mpp": patches.mpp,
        "classes": patches.classes,
        "mean": mean.flatten().cpu().tolist(),
        "std": std.flatten().cpu().tolist(),
        "metrics": history[-1] if history else {},
        "history": history,
        "data_hash": patches.data_hash,
        "training_data": training_data(data, data_hash=patches.data_hash, mpp=patches.mpp, stain="he"),
        "colour": colour_stats(train_x.numpy(), channels_first=True),
        "n_train": len(train_y),
        "training": {k: v for k, v in vars(config).items() if k not in {"extra", "device"}},
        "train_seconds": time.perf_counter() - started,
        "radpath_version": __version__,
        "n_patches": n,
    }
    save_classifier(out, model, meta)
    return meta
