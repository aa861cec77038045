"""Training and evaluating a segmentation network as the paper does, with a small CPU preset.

The paper: 512 x 512 tiles at ~0.5 um/px, random 90-degree rotations and flips, Dice loss, Adam at
1e-4 for 15 epochs then 1e-5 for 10, batch 16, the checkpoint of the best validation epoch kept.
`PRESETS["cpu"]` (the default, as `train-til` defaults to a small CPU model): 64 px tiles at
2 um/px, a ResNet10-T U-Net of depth 3, Adam 1e-3 then 1e-4. Tiles are normalised per channel
with the training split's mean and SD; validation tiles are a held-out share of the source regions.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radpath import __version__
from radpath.errors import ConfigError
from radpath.pathology.cards import colour_stats, training_data
from radpath.pathology.models import check_model_name
from radpath.pathology.segmentation.data import TileData, load_tiles
from radpath.pathology.segmentation.labels import LabelSet, label_set
from radpath.pathology.segmentation.nets import build_net, save_seg_model
from radpath.pathology.tiling import run_batches
from radpath.pathology.tissue import dice_iou
from radpath.pathology.training import optimise


@dataclass(frozen=True)
class SegTrainConfig:
    arch: str = "unet"
    encoder: str = "resnet34"
    depth: int = 5
    labels: str = "tiger"
    tile_px: int = 512
    mpp: float = 0.5
    epochs: int = 25
    lr: float = 1e-4
    lr_drop_epoch: int = 15       # lr x 0.1 from this epoch on (0-based)
    batch: int = 16
    val_fraction: float = 0.2
    seed: int = 1
    init_weights: str | None = None   # local encoder weights (safetensors / torch state dict); no downloads
    data_mpp: float | None = None     # microns per pixel of the data when dataset.json lacks it
    device: str = "cpu"


PRESETS: dict[str, SegTrainConfig] = {
    "paper": SegTrainConfig(),
    "cpu": SegTrainConfig(encoder="resnet10t", depth=3, tile_px=64, mpp=2.0, epochs=8, lr=1e-3,
                          lr_drop_epoch=6, batch=16),
}


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft multi-class Dice loss: 1 - mean over classes present in batch or prediction of
    (2 sum(p t) + eps) / (sum(p) + sum(t) + eps), with p the softmax and t the one-hot target."""
    prob = torch.softmax(logits.float(), 1)
    onehot = nn.functional.one_hot(target, prob.shape[1]).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    total = prob.sum(dims) + onehot.sum(dims)
    score = (2 * inter + eps) / (total + eps)
    present = onehot.sum(dims) > 0
    return 1.0 - score[present].mean() if bool(present.any()) else 1.0 - score.mean()


