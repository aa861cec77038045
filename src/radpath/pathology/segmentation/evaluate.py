"""evaluate-seg: a segmentation model against held-out label masks, under one or more evaluation protocols.

* radpath (radpath's own, `train.evaluate`): the regions at the model's microns per pixel cut into tiles (as
  for training); Dice and IoU per label group of the model's label set (`LabelSet.evaluated`: TIGER's
  tumour and stroma groups, then each label) over every pixel of the tiles pooled, glass and unannotated
  pixels included.
* tiger (the TIGER challenge's `eval_segm.py`, `metrics.tiger_confusion`): each region is segmented whole
  (its tiles stitched at the model's mpp, then brought back to the ground truth's pixels by nearest
  neighbour, since the official code evaluates at the annotations' 0.5 µm/px); one tumour / stroma / rest
  confusion matrix per slide over its annotated pixels (ground truth 0 ignored; predicted 0 ignored unless
  `pred_zero="rest"`), the slides' matrices summed; F1 (= Dice), Jaccard, precision and recall per class
  from the pooled matrix. Regions of one slide are recognised by TIGER's WSIROIS names
  (`<slide>_[x0, y0, x1, y1].png`); any other name is a slide of its own.

The default protocol follows the folder's layout: TIGER's WSIROIS (`images/` + `masks/`) -> tiger, name +
name_mask pairs -> radpath.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import ConfigError
from radpath.pathology.evaluations import check_protocols
from radpath.pathology.segmentation.data import (
    dataset_mpp,
    layout,
    list_pairs,
    load_tiles,
    pad_region,
    read_pair,
    resample_region,
    tile_grid,
)
from radpath.pathology.segmentation.labels import LabelSet, label_set
from radpath.pathology.segmentation.metrics import tiger_confusion, tiger_scores

PROTOCOLS = ("radpath", "tiger")
LAYOUT_PROTOCOL = {"wsirois": "tiger", "pairs": "radpath"}
PRED_ZERO = ("ignore", "rest")


def default_protocol(data: str | Path) -> str:
    return LAYOUT_PROTOCOL[layout(data)]


def slide_of(stem: str) -> str:
    """The slide a WSIROIS region belongs to (`<slide>_[x0, y0, x1, y1]`), else the region's own name."""
    head, sep, tail = stem.rpartition("_[")
    return head if sep and tail.endswith("]") else stem


def segment_region(net: Any, meta: dict[str, Any], labels: LabelSet, image: np.ndarray, device: str) -> np.ndarray:
    """TIGER labels of a whole region (already at the model's mpp): its tiles segmented and stitched."""
    from radpath.pathology.segmentation.train import predict_tiles

    tile = int(meta["tile_px"])
    h, w = image.shape[:2]
    padded, _ = pad_region(image, np.zeros((h, w), np.uint8), tile)
    origins = tile_grid(padded.shape[0], padded.shape[1], tile, tile)
    tiles = np.stack([padded[y : y + tile, x : x + tile] for y, x in origins])
    pred = labels.labels_of(predict_tiles(net, tiles, meta["mean"], meta["std"], device))
    canvas = np.zeros(padded.shape[:2], np.uint8)
    for (y, x), values in zip(origins, pred, strict=True):
        canvas[y : y + tile, x : x + tile] = values
    return canvas[:h, :w]


def _tiger(net: Any, meta: dict[str, Any], labels: LabelSet, data: str | Path, data_mpp: float | None,
           device: str, pred_zero: str) -> dict[str, Any]:
    from PIL import Image

    mpp = float(meta["mpp"])
    source_mpp = dataset_mpp(data, data_mpp) or mpp
    slides: dict[str, np.ndarray] = {}
    pairs = list_pairs(data)
    for image_path, mask_path in pairs:
        image, truth = read_pair(image_path, mask_path)
        work, _ = resample_region(image, truth, source_mpp, mpp)
        pred = segment_region(net, meta, labels, work, device)
        if pred.shape != truth.shape:
            pred = np.asarray(Image.fromarray(pred).resize(truth.shape[::-1], Image.Resampling.NEAREST))
        cm = tiger_confusion(truth, pred, ignore_pred_zero=pred_zero == "ignore")
        key = slide_of(image_path.stem)
        slides[key] = slides.get(key, np.zeros((3, 3), np.int64)) + cm
    return {"classes": tiger_scores(list(slides.values())), "n_slides": len(slides), "n_regions": len(pairs),
            "pred_zero": pred_zero, "eval_mpp": source_mpp,
            "confusion": np.sum(list(slides.values()), axis=0).tolist()}


def evaluate_seg(
    data: str | Path, model_path: str | Path, *, protocols: Sequence[str] | None = None,
    data_mpp: float | None = None, device: str = "cpu", pred_zero: str = "ignore",
) -> dict[str, Any]:
    """Scores of the model file on the held-out folder under each protocol (see the module docstring)."""
    from radpath.pathology.segmentation.nets import load_seg_model
    from radpath.pathology.segmentation.train import evaluate

    chosen = check_protocols(list(protocols) if protocols else [default_protocol(data)], PROTOCOLS)
    if pred_zero not in PRED_ZERO:
        raise ConfigError(f"predicted-zero rule {pred_zero!r}: expected one of {list(PRED_ZERO)}")
    net, meta = load_seg_model(model_path, device=device)
    labels = label_set(str(meta["label_set"]))
    out: dict[str, Any] = {"tile_px": int(meta["tile_px"]), "mpp": float(meta["mpp"]),
                           "label_set": labels.name, "protocols": {}}
    for name in chosen:
        if name == "radpath":
            tiles = load_tiles(data, int(meta["tile_px"]), mpp=float(meta["mpp"]), data_mpp=data_mpp)
            scores = evaluate(net, tiles, labels, meta["mean"], meta["std"], device)
            out["protocols"][name] = {"classes": scores, "n_tiles": len(tiles.names)}
        else:
            out["protocols"][name] = _tiger(net, meta, labels, data, data_mpp, device, pred_zero)
    return out


def evaluation_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The result as `pathology_evaluations` rows."""
    from radpath.pathology.evaluations import metric_rows

    return [row for name, part in result["protocols"].items() for row in metric_rows(name, part["classes"])]
