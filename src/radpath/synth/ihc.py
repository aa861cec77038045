"""Synthetic Ki-67 immunohistochemistry fields of view with exact cell-centre truth.

A field of view (FOV) is a `FOV_PX` x `FOV_PX` RGB image at `MPP` microns per pixel: a pale, lightly
textured background with three kinds of nuclei painted as soft ellipses in random order (later ones
over earlier ones, so touching and overlapping cells occur):

* Ki-67 immunopositive tumour nuclei: brown (DAB), radius ~ 6-7.5 px (3-3.75 um);
* Ki-67 immunonegative tumour nuclei: blue (haematoxylin), same size;
* lymphocytes: small (radius ~ 3.5-4.5 px), dark, round.

Every nucleus's centre is known exactly (float pixels) and written beside the image as the
SHIDC-B-Ki-67 label format: a JSON list of {"x", "y", "label_id"} with label_id 1 = positive,
2 = negative, 3 = lymphocyte (as in the PathoNet repository's data).

Per patient the Ki-67 rate is a latent drawn here (by subtype: HR+/HER2- low, HER2+ middle, TNBC high,
times log-normal noise) and the lymphocyte share of cells follows the truth table's `til_pct`. The
planted counts, the exact Ki-67 index and cell TIL score of each patient go to `ihc/<cohort>/truth.csv`.

Layouts written by `render_ihc` (its own rng stream, seeded from (seed, SEED_OFFSET), so adding it
changes no other renderer's draws):

    ihc/train/     labelled training FOVs (NNN.png + NNN.json) and dataset.json (mpp, label codes)
    ihc/test/      held-out labelled FOVs, same layout
    ihc/<cohort>/<patient_id>/fov_K.png (+ .json truth)   the FOLDER layout detect-cells reads
    ihc/<cohort>/images.csv   patient_id,image,mpp         the manifest-driven layout
    ihc/<cohort>/truth.csv    planted per-patient counts and scores
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radpath.synth.truth import TRAIN

MPP = 0.5
FOV_PX = 256
SEED_OFFSET = 1313
LABEL_IDS = {"ki67_positive": 1, "ki67_negative": 2, "lymphocyte": 3}
KI67_BASE = {"HR+/HER2-": 12.0, "HER2+": 25.0, "TNBC": 45.0}
N_TUMOUR = 34              # mean tumour nuclei per FOV (SHIDC-B-Ki-67: ~69 cells per larger image)

BACKGROUND = np.array([236, 228, 222], float)
COLOURS = {
    "ki67_positive": np.array([142, 84, 40], float),
    "ki67_negative": np.array([104, 118, 176], float),
    "lymphocyte": np.array([46, 44, 96], float),
}
RADIUS = {"ki67_positive": (6.0, 7.5), "ki67_negative": (6.0, 7.5), "lymphocyte": (3.5, 4.5)}


def _place(rng: np.random.Generator, n: int, size: int, taken: list[tuple[float, float, float]], radius: float,
           overlap: float) -> list[tuple[float, float]]:
    """Up to n centres whose distance to taken ones is >= (r1 + r2) * overlap (so nuclei may touch)."""
    out: list[tuple[float, float]] = []
    for _ in range(n * 30):
        if len(out) == n:
            break
        x, y = rng.uniform(2, size - 2, 2)
        if all((x - tx) ** 2 + (y - ty) ** 2 >= ((radius + tr) * overlap) ** 2 for tx, ty, tr in taken):
            out.append((float(x), float(y)))
            taken.append((float(x), float(y), radius))
    return out


def render_field(
    rng: np.random.Generator, ki67_pct: float, lymph_share: float, size: int = FOV_PX, n_tumour: int = N_TUMOUR
) -> tuple[np.ndarray, pd.DataFrame]:
    """One FOV: (rgb uint8, cells with x, y (pixels), class). `lymph_share` = lymphocytes / all cells."""
    from scipy.ndimage import gaussian_filter

    n_t = int(rng.poisson(n_tumour * (size / FOV_PX) ** 2))
    share = float(np.clip(lymph_share, 0.0, 0.9))
    n_l = int(rng.poisson(n_t * share / (1.0 - share))) if n_t else 0
    taken: list[tuple[float, float, float]] = []
    tumour = _place(rng, n_t, size, taken, 6.8, 0.75)
    lymph = _place(rng, n_l, size, taken, 4.0, 0.8)
    positive = rng.random(len(tumour)) < ki67_pct / 100.0
    cells = [(x, y, "ki67_positive" if p else "ki67_negative") for (x, y), p in zip(tumour, positive, strict=True)]
    cells += [(x, y, "lymphocyte") for x, y in lymph]
    order = rng.permutation(len(cells))
    texture = gaussian_filter(rng.standard_normal((size, size)), 2.0) * 18.0
    image = BACKGROUND[None, None, :] + texture[..., None] * np.array([1.0, 1.0, 0.8])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for k in order:
        x, y, cls = cells[k]
        lo, hi = RADIUS[cls]
        a, b = rng.uniform(lo, hi), rng.uniform(lo, hi) * (0.95 if cls == "lymphocyte" else 0.8)
        t = rng.uniform(0, np.pi)
        y0, y1 = max(0, int(y - hi - 3)), min(size, int(y + hi + 4))
        x0, x1 = max(0, int(x - hi - 3)), min(size, int(x + hi + 4))
        dx, dy = xx[y0:y1, x0:x1] - x, yy[y0:y1, x0:x1] - y
        u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        alpha = np.clip((1.15 - r) / 0.3, 0.0, 1.0)[..., None] * 0.92
        colour = COLOURS[cls] * rng.uniform(0.88, 1.12) + rng.normal(0, 7, (y1 - y0, x1 - x0, 3))
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + colour * alpha
    image += rng.normal(0, 3.0, image.shape)
    rgb = np.clip(image, 0, 255).astype(np.uint8)
    frame = pd.DataFrame(cells, columns=["x", "y", "class"])
    return rgb, frame


def write_labelled(path: Path, rgb: np.ndarray, cells: pd.DataFrame) -> None:
    """Write `path` (PNG) and its SHIDC-style JSON label list beside it."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    labels = [{"x": round(float(x), 3), "y": round(float(y), 3), "label_id": LABEL_IDS[str(c)]}
              for x, y, c in cells[["x", "y", "class"]].itertuples(index=False)]
    path.with_suffix(".json").write_text(json.dumps(labels), encoding="utf-8")