def augment(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 90-degree rotations and horizontal flips (together: the 8 symmetries of a square)."""
    k = torch.randint(0, 4, (len(x),), generator=generator)
    flip = torch.rand(len(x), generator=generator) < 0.5
    xs, ys = [], []
    for i in range(len(x)):
        xi, yi = torch.rot90(x[i], int(k[i]), (1, 2)), torch.rot90(y[i], int(k[i]), (0, 1))
        if flip[i]:
            xi, yi = xi.flip(2), yi.flip(1)
        xs.append(xi)
        ys.append(yi)
    return torch.stack(xs), torch.stack(ys)


def predict_tiles(model: nn.Module, images: np.ndarray, mean: list[float], std: list[float], device: str,
                  batch: int = 32) -> np.ndarray:
    """Class index per pixel (N x T x T int64) of uint8 NHWC tiles, through the shared inference loop."""
    model.eval()
    out = np.empty(images.shape[:3], np.int64)
    batches = ((np.arange(s, min(s + batch, len(images))), images[s : s + batch])
               for s in range(0, len(images), batch))
    for index, logits in run_batches(model, batches, mean=mean, std=std, device=device):
        out[index] = logits.argmax(1).numpy()
    return out


def evaluate(model: nn.Module, tiles: TileData, labels: LabelSet, mean: list[float], std: list[float],
             device: str = "cpu") -> dict[str, dict[str, float]]:
    """Dice and IoU per evaluated label group of `labels` on the tiles (pixels over all tiles pooled)."""
    pred = labels.labels_of(predict_tiles(model, tiles.images, mean, std, device))
    truth = labels.labels_of(labels.classes_of(tiles.labels))
    groups = [group for _, group in labels.evaluated]
    scores = dice_iou(pred, truth, groups)
    return {name: scores[group] for name, group in labels.evaluated}


def _split(tiles: TileData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation indices: whole source regions when there are at least 5, else single tiles."""
    rng = np.random.default_rng(seed)
    sources = np.array([name.split("@")[0] for name in tiles.names])
    groups = np.unique(sources)
    if len(groups) >= 5:
        k = max(1, int(round(len(groups) * fraction)))
        val = np.isin(sources, rng.permutation(groups)[:k])
    else:
        val = np.zeros(len(sources), bool)
        val[rng.permutation(len(sources))[: max(1, int(round(len(sources) * fraction)))]] = True
    return np.flatnonzero(~val), np.flatnonzero(val)


def train_segmentation(data: str | Path, config: SegTrainConfig, out: str | Path, log: Any = None
                       ) -> dict[str, Any]:
    """Train on `data`, keep the best validation epoch, save it to `out`; returns the metadata."""
    check_model_name(out)
    labels = label_set(config.labels)
    if config.tile_px % 32:
        raise ConfigError(f"tile size must be a multiple of 32 px (the encoder's stride), got {config.tile_px}")
    torch.manual_seed(config.seed)
    tiles = load_tiles(data, config.tile_px, mpp=config.mpp, data_mpp=config.data_mpp,
                       stride=config.tile_px)
    train_idx, val_idx = _split(tiles, config.val_fraction, config.seed)
    if len(train_idx) == 0:
        raise ConfigError(f"segmentation data {data}: too few tiles to hold out a validation share")
    val = TileData(tiles.images[val_idx], tiles.labels[val_idx], [tiles.names[i] for i in val_idx],
                   tiles.mpp, tiles.data_hash)
    device = config.device
    x_all = torch.from_numpy(tiles.images[train_idx]).permute(0, 3, 1, 2).contiguous()
    y_all = torch.from_numpy(labels.classes_of(tiles.labels[train_idx]))
    as_float = x_all.float() / 255.0
    mean = as_float.mean(dim=(0, 2, 3)).tolist()
    std = as_float.std(dim=(0, 2, 3)).clamp(min=1e-3).tolist()
    del as_float
    model = build_net(config.arch, config.encoder, labels.n_classes, config.depth)
    if config.init_weights:
        from radpath.pathology.training import load_init_weights

        load_init_weights(model.encoder, config.init_weights, skip=())  # type: ignore[arg-type]
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=device.startswith("cuda"))
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    started = time.perf_counter()
    for epoch in range(config.epochs):
        lr = config.lr * (0.1 if epoch >= config.lr_drop_epoch else 1.0)
        for group in optimiser.param_groups:
            group["lr"] = lr
        model.train()
        order = torch.randperm(len(y_all), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch):
            idx = order[start : start + config.batch]
            if len(idx) < 2:
                continue  # batch norm needs two samples
            xb, yb = augment(x_all[idx], y_all[idx], generator)
            xb = (xb.to(device).float() / 255.0 - mean_t) / std_t
            with torch.autocast("cuda", enabled=device.startswith("cuda")):
                loss = dice_loss(model(xb), yb.to(device))
            total += optimise(optimiser, loss, scaler) * len(idx)
        metrics = evaluate(model, val, labels, mean, std, device)
        stroma_iou = metrics["stroma"]["iou"]
        history.append({"epoch": epoch + 1, "lr": lr, "loss": total / max(1, len(order)),
                        **{f"{k}_{m}": v[m] for k, v in metrics.items() for m in ("dice", "iou")}})
        if log is not None:
            log(history[-1])
        if best is None or np.nan_to_num(stroma_iou, nan=-1.0) > best[0]:
            best = (float(np.nan_to_num(stroma_iou, nan=-1.0)), epoch + 1,
                    {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    assert best is not None
    model.load_state_dict(best[2])
    meta = {
        "task": "segmentation",
        "label_set": labels.name,
        "arch": config.arch,
        "arch_kwargs": {"encoder": config.encoder, "depth": config.depth, "n_classes": labels.n_classes},
        "tile_px": config.tile_px,
        "margin_px": config.tile_px // 8,
        "mpp": config.mpp,
        "mean": mean,
        "std": std,
        "best_epoch": best[1],
        "metrics": history[best[1] - 1],
        "history": history,
        "data_hash": tiles.data_hash,
        "training_data": training_data(data, data_hash=tiles.data_hash, mpp=config.mpp, stain="he"),
        "colour": colour_stats(tiles.images[train_idx]),
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "training": {k: v for k, v in asdict(config).items() if k != "device"},
        "train_seconds": time.perf_counter() - started,
        "radpath_version": __version__,
    }
    save_seg_model(out, model, meta)
    return meta


def preset(name: str, **overrides: Any) -> SegTrainConfig:
    """A preset with the given fields replaced (None values keep the preset's)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
