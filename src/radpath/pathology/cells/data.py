"""Reading images with labelled cell centres: SHIDC-B-Ki-67 JSON, a CSV of points, TIGER's COCO JSON.

A labelled folder holds images (PNG/JPEG/TIFF) and one of:

* per image a JSON file of the same stem: a list of points {"x", "y", "label_id"} (SHIDC-B-Ki-67, as in
  the PathoNet repository: label_id 1 = Ki-67 immunopositive, 2 = immunonegative, 3 = lymphocyte / TIL);
* `points.csv` with columns image, x, y, class (class a name of `CELL_CLASSES` or a SHIDC label id);
* a TIGER detection file (`tiger-coco.json` or any COCO JSON with "images" and "annotations"): every
  box is a lymphocyte or plasma cell (TIGER's single detection class), its centre the cell centre;
* per image a QuPath GeoJSON of the same stem (`<stem>.geojson`, File > Export objects as GeoJSON): its
  classified points (Point / MultiPoint features, image pixels), QuPath class names mapped to radpath's by
  dataset.json's `class_map` ({"Lymphocyte": "lymphocyte", "Tumor": "other", ...}; radpath.pathology.geojson).

`dataset.json` (optional) gives `mpp` (microns per pixel; else the `mpp` argument, else 0.5), and may give
the class set a detector trained on the folder predicts (`classes`, names of `CELL_CLASSES`, e.g.
["lymphocyte"] for H&E TIL points) and the `stain` ("he" or "ihc", the default).
Errors name the image and file: a label outside the class set, a point outside the image, an empty or
unreadable image, a JSON that is not a list of points.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import ConfigError, PathologyError
from radpath.pathology.cellfile import CELL_CLASSES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
SHIDC_LABELS = {1: "ki67_positive", 2: "ki67_negative", 3: "lymphocyte"}
DEFAULT_MPP = 0.5
TIGER_FILES = ("tiger-coco.json", "coco.json")
STAINS = ("ihc", "he")


@dataclass
class LabelledImage:
    name: str
    path: Path
    rgb: np.ndarray            # H x W x 3 uint8
    xy: np.ndarray             # (n, 2) float64 x, y pixels
    classes: np.ndarray        # (n,) str
    mpp: float


def read_image(path: str | Path, case_id: str | None = None) -> np.ndarray:
    """RGB uint8 array of an image file; a clear error for a missing, empty or unreadable one."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    where = case_id or path.stem
    if not path.is_file():
        raise PathologyError(where, "image file does not exist", file=str(path))
    if path.stat().st_size == 0:
        raise PathologyError(where, "image file is empty", file=str(path))
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PathologyError(where, f"not a readable image ({exc})", file=str(path)) from None
    if rgb.size == 0 or min(rgb.shape[:2]) == 0:
        raise PathologyError(where, "image has no pixels", file=str(path))
    return rgb


def class_name(label: Any, where: str, file: str) -> str:
    """A cell class from a name of CELL_CLASSES or a SHIDC label id (1, 2, 3)."""
    text = str(label).strip()
    if text in CELL_CLASSES:
        return text
    try:
        code = int(float(text))
    except ValueError:
        code = -1
    if code in SHIDC_LABELS and float(text) == code:
        return SHIDC_LABELS[code]
    raise PathologyError(where, f"label {label!r} is not a cell class; known: {list(CELL_CLASSES)} "
                         f"or SHIDC label ids {sorted(SHIDC_LABELS)}", file=file)