def _dataset_json(folder: Path) -> None:
    info = {"mpp": MPP, "format": "shidc-b-ki67", "label_ids": {str(v): k for k, v in LABEL_IDS.items()},
            "synthetic": True, "dataset": "radpath synthetic study (Ki-67 IHC fields)", "stain": "ihc"}
    (folder / "dataset.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


def render_labelled_set(out: str | Path, seed: int, n_images: int, size: int = FOV_PX, stream: int = 7) -> Path:
    """A labelled FOV set (rates varied over images) for train-cells / evaluate-cells."""
    out = Path(out)
    rng = np.random.default_rng([seed, SEED_OFFSET, stream])
    for k in range(n_images):
        rgb, cells = render_field(rng, rng.uniform(3, 80), rng.uniform(0.05, 0.6), size)
        write_labelled(out / f"{k:03d}.png", rgb, cells)
    _dataset_json(out)
    return out


def patient_rates(truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Planted Ki-67 % and lymphocyte share per patient (tied to subtype and til_pct)."""
    rng = np.random.default_rng([seed, SEED_OFFSET, 1])
    base = truth["subtype"].map(KI67_BASE).fillna(20.0).to_numpy(float)
    ki67 = np.clip(base * np.exp(rng.normal(0.0, 0.45, len(truth))), 2.0, 90.0)
    share = np.clip(truth["til_pct"].to_numpy(float) / 100.0, 0.02, 0.85)
    return pd.DataFrame({"patient_id": truth["patient_id"].to_numpy(), "cohort": truth["cohort"].to_numpy(),
                         "ki67_latent_pct": ki67, "lymph_share": share})


def render_patient_fovs(
    truth: pd.DataFrame, out: Path, seed: int, *, cohort: str = TRAIN, n_fov: int = 2
) -> pd.DataFrame:
    """FOVs for each patient of `cohort` with `has_slide`; returns (and writes) the planted truth table."""
    rates = patient_rates(truth, seed)
    rows = truth["cohort"].eq(cohort) & truth.get("has_slide", pd.Series(True, index=truth.index)).astype(bool)
    folder = out / "ihc" / cohort
    listing, table = [], []
    for i in np.flatnonzero(rows.to_numpy()):
        pid = str(truth["patient_id"].iloc[i])
        rng = np.random.default_rng([seed, SEED_OFFSET, 2, int(i)])
        counts = dict.fromkeys(LABEL_IDS, 0)
        for k in range(n_fov):
            rgb, cells = render_field(rng, float(rates["ki67_latent_pct"].iloc[i]), float(rates["lymph_share"].iloc[i]))
            path = folder / pid / f"fov_{k}.png"
            write_labelled(path, rgb, cells)
            listing.append({"patient_id": pid, "image": f"{pid}/fov_{k}.png", "mpp": MPP})
            for cls, n in cells["class"].value_counts().items():
                counts[str(cls)] += int(n)
        pos, neg, lym = counts["ki67_positive"], counts["ki67_negative"], counts["lymphocyte"]
        table.append({
            "patient_id": pid, "ki67_latent_pct": rates["ki67_latent_pct"].iloc[i],
            "lymph_share": rates["lymph_share"].iloc[i], "n_fov": n_fov, "n_positive": pos, "n_negative": neg,
            "n_lymphocyte": lym, "ki67_index": 100.0 * pos / (pos + neg) if pos + neg else float("nan"),
            "til_cell_score": 100.0 * lym / (lym + pos + neg) if lym + pos + neg else float("nan"),
        })
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(listing, columns=["patient_id", "image", "mpp"]).to_csv(folder / "images.csv", index=False)
    frame = pd.DataFrame(table)
    frame.to_csv(folder / "truth.csv", index=False)
    return frame


def render_ihc(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """Renderer for the synthetic study (see the module docstring); adds no manifest sections."""
    render_labelled_set(out / "ihc" / "train", seed, 48)
    render_labelled_set(out / "ihc" / "test", seed, 16, stream=8)
    render_patient_fovs(truth, out, seed, n_fov=1)
    return {}


GLASS = np.array([243, 242, 245], float)   # the H&E slides' glass (synth.slides.GLASS)


def render_ihc_section(
    rng: np.random.Generator, ki67_pct: float, lymph_share: float, shape: tuple[int, int] = (512, 640),
) -> dict[str, Any]:
    """A small Ki-67 IHC whole-slide picture: a pale counterstained tissue section (an irregular ellipse
    covering about half the slide, painted by `render_field`: brown positive, blue negative nuclei and
    lymphocytes on a pale background) on glass.

    Returns `rgb` (uint8), the planted `tissue` mask (level-0 pixels) and `cells` (x, y, class) whose
    centres lie in the tissue (nuclei cut by the section's edge included; those outside are glass).
    """
    from scipy.ndimage import gaussian_filter

    h, w = shape
    side = max(h, w)
    field, cells = render_field(rng, ki67_pct, lymph_share, size=side)
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = ((yy - h / 2) / (0.42 * h)) ** 2 + ((xx - w / 2) / (0.42 * w)) ** 2
    wobble = gaussian_filter(rng.standard_normal((h, w)), 24.0)
    tissue = (1.0 - ellipse + wobble / wobble.std() * 0.15) > 0.0
    glass = GLASS[None, None, :] + rng.normal(0, 2.0, (h, w, 3))
    rgb = np.where(tissue[..., None], field[:h, :w].astype(float), glass)
    ix = np.clip(cells["x"].to_numpy().astype(int), 0, side - 1)
    iy = np.clip(cells["y"].to_numpy().astype(int), 0, side - 1)
    inside = (ix < w) & (iy < h)
    inside[inside] = tissue[iy[inside], ix[inside]]
    return {"rgb": np.clip(rgb, 0, 255).astype(np.uint8), "tissue": tissue,
            "cells": cells[inside].reset_index(drop=True)}
