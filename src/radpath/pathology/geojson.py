"""QuPath GeoJSON out and in: one FeatureCollection per slide, in level-0 pixel coordinates.

QuPath's convention (File > Export objects as GeoJSON, File > Import objects from file; WSInfer writes the
same): coordinates are level-0 pixels with the origin at the top-left corner of the full-resolution image; a
file is a FeatureCollection of Features, each with a random-looking UUID `id`, a `geometry`, and `properties`
holding `objectType` ("annotation", "detection", "tile" ...), optionally `classification` {name, color
[r, g, b]}, `measurements` {name: value} and `isLocked`. radpath writes:

* score-wsi (`tiles`): one Polygon per tissue patch of the lymphocyte grid (the grid the Tumour–TIL map and
  the scores live on), objectType "tile", locked, `measurements` the patch's class probabilities
  ("tumor probability": the aggregated tumour probability as the map holds it, "lymphocyte probability")
  and `classification` its Tumour–TIL class (radpath.palettes.TUMOR_TIL at the run's thresholds);
* segment-wsi (`mask_annotations`): one (Multi)Polygon per compartment present, objectType "annotation",
  with holes, the exact outline of the mask's pixels (edges on pixel borders, scaled to level 0),
  classification name and colour from radpath.palettes.COMPARTMENTS;
* detect-cells (`cells`): one Point per cell, objectType "detection", classification its class
  (radpath.palettes.CELLS), measurement "score".

Every geometry is valid (shapely `is_valid`); ids are UUIDs derived from the slide, the object kind and its
index (uuid5), so re-running a stage writes the same file.

In (`read_features`): a FeatureCollection, a list of Features or one Feature, as QuPath exports them (older
QuPath writes `measurements` as a list of {name, value} and `classification.colorRGB` as an int; both are
read). `regions` gives the union of a file's polygon annotations (regions of interest, e.g. a pathologist's
tumour outline or TIGER's ROIs); `points` its classified points (ground truth for evaluate-cells, class names
mapped to radpath's cell classes). Export, import, export gives the same geometry (`collection` of what
`read_features` returns).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import PathologyError
from radpath.palettes import Palette

NAMESPACE = uuid.UUID("6f1c0a52-3c55-4d5e-9a53-6f0e2f8b7a11")   # radpath's uuid5 namespace for object ids
POLYGONS = ("Polygon", "MultiPolygon")
POINTS = ("Point", "MultiPoint")


def object_id(*parts: Any) -> str:
    """A stable UUID for an object (uuid5 of its slide, kind and index)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def classification(palette: Palette, key: int | str) -> dict[str, Any]:
    return {"name": palette.label_name(key), "color": list(palette.colour(key))}


def feature(geometry: Any, object_type: str, fid: str, *, classification: Mapping[str, Any] | None = None,
            measurements: Mapping[str, float] | None = None, name: str | None = None,
            locked: bool | None = None) -> dict[str, Any]:
    """One QuPath Feature; `geometry` a shapely geometry or a GeoJSON geometry dict."""
    import shapely

    geo = geometry if isinstance(geometry, dict) else json.loads(shapely.to_geojson(geometry))
    props: dict[str, Any] = {"objectType": object_type}
    if name is not None:
        props["name"] = name
    if classification is not None:
        props["classification"] = dict(classification)
    if locked is not None:
        props["isLocked"] = locked
    if measurements is not None:
        props["measurements"] = {k: (None if not np.isfinite(v) else float(v)) for k, v in measurements.items()}
    return {"type": "Feature", "id": fid, "geometry": geo, "properties": props}


def collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def write(path: str | Path, features: Sequence[dict[str, Any]]) -> Path:
    """Write a FeatureCollection atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(collection(features), separators=(",", ":"), allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------------ out
def tiles(slide_id: str, origins: np.ndarray, side0: float, measurements: Mapping[str, np.ndarray],
          classes: Sequence[int] | None = None, palette: Palette | None = None) -> list[dict[str, Any]]:
    """Square tiles of side `side0` at level-0 `origins` ((N, 2) x, y), locked, with per-tile measurements
    and, given `classes` and `palette`, a classification each."""
    import shapely

    origins = np.asarray(origins, np.float64).reshape(-1, 2)
    boxes = shapely.box(origins[:, 0], origins[:, 1], origins[:, 0] + side0, origins[:, 1] + side0, ccw=False)
    out = []
    for i, box in enumerate(boxes):
        values = {name: float(v[i]) for name, v in measurements.items()}
        cls = classification(palette, int(classes[i])) if classes is not None and palette is not None else None
        out.append(feature(box, "tile", object_id(slide_id, "tile", i), measurements=values, classification=cls,
                           locked=True))
    return out


def mask_polygon(mask: np.ndarray, scale: float = 1.0) -> Any:
    """The exact outline of a boolean mask's pixels as a valid (Multi)Polygon with holes: pixel (r, c) covers
    [c, c + 1) x [r, r + 1) times `scale` level-0 pixels; collinear vertices removed."""
    import shapely

    mask = np.asarray(mask, bool)
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), bool)
    padded[:, 1:-1] = mask
    change = np.diff(padded.astype(np.int8), axis=1)
    rows_s, starts = np.nonzero(change == 1)
    rows_e, ends = np.nonzero(change == -1)
    if len(starts) == 0:
        return shapely.MultiPolygon()
    # runs pair up in order (each row's starts and ends alternate left to right); a run repeated in the rows
    # below grows one tall box instead of one box per row
    assert (rows_s == rows_e).all()
    boxes: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}      # (start, end) -> first row of the box growing downwards
    top_end: dict[tuple[int, int], int] = {}        # (start, end) -> the row below its last
    previous = -1
    for row, start, end in zip(rows_s.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if row != previous:
            for (a, b), top in list(open_runs.items()):
                if top_end[(a, b)] < row:
                    boxes.append((a, top, b, top_end.pop((a, b))))
                    del open_runs[(a, b)]
            previous = row
        key = (start, end)
        if key in open_runs and top_end[key] == row:
            top_end[key] = row + 1
        else:
            if key in open_runs:
                boxes.append((start, open_runs[key], end, top_end[key]))
            open_runs[key], top_end[key] = row, row + 1
    boxes += [(a, top, b, top_end[(a, b)]) for (a, b), top in open_runs.items()]
    array = np.asarray(boxes, np.float64) * scale
    merged = shapely.union_all(shapely.box(array[:, 0], array[:, 1], array[:, 2], array[:, 3]))
    return shapely.normalize(shapely.simplify(merged, 0.0))


def mask_annotations(slide_id: str, labels: np.ndarray, scale: float, palette: Palette) -> list[dict[str, Any]]:
    """One annotation per non-background label present in `labels` (mask pixels of `scale` level-0 pixels)."""
    out = []
    for key, _, _ in palette.shown:
        if not isinstance(key, int):
            continue
        member = np.asarray(labels) == key
        if member.any():
            out.append(feature(mask_polygon(member, scale), "annotation", object_id(slide_id, "annotation", key),
                               classification=classification(palette, key), locked=False))
    return out


def cells(slide_id: str, xy: np.ndarray, classes: Sequence[str], scores: np.ndarray, palette: Palette
          ) -> list[dict[str, Any]]:
    """One Point detection per cell (level-0 pixels), classified, with its detector score."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    return [feature({"type": "Point", "coordinates": [float(x), float(y)]}, "detection",
                    object_id(slide_id, "detection", i), classification=classification(palette, str(c)),
                    measurements={"score": float(s)})
            for i, ((x, y), c, s) in enumerate(zip(xy, classes, np.asarray(scores, np.float64), strict=True))]


