"""Tissue compartments of the synthetic sections: TIGER label masks, truth lymphocytes, downsampled tiles.

`plan_compartments` draws (from a generator of its own, so the section's main draws stay as they
were) the compartments that are not stroma: 5 necrosis (inside tumour nests), 7 rest (fat away
from the tumour bed), 3 in-situ tumour (round ducts filled with tumour cells inside a dark
myoepithelial rim) and 4 healthy glands (lobules of small acini: a near-white lumen, a ring of
cuboidal epithelium with its nuclei, a thin myoepithelial rim). `render_section` keeps
lymphocytes out of them and draws the duct cores with the tumour's cells; `add_compartments`
paints the rest and writes the TIGER label mask (values of `radpath.pathology.segmentation.labels`):
0 glass, 1 invasive tumour, 2 tumour-associated stroma, 3, 4, 5, 6 inflamed stroma (stroma inside
the TIL regions), 7. Every label comes from the same masks that were painted, so it is exact.

Stroma far from the tumour stays label 2. TIGER's 2 is the stroma of the tumour bulk, which the
annotators outline as a region, not a distance rule; a synthetic section is a small field (576 x
768 um) mostly inside that bulk: 55-80 % of its stroma lies within BED_UM (24 um) of a nest and all
of it within ~100 um (95 % within 45-75 um; four sections measured). Calling the far part 7 would
make the label a function of distance to tumour only, invisible in a 128-um training tile whose
tumour may lie outside it, i.e. label noise for the network and a lower stroma IoU, while the
pathologist's reading (what the score is compared with) covers all the section's stroma. Tissue
that is not tumour-associated stroma looks different here (fat, glands), as on a slide, and gets
7 / 4.

Truth lymphocytes (`truth_cells`): lymphocytes are separate nuclei, at most one per 8 x 8 um box
of a lattice from the origin (`drawing.lattice_nuclei`), so one truth cell per occupied box is
one cell per nucleus, at its centre. In TIL regions 95 % of the boxes of stroma hold one, outside
them a sparse background; the TIL regions' share of the stroma is chosen per section (a quantile
of a smooth field over the stroma) so that the planted stromal TIL score, TIGER's 100 x #TILs in
stroma x 64 um2 / stroma area, is the patient's latent `til_pct` plus the small background
(0.5 % at 0 %, see `slides.BACKGROUND_FLOOR`), up to sampling noise of about one point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radpath.synth.drawing import BOX_UM, smooth_field, stamp

NECROSIS = np.array([224, 186, 204], float)
DEBRIS = np.array([110, 70, 128], float)
FAT = np.array([249, 247, 249], float)
SEPTUM = np.array([228, 150, 186], float)
RIM = np.array([118, 74, 146], float)          # myoepithelial layer and basement membrane
LUMEN = np.array([246, 238, 244], float)
GLAND_EPI = np.array([226, 170, 212], float)   # cuboidal luminal epithelium, paler than tumour
GLAND_NUC = np.array([104, 66, 150], float)
SEG_MPP = 2.0                # microns per pixel of the synthetic segmentation tiles
SEG_TILE = 64                # their side in pixels (128 um)
DUCT_UM = (35.0, 60.0)       # in-situ duct radius range
DUCT_RIM_UM = 3.0
ACINUS_UM = (11.0, 17.0)     # healthy acinus radius range
ACINUS_RIM_UM = 1.5
LOBULE_UM = 55.0             # acini of a lobule lie within this of its centre
COARSE = 8                   # grid step (pixels) of the placement search


def _free_distance(free: np.ndarray) -> np.ndarray:
    """Distance (level pixels) from each coarse cell to the nearest non-free coarse cell."""
    from scipy.ndimage import distance_transform_edt

    return np.asarray(distance_transform_edt(free[::COARSE, ::COARSE])) * COARSE


def _pick(rng: np.random.Generator, ok: np.ndarray) -> tuple[int, int] | None:
    """A random level-pixel (row, column) at a coarse cell where `ok` holds, None when there is none."""
    rows, cols = np.nonzero(ok)
    if not len(rows):
        return None
    i = int(rng.integers(len(rows)))
    return int(rows[i]) * COARSE + COARSE // 2, int(cols[i]) * COARSE + COARSE // 2


def _rho(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, angle: float
         ) -> tuple[tuple[slice, slice], np.ndarray]:
    """Window around an ellipse and the normalised radius (1 on the outline) of its pixels."""
    r = int(np.ceil(max(ry, rx))) + 1
    y0, y1 = max(0, int(cy) - r), min(shape[0], int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(shape[1], int(cx) + r + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    rho = np.sqrt(((c * dy + s * dx) / ry) ** 2 + ((-s * dy + c * dx) / rx) ** 2)
    return (slice(y0, y1), slice(x0, x1)), rho


def _ducts(rng: np.random.Generator, free: np.ndarray, mpp: float) -> dict[str, np.ndarray]:
    """In-situ tumour: 1-2 elliptic ducts inside `free` tissue; `duct` (all of it) and `duct_core` (inside the rim)."""
    duct, core = np.zeros(free.shape, bool), np.zeros(free.shape, bool)
    dist = _free_distance(free)
    for _ in range(int(rng.integers(1, 3))):
        radius = float(rng.uniform(*DUCT_UM)) / mpp
        squash = float(rng.uniform(0.75, 1.0))
        at = _pick(rng, dist >= radius + COARSE)
        angle = float(rng.uniform(0, np.pi))
        if at is None:
            continue
        window, rho = _rho(free.shape, at[0], at[1], radius * squash, radius, angle)
        inside = (rho <= 1.0) & free[window]
        duct[window] |= inside
        core[window] |= inside & (rho <= 1.0 - DUCT_RIM_UM / mpp / (radius * squash))
        dist = _free_distance(free & ~duct)
    return {"duct": duct, "duct_core": core}


def _glands(rng: np.random.Generator, free: np.ndarray, bed: np.ndarray, mpp: float) -> dict[str, np.ndarray]:
    """Healthy glands: 1-2 lobules of 4-8 acini in `free` tissue, away from the tumour bed where there is room."""
    shape = free.shape
    masks = {k: np.zeros(shape, bool) for k in ("gland", "gland_lumen", "gland_rim", "gland_nuclei")}
    dist = _free_distance(free)
    far = ~bed[::COARSE, ::COARSE]
    placed: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(1, 3))):
        need = ACINUS_UM[1] / mpp + COARSE
        centre = _pick(rng, (dist >= need) & far)
        centre = centre if centre is not None else _pick(rng, dist >= need)
        n_acini = int(rng.integers(4, 9))
        tries = rng.uniform(0, 1, (40, 4))      # fixed-size draws: polar offset, radius, squash
        for a, b, c, d in tries:
            if centre is None or n_acini == 0:
                break
            radius = (ACINUS_UM[0] + c * (ACINUS_UM[1] - ACINUS_UM[0])) / mpp
            off = LOBULE_UM / mpp * np.sqrt(a)
            cy, cx = centre[0] + off * np.sin(2 * np.pi * b), centre[1] + off * np.cos(2 * np.pi * b)
            iy, ix = int(cy) // COARSE, int(cx) // COARSE
            if not (0 <= iy < dist.shape[0] and 0 <= ix < dist.shape[1]) or dist[iy, ix] < radius + COARSE:
                continue
            if any(np.hypot(cy - py, cx - px) < radius + pr + 2.0 / mpp for py, px, pr in placed):
                continue
            placed.append((cy, cx, radius))
            n_acini -= 1
            ry, angle = radius * (0.8 + 0.2 * d), np.pi * a
            window, rho = _rho(shape, cy, cx, ry, radius, angle)
            inside = (rho <= 1.0) & free[window]
            masks["gland"][window] |= inside
            masks["gland_lumen"][window] |= inside & (rho <= 0.4)
            masks["gland_rim"][window] |= inside & (rho > 1.0 - ACINUS_RIM_UM / mpp / ry)
            # a ring of epithelial nuclei every ~4 um at 0.7 of the radius, in the ellipse's frame
            ring = np.linspace(0, 2 * np.pi, max(6, int(2 * np.pi * radius * 0.7 * mpp / 4.0)), endpoint=False)
            u, v = 0.7 * ry * np.sin(ring), 0.7 * radius * np.cos(ring)
            ny = np.rint(cy + np.cos(angle) * u - np.sin(angle) * v).astype(np.int64)
            nx = np.rint(cx + np.sin(angle) * u + np.cos(angle) * v).astype(np.int64)
            ok = (ny >= 0) & (ny < shape[0]) & (nx >= 0) & (nx < shape[1])
            masks["gland_nuclei"] |= stamp(shape, ny[ok], nx[ok], max(1, int(round(1.5 / mpp))))
    masks["gland_nuclei"] &= masks["gland"] & ~masks["gland_lumen"] & ~masks["gland_rim"]
    return masks


def plan_compartments(
    rng: np.random.Generator, tissue: np.ndarray, tumour: np.ndarray, bed: np.ndarray, mpp: float
) -> dict[str, np.ndarray]:
    """The masks of the compartments that are neither invasive tumour nor stroma (see the module docstring).

    Keys: `necrosis` (inside tumour), `fat`, `duct` / `duct_core` (in-situ tumour), `gland` with its
    `gland_lumen`, `gland_rim`, `gland_nuclei`. Every value is a subset of necrosis | fat | duct | gland.
    """
    shape = tissue.shape
    necrosis = tumour & (smooth_field(rng, shape, 40.0) > 0.82)
    fat = tissue & ~bed & (smooth_field(rng, shape, 30.0) > 0.45)
    plan = {"necrosis": necrosis, **_ducts(rng, tissue & ~tumour, mpp)}
    plan.update(_glands(rng, tissue & ~tumour & ~plan["duct"], bed, mpp))
    plan["fat"] = fat & ~plan["duct"] & ~plan["gland"]
    return plan


def add_compartments(
    section: dict[str, np.ndarray], plan: dict[str, np.ndarray], rng: np.random.Generator | None
) -> dict[str, np.ndarray]:
    """Add `labels` (uint8 TIGER labels) to `section`; paint the planned compartments with `rng`'s draws."""
    tissue, tumour, til = section["tissue"], section["tumour"], section["til"]
    shape = tissue.shape
    labels = np.zeros(shape, np.uint8)
    labels[tissue] = 2
    labels[tissue & til & ~tumour] = 6
    labels[tumour] = 1
    if rng is not None and plan:
        necrosis, fat = plan["necrosis"], plan["fat"]
        rgb = section["rgb"].astype(np.float32)
        debris = necrosis & (rng.random(shape, dtype=np.float32) < 0.03)
        septa = fat & ((smooth_field(rng, shape, 5.0) * 9.0) % 1.0 < 0.12)
        noise = rng.standard_normal((*shape, 1), dtype=np.float32) * np.float32(5.0)
        epithelium = plan["gland"] & ~plan["gland_lumen"] & ~plan["gland_rim"] & ~plan["gland_nuclei"]
        for mask, colour in ((necrosis, NECROSIS), (debris, DEBRIS), (fat, FAT), (septa, SEPTUM),
                             (plan["duct"] & ~plan["duct_core"], RIM), (plan["gland_lumen"], LUMEN),
                             (epithelium, GLAND_EPI), (plan["gland_nuclei"], GLAND_NUC),
                             (plan["gland_rim"], RIM)):
            rgb[mask] = colour + noise[mask]
        section["rgb"] = np.clip(rgb, 0, 255).astype(np.uint8)
        labels[necrosis] = 5
        labels[fat] = 7
        labels[plan["duct"]] = 3
        labels[plan["gland"]] = 4
    section["labels"] = labels
    return section


