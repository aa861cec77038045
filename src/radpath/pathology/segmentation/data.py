"""Training and evaluation tiles with TIGER label masks, from two folder layouts.

- TIGER's WSIROIS layout: `images/<name>.tif` (an RGB region) and `masks/<name>.tif` (the same size,
  one TIGER label 0-7 per pixel) — PNG files are accepted too;
- a plain folder of `<name>.png` / `<name>_mask.png` pairs.

An optional `dataset.json` beside the images gives their microns per pixel (`mpp`); regions are
resampled to the model's mpp (images bilinear, masks nearest) and cut into `tile_px` square tiles
(regions smaller than a tile are padded with glass, label 0; tiles that are all label 0 are dropped).
A mask of another size than its image, or with values outside 0-7, is an error naming both files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radpath.errors import ConfigError
from radpath.pathology.segmentation.labels import MAX_LABEL

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
MASK_SUFFIX = "_mask"


@dataclass
class TileData:
    images: np.ndarray        # N x T x T x 3 uint8
    labels: np.ndarray        # N x T x T uint8 TIGER labels
    names: list[str]
    mpp: float                # microns per pixel of the tiles
    data_hash: str


def list_pairs(data: str | Path) -> list[tuple[Path, Path]]:
    """(image, mask) file pairs of a WSIROIS folder (images/, masks/) or a folder of name/name_mask pairs."""
    data = Path(data)
    if not data.is_dir():
        raise ConfigError(f"segmentation data {data}: expected a folder (images/ + masks/, or *_mask.png pairs)")
    pairs: list[tuple[Path, Path]] = []
    if (data / "images").is_dir() and (data / "masks").is_dir():
        masks = {p.stem: p for p in (data / "masks").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        for image in sorted(p for p in (data / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            mask = masks.get(image.stem)
            if mask is None:
                raise ConfigError(f"segmentation data {data}: image {image} has no mask in {data / 'masks'}")
            pairs.append((image, mask))
    else:
        for image in sorted(p for p in data.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.stem.endswith(MASK_SUFFIX)):
            mask = next((image.with_name(image.stem + MASK_SUFFIX + s) for s in IMAGE_SUFFIXES
                         if image.with_name(image.stem + MASK_SUFFIX + s).is_file()), None)
            if mask is None:
                raise ConfigError(f"segmentation data {data}: image {image} has no {image.stem}{MASK_SUFFIX}.png")
            pairs.append((image, mask))
    if not pairs:
        raise ConfigError(f"segmentation data {data}: no image/mask pairs found")
    return pairs


def _read_image(path: Path, mask: bool) -> np.ndarray:
    from PIL import Image

    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        array = np.asarray(tifffile.imread(path))
    else:
        with Image.open(path) as handle:
            array = np.asarray(handle if mask else handle.convert("RGB"))
    if mask and array.ndim == 3:
        array = array[..., 0]
    if not mask and array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.ascontiguousarray(array[..., :3] if not mask else array)


def read_pair(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An RGB uint8 region and its uint8 TIGER label mask, checked against each other."""
    image = _read_image(image_path, mask=False)
    mask = _read_image(mask_path, mask=True)
    if image.shape[:2] != mask.shape[:2]:
        raise ConfigError(f"mask {mask_path} is {mask.shape[1]} x {mask.shape[0]} px but image {image_path} is "
                          f"{image.shape[1]} x {image.shape[0]} px; they must be the same size")
    if mask.size and (mask.min() < 0 or mask.max() > MAX_LABEL):
        bad = sorted({int(v) for v in np.unique(mask) if v < 0 or v > MAX_LABEL})[:5]
        raise ConfigError(f"mask {mask_path}: values {bad} outside the TIGER label set 0-{MAX_LABEL}")
    return image.astype(np.uint8), mask.astype(np.uint8)


def _resample(image: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    if abs(factor - 1.0) < 1e-6:
        return image, mask
    size = (max(1, int(round(image.shape[1] * factor))), max(1, int(round(image.shape[0] * factor))))
    img = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    msk = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))
    return img, msk


def dataset_mpp(data: str | Path, override: float | None = None) -> float | None:
    if override is not None:
        return override
    info = Path(data) / "dataset.json"
    if info.is_file():
        value = json.loads(info.read_text(encoding="utf-8")).get("mpp")
        return float(value) if value else None
    return None


def layout(data: str | Path) -> str:
    """The folder's layout: "wsirois" (TIGER's images/ + masks/) or "pairs" (name + name_mask)."""
    data = Path(data)
    return "wsirois" if (data / "images").is_dir() and (data / "masks").is_dir() else "pairs"


def pad_region(image: np.ndarray, mask: np.ndarray, tile_px: int) -> tuple[np.ndarray, np.ndarray]:
    """A region padded (glass: RGB 243, label 0) on the bottom and right to at least one tile."""
    h, w = mask.shape
    ph, pw = max(h, tile_px), max(w, tile_px)
    if (ph, pw) != (h, w):
        image = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), constant_values=243)
        mask = np.pad(mask, ((0, ph - h), (0, pw - w)))
    return image, mask


def tile_grid(height: int, width: int, tile_px: int, stride: int) -> list[tuple[int, int]]:
    """(y, x) origins of the tiles cutting a (padded) region: every `stride`, the last row and column flush with
    its edge (so they may overlap the one before)."""
    ys = sorted({*range(0, height - tile_px + 1, stride), height - tile_px})
    xs = sorted({*range(0, width - tile_px + 1, stride), width - tile_px})
    return [(y, x) for y in ys for x in xs]


def resample_region(image: np.ndarray, mask: np.ndarray, source_mpp: float, mpp: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A region and its mask from `source_mpp` to `mpp` microns per pixel (bilinear / nearest)."""
    return _resample(image, mask, source_mpp / mpp)


def load_tiles(data: str | Path, tile_px: int, *, mpp: float, data_mpp: float | None = None,
               stride: int | None = None) -> TileData:
    """Every region of `data` at `mpp` microns per pixel, cut into `tile_px` tiles (step `stride`)."""
    source_mpp = dataset_mpp(data, data_mpp) or mpp
    stride = stride or tile_px
    digest = hashlib.sha256()
    images, labels, names = [], [], []
    for image_path, mask_path in list_pairs(data):
        digest.update(image_path.name.encode() + image_path.read_bytes() + mask_path.read_bytes())
        image, mask = pad_region(*resample_region(*read_pair(image_path, mask_path), source_mpp, mpp), tile_px)
        for y, x in tile_grid(mask.shape[0], mask.shape[1], tile_px, stride):
            crop = mask[y : y + tile_px, x : x + tile_px]
            if not crop.any():
                continue
            images.append(image[y : y + tile_px, x : x + tile_px])
            labels.append(crop)
            names.append(f"{image_path.stem}@{x},{y}")
    if not images:
        raise ConfigError(f"segmentation data {data}: every tile is unlabelled (all 0)")
    return TileData(np.stack(images), np.stack(labels), names, mpp, digest.hexdigest())
