"""What a model file says about where it holds: its training data and the colour of its training tissue.

Every trainer (patch classifiers, tissue segmentation, cell detectors) stores two entries in the model
file's metadata (its card):

* `training_data`: {synthetic, dataset, hash, mpp, stain, source, note}. `synthetic`, `dataset`, `stain` and
  `source` come from the training folder's `dataset.json` (radpath's synthetic study writes
  `"synthetic": true, "dataset": "radpath synthetic study"`; a folder without them is recorded as not
  synthetic, dataset = the folder's name); `hash` is the trainer's hash of the training data, `mpp` the
  microns per pixel the model was trained at. A synthetic dataset adds the note SYNTHETIC_NOTE.
* `colour`: the colours of the training tissue, `colour_stats` of the training images (below).

Colour and optical density (OD). A pixel's OD per channel is -log10(I / 255) (I clipped at 1); a pixel is
tissue when its summed OD reaches TISSUE_OD (glass and bright fat are not). At training time the tissue pixels
of the training images, as the network saw them (at its input size and microns per pixel), are summarised by
K_COLOURS k-means centres in OD space (`colour_stats`; the mean colour is kept for people too). A slide is
compared like with like: N_SAMPLES tissue patches are read from it at the model's geometry
(radpath.pathology.qc), each tissue pixel goes to its nearest training centre, and `colour_distance` is the
mean, weighted by the pixels each holds, of how far the slide's pixels of a centre lie from it on average
(||mean OD of the slide's pixels nearest centre c - c||, over the centres holding at least 1 % of them).
The distance does not depend on how much tumour or stroma a slide has (the mix changes the weights, not
where each colour lies), and grows with a stain or scanner shift of any of the colours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

TISSUE_OD = 0.15      # summed OD (R + G + B) from which a pixel counts as tissue (glass ~0.03, pale stroma ~0.3)
K_COLOURS = 8         # k-means centres summarising the training tissue's colours
MIN_SHARE = 0.01      # a centre counts in the distance when it holds at least this share of the slide's pixels
MAX_PIXELS = 100_000  # pixels (a seeded random subset) behind the centres and the distance
SYNTHETIC_NOTE = "trained on the synthetic study; not for real slides"


def _dataset_json(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    info_file = (folder if folder.is_dir() else folder.parent) / "dataset.json"
    if not info_file.is_file():
        return {}
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def training_data(folder: str | Path, *, data_hash: str, mpp: float, stain: str = "he") -> dict[str, Any]:
    """The model card's `training_data` entry for a model trained on `folder` (see the module docstring);
    `stain` is used when dataset.json names none."""
    info = _dataset_json(folder)
    synthetic = bool(info.get("synthetic", False))
    path = Path(folder)
    return {
        "synthetic": synthetic,
        "dataset": str(info.get("dataset") or (path.name if path.is_dir() else path.parent.name)),
        "hash": data_hash,
        "mpp": float(mpp),
        "stain": str(info.get("stain") or stain),
        "source": info.get("source"),
        "note": SYNTHETIC_NOTE if synthetic else None,
    }


def tissue_od(images: Iterable[np.ndarray], channels_first: bool = False) -> np.ndarray:
    """(N, 3) optical densities of the tissue pixels of `images` (each H x W x 3 uint8, or 3 x H x W with
    `channels_first`; a batch array works as an iterable of images)."""
    parts = []
    for image in images:
        array = np.asarray(image)
        if channels_first:
            array = np.moveaxis(array, 0, -1)
        pixels = array[..., :3].reshape(-1, 3).astype(np.float32)
        od = -np.log10(np.maximum(pixels, 1.0) / 255.0)
        parts.append(od[od.sum(1) >= TISSUE_OD])
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)


def _subsample(od: np.ndarray, n: int = MAX_PIXELS, seed: int = 0) -> np.ndarray:
    if len(od) <= n:
        return od
    return od[np.random.default_rng(seed).choice(len(od), n, replace=False)]


def colour_stats(images: Iterable[np.ndarray], channels_first: bool = False) -> dict[str, Any]:
    """The card's `colour` entry: K_COLOURS k-means centres of the training tissue's OD and its mean colour
    (see the module docstring); {"centres": None, ...} when the images hold no tissue."""
    from scipy.cluster.vq import kmeans2

    od = _subsample(tissue_od(images, channels_first)).astype(np.float64)
    out: dict[str, Any] = {"method": "od-kmeans", "k": K_COLOURS, "tissue_od": TISSUE_OD, "n_pixels": int(len(od)),
                           "centres": None, "mean_rgb": None}
    if len(od) < 10 * K_COLOURS:
        return out
    centres, _ = kmeans2(od, K_COLOURS, seed=1, minit="++")
    out["centres"] = [[round(float(v), 5) for v in c] for c in centres]
    out["mean_rgb"] = [round(float(v), 2) for v in (255.0 * 10.0 ** -od).mean(0)]
    return out


def colour_distance(od: np.ndarray, colour: dict[str, Any] | None) -> float:
    """How far the tissue pixels `od` ((N, 3) optical densities) lie from a card's training colours (OD units;
    see the module docstring); NaN without centres or pixels."""
    if not colour or colour.get("centres") is None or len(od) == 0:
        return float("nan")
    from scipy.spatial import cKDTree

    centres = np.asarray(colour["centres"], np.float64)
    od = _subsample(np.asarray(od, np.float64))
    nearest = cKDTree(centres).query(od)[1]
    shifts, weights = [], []
    for c in range(len(centres)):
        members = nearest == c
        if members.sum() >= MIN_SHARE * len(od):
            shifts.append(float(np.linalg.norm(od[members].mean(0) - centres[c])))
            weights.append(float(members.mean()))
    return float(np.average(shifts, weights=weights)) if shifts else float("nan")


def card(meta: dict[str, Any]) -> dict[str, Any]:
    """The card entries of a model's metadata: its training data and colour (empty when it has none, e.g. a
    published WSInfer zoo model)."""
    return {key: meta[key] for key in ("training_data", "colour") if meta.get(key) is not None}