def truth_cells(section: dict[str, np.ndarray], mpp: float, image: str) -> pd.DataFrame:
    """Truth lymphocytes of a section as a cell table: one per occupied BOX_UM x BOX_UM box."""
    from radpath.pathology.cellfile import cell_frame

    yx = section["lymph_yx"].astype(np.float64)
    box = max(1, int(round(BOX_UM / mpp)))
    if len(yx) == 0:
        return cell_frame(image, np.zeros(0), np.zeros(0), [], mpp)
    keys = (yx[:, 0] // box).astype(np.int64) * 1_000_000 + (yx[:, 1] // box).astype(np.int64)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    y = np.bincount(inverse, yx[:, 0]) / counts
    x = np.bincount(inverse, yx[:, 1]) / counts
    return cell_frame(image, x + 0.5, y + 0.5, ["lymphocyte"] * len(x), mpp)


def downsample_section(section: dict[str, np.ndarray], factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) of a section at 1/`factor` resolution: RGB box-averaged, labels sampled at box centres."""
    h, w = section["labels"].shape
    h, w = h // factor * factor, w // factor * factor
    rgb = section["rgb"][:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    labels = section["labels"][factor // 2 : h : factor, factor // 2 : w : factor]
    return np.rint(rgb).astype(np.uint8), np.ascontiguousarray(labels)