# ------------------------------------------------------------------------------------------------ in
def read_features(path: str | Path, case_id: str) -> list[dict[str, Any]]:
    """The Features of a GeoJSON file as QuPath exports it (FeatureCollection, list of Features, one Feature)."""
    path = Path(path)
    if not path.is_file():
        raise PathologyError(case_id, "annotation file does not exist", file=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PathologyError(case_id, f"not a readable GeoJSON file ({exc})", file=str(path)) from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        found = data.get("features")
    elif isinstance(data, dict) and data.get("type") == "Feature":
        found = [data]
    else:
        found = data
    if not isinstance(found, list) or not all(isinstance(f, dict) and isinstance(f.get("geometry"), dict)
                                              for f in found):
        raise PathologyError(case_id, "expected a GeoJSON FeatureCollection (or list) of Features with geometries",
                             file=str(path))
    return found


def class_name(feat: Mapping[str, Any]) -> str | None:
    """A feature's classification name (None when unclassified)."""
    cls = (feat.get("properties") or {}).get("classification")
    if isinstance(cls, dict):
        return None if cls.get("name") is None else str(cls["name"])
    return None if cls is None else str(cls)


def measurements(feat: Mapping[str, Any]) -> dict[str, float]:
    """A feature's measurements, from QuPath's map (0.4+) or its older list of {name, value}."""
    found = (feat.get("properties") or {}).get("measurements") or {}
    if isinstance(found, list):
        found = {m.get("name"): m.get("value") for m in found if isinstance(m, dict)}
    return {str(k): float("nan") if v is None else float(v) for k, v in found.items()}


def geometry(feat: Mapping[str, Any], case_id: str, file: str) -> Any:
    """A feature's geometry as shapely (an invalid polygon is an error naming the file)."""
    import shapely

    try:
        geom = shapely.from_geojson(json.dumps(feat["geometry"]))
    except Exception as exc:
        raise PathologyError(case_id, f"a feature's geometry cannot be read ({exc})", file=file) from None
    if not geom.is_valid:
        raise PathologyError(case_id, f"invalid {geom.geom_type} ({shapely.is_valid_reason(geom)}); fix it in "
                             "QuPath (Objects > Annotations > Make valid)", file=file)
    return geom


def regions(path: str | Path, case_id: str) -> Any:
    """The union of the file's polygon features (the regions of interest), a shapely geometry in level-0
    pixels; an error when there is none."""
    import shapely

    features = read_features(path, case_id)
    polygons = [geometry(f, case_id, str(path)) for f in features if f["geometry"].get("type") in POLYGONS]
    if not polygons:
        raise PathologyError(case_id, "annotation file has no polygon annotations (regions of interest)",
                             file=str(path))
    return shapely.union_all(polygons)


def points(path: str | Path, case_id: str, class_map: Mapping[str, str]) -> tuple[np.ndarray, list[str]]:
    """(xy (N, 2) level-0 pixels, classes) of the file's classified points, class names mapped by `class_map`
    (QuPath class name -> radpath cell class); a point whose class is not mapped is an error naming it."""
    import shapely

    xy: list[tuple[float, float]] = []
    classes: list[str] = []
    for feat in read_features(path, case_id):
        if feat["geometry"].get("type") not in POINTS:
            continue
        name = class_name(feat)
        if name is None or name not in class_map:
            raise PathologyError(case_id, f"point class {name!r} is not mapped (dataset.json class_map maps "
                                 f"{sorted(class_map)})", file=str(path))
        coords = shapely.get_coordinates(geometry(feat, case_id, str(path)))
        xy += [(float(x), float(y)) for x, y in coords]
        classes += [class_map[name]] * len(coords)
    return np.asarray(xy, np.float64).reshape(-1, 2), classes


def inside(geom: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each point (level-0 pixels) lies inside `geom` (its boundary counts as inside)."""
    import shapely

    shapely.prepare(geom)
    return np.asarray(shapely.intersects_xy(geom, np.asarray(x, np.float64), np.asarray(y, np.float64)), bool)


def patches_inside(geom: Any, grid: Any) -> np.ndarray:
    """(rows, cols) bool: whether each patch of a `tissue.PatchGrid` has its centre inside `geom`."""
    rows, cols = grid.shape
    half = grid.half if grid.rule == "wsinfer" else grid.patch0 / 2
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    origins = grid.origins0(np.stack([ii.ravel(), jj.ravel()], 1)).astype(np.float64)
    return inside(geom, origins[:, 0] + half, origins[:, 1] + half).reshape(rows, cols)


def restrict(mask: np.ndarray, roi: Any, width: int) -> np.ndarray:
    """A thumbnail mask (of a slide `width` level-0 pixels wide) kept only inside the regions of interest `roi`
    (level-0 pixels; None: the whole mask)."""
    if roi is None:
        return mask
    return mask & rasterise(roi, mask.shape, width / mask.shape[1])


def rasterise(geom: Any, shape: tuple[int, int], scale: float, chunk: int = 1 << 22) -> np.ndarray:
    """Boolean mask of `shape` (rows, columns) whose pixel (r, c) covers level-0 [c, c + 1) x [r, r + 1) times
    `scale`: True where the pixel's centre lies inside `geom` (tested within its bounding box, in chunks)."""
    import shapely

    rows, cols = shape
    out = np.zeros((rows, cols), bool)
    if geom.is_empty:
        return out
    shapely.prepare(geom)
    x0, y0, x1, y1 = geom.bounds
    c0, c1 = max(0, int(np.floor(x0 / scale - 0.5))), min(cols, int(np.ceil(x1 / scale + 0.5)))
    r0, r1 = max(0, int(np.floor(y0 / scale - 0.5))), min(rows, int(np.ceil(y1 / scale + 0.5)))
    if c1 <= c0 or r1 <= r0:
        return out
    xs = (np.arange(c0, c1) + 0.5) * scale
    step = max(1, chunk // (c1 - c0))
    for r in range(r0, r1, step):
        ys = (np.arange(r, min(r1, r + step)) + 0.5) * scale
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        out[r : r + len(ys), c0:c1] = shapely.contains_xy(geom, xx, yy)
    return out