def _json_points(path: Path, where: str) -> tuple[np.ndarray, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PathologyError(where, f"not a readable JSON file ({exc})", file=str(path)) from None
    if not isinstance(data, list) or not all(isinstance(p, dict) and {"x", "y", "label_id"} <= set(p) for p in data):
        raise PathologyError(where, 'expected a JSON list of points {"x", "y", "label_id"}', file=str(path))
    try:
        xy = np.array([[float(p["x"]), float(p["y"])] for p in data], np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise PathologyError(where, "point coordinates must be numbers", file=str(path)) from None
    return xy, [class_name(p["label_id"], where, str(path)) for p in data]


def _csv_points(path: Path) -> dict[str, tuple[list[tuple[float, float]], list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"image", "x", "y", "class"} <= set(rows[0]):
        raise ConfigError(f"point list {path}: expected columns image,x,y,class; found {list(rows[0])}")
    out: dict[str, tuple[list[tuple[float, float]], list[str]]] = {}
    for n, row in enumerate(rows, start=2):
        try:
            point = (float(row["x"]), float(row["y"]))
        except ValueError:
            raise PathologyError(row["image"], f"row {n}: x and y must be numbers", file=str(path)) from None
        points, classes = out.setdefault(row["image"], ([], []))
        points.append(point)
        classes.append(class_name(row["class"], row["image"], str(path)))
    return out


def _tiger_points(path: Path) -> dict[str, tuple[list[tuple[float, float]], list[str]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {img["id"]: img["file_name"] for img in data["images"]}
        out: dict[str, tuple[list[tuple[float, float]], list[str]]] = {name: ([], []) for name in names.values()}
        for ann in data["annotations"]:
            x, y, w, h = (float(v) for v in ann["bbox"])
            points, classes = out[names[ann["image_id"]]]
            points.append((x + w / 2.0, y + h / 2.0))
            classes.append("lymphocyte")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"TIGER annotations {path}: expected COCO JSON with images and bbox annotations ({exc})"
                          ) from None
    return out


def _geojson_points(folder: Path, image: Path) -> tuple[np.ndarray, list[str]]:
    """Points of a QuPath GeoJSON beside `image`, classes mapped by dataset.json's class_map."""
    from radpath.pathology.geojson import points

    class_map = dataset_info(folder).get("class_map")
    if not isinstance(class_map, dict) or not class_map:
        raise ConfigError(f"{folder / 'dataset.json'}: QuPath GeoJSON points need a class_map "
                          '(QuPath class name -> cell class, e.g. {"Lymphocyte": "lymphocyte"})')
    unknown = sorted(set(map(str, class_map.values())) - set(CELL_CLASSES))
    if unknown:
        raise ConfigError(f"{folder / 'dataset.json'}: class_map maps to unknown cell classes {unknown}; "
                          f"known: {list(CELL_CLASSES)}")
    return points(image.with_suffix(".geojson"), image.stem, {str(k): str(v) for k, v in class_map.items()})


def check_points(xy: np.ndarray, shape: tuple[int, ...], where: str, file: str) -> None:
    """Every point must lie inside the image (0 <= x < width, 0 <= y < height)."""
    h, w = shape[:2]
    bad = ~((xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)) if len(xy) else np.zeros(0, bool)
    if bad.any():
        x, y = xy[np.argmax(bad)]
        raise PathologyError(where, f"point ({x:g}, {y:g}) lies outside the {w} x {h} image", file=file)


def dataset_mpp(folder: Path, mpp: float | None) -> float:
    info = folder / "dataset.json"
    if mpp is not None:
        return float(mpp)
    if info.is_file():
        return float(dataset_info(folder).get("mpp", DEFAULT_MPP))
    return DEFAULT_MPP


def dataset_info(folder: str | Path) -> dict[str, Any]:
    """The folder's dataset.json as a dict ({} when absent); `classes` and `stain` checked when present."""
    info_file = Path(folder) / "dataset.json"
    if not info_file.is_file():
        return {}
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{info_file}: not a readable JSON file ({exc})") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{info_file}: expected a JSON object (mpp, classes, stain)")
    classes = info.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not set(map(str, classes)) <= set(CELL_CLASSES)):
        raise ConfigError(f"{info_file}: classes must be a non-empty list of {list(CELL_CLASSES)}, got {classes!r}")
    if info.get("stain", "ihc") not in STAINS:
        raise ConfigError(f"{info_file}: stain must be one of {list(STAINS)}, got {info.get('stain')!r}")
    return info


def label_format(folder: str | Path) -> str:
    """The label layout `load_labelled` reads in `folder`: "points-csv", "tiger-coco" or "shidc-json" (the
    evaluation protocol a dataset's numbers are usually published under follows from it)."""
    folder = Path(folder)
    if (folder / "points.csv").is_file():
        return "points-csv"
    if any((folder / name).is_file() for name in TIGER_FILES):
        return "tiger-coco"
    return "shidc-json"


def load_labelled(folder: str | Path, mpp: float | None = None) -> list[LabelledImage]:
    """Every labelled image of `folder` (see the module docstring), in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"labelled data {folder}: not a folder")
    mpp = dataset_mpp(folder, mpp)
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"labelled data {folder}: no images ({sorted(IMAGE_SUFFIXES)})")
    table: dict[str, tuple[list[tuple[float, float]], list[str]]] | None = None
    source = None
    if (folder / "points.csv").is_file():
        source = folder / "points.csv"
        table = _csv_points(source)
    else:
        for name in TIGER_FILES:
            if (folder / name).is_file():
                source = folder / name
                table = _tiger_points(source)
                break
    out = []
    for path in images:
        if table is not None and source is not None:
            points, names = table.get(path.name, ([], []))
            xy, classes, file = np.array(points, np.float64).reshape(-1, 2), names, str(source)
        elif path.with_suffix(".geojson").is_file():
            file = str(path.with_suffix(".geojson"))
            xy, classes = _geojson_points(folder, path)
        else:
            label_file = path.with_suffix(".json")
            if not label_file.is_file():
                raise PathologyError(path.stem, "no label file beside the image (SHIDC layout: <stem>.json)",
                                     file=str(label_file))
            xy, classes = _json_points(label_file, path.stem)
            file = str(label_file)
        rgb = read_image(path)
        check_points(xy, rgb.shape, path.stem, file)
        out.append(LabelledImage(path.name, path, rgb, xy, np.array(classes, dtype=object).astype(str), mpp))
    return out


def resample(item: LabelledImage, mpp: float) -> LabelledImage:
    """The labelled image at `mpp` microns per pixel (RGB resized, centres scaled alike: x' = x * factor,
    the convention `detect.detect_image` scales back with)."""
    from PIL import Image

    factor = item.mpp / float(mpp)
    if abs(factor - 1.0) < 1e-6:
        return item
    h, w = item.rgb.shape[:2]
    size = (max(8, int(round(w * factor))), max(8, int(round(h * factor))))
    rgb = np.asarray(Image.fromarray(item.rgb).resize(size, Image.Resampling.BILINEAR))
    scale = np.array([size[0] / w, size[1] / h])
    xy = np.minimum(item.xy * scale, np.array(size) - 1e-6)
    return LabelledImage(item.name, item.path, rgb, xy, item.classes, float(mpp))


def data_hash(items: list[LabelledImage]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.name.encode() + b"\0" + item.rgb.tobytes() + item.xy.tobytes())
        digest.update("".join(item.classes.tolist()).encode())
    return digest.hexdigest()
