"""QuPath GeoJSON out and in (#24 §3): valid geometry, QuPath's properties, exact mask outlines, round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from radpath.errors import PathologyError
from radpath.palettes import CELLS, COMPARTMENTS, TUMOR_TIL
from radpath.pathology import geojson


def _rings(labels: np.ndarray, key: int, scale: float) -> shapely.Geometry:
    return geojson.mask_polygon(labels == key, scale)


def test_mask_outline_is_exact_valid_and_keeps_holes() -> None:
    labels = np.zeros((12, 16), np.uint8)
    labels[2:10, 2:10] = 1          # an 8 x 8 square of tumour ...
    labels[4:6, 4:6] = 2            # ... with a 2 x 2 hole of stroma in it
    labels[1, 12:15] = 1            # a separate 1 x 3 bar: tumour is a MultiPolygon
    labels[8, 13] = 5               # a single pixel
    tumour = _rings(labels, 1, 4.0)
    assert tumour.is_valid and tumour.geom_type == "MultiPolygon"
    # area by hand: (64 - 4 + 3) pixels of 4 x 4 level-0 pixels
    assert tumour.area == pytest.approx((64 - 4 + 3) * 16.0)
    square = max(tumour.geoms, key=lambda g: g.area)
    assert len(square.interiors) == 1 and shapely.Polygon(square.interiors[0]).area == pytest.approx(4 * 16.0)
    assert square.exterior.bounds == (8.0, 8.0, 40.0, 40.0)        # pixel borders x scale
    assert len(square.exterior.coords) == 5                         # collinear vertices removed
    pixel = _rings(labels, 5, 4.0)
    assert pixel.area == 16.0 and pixel.bounds == (52.0, 32.0, 56.0, 36.0)
    # diagonal neighbours touch at a corner only: still valid (two polygons, not a self-touching ring)
    diagonal = np.zeros((4, 4), bool)
    diagonal[0, 0] = diagonal[1, 1] = True
    assert geojson.mask_polygon(diagonal).is_valid and geojson.mask_polygon(diagonal).area == 2.0


def test_written_files_are_qupath_feature_collections(tmp_path: Path) -> None:
    labels = np.zeros((10, 10), np.uint8)
    labels[1:5, 1:5], labels[6:9, 2:9] = 1, 6
    feats = (geojson.tiles("S1", np.array([[0, 0], [100, 0]]), 100.0,
                           {"tumor probability": np.array([0.9, 0.1]), "lymphocyte probability": np.array([0.2, 0.8])},
                           classes=[2, 3], palette=TUMOR_TIL)
             + geojson.mask_annotations("S1", labels, 8.0, COMPARTMENTS)
             + geojson.cells("S1", np.array([[5.5, 6.25], [40.0, 41.0]]), ["lymphocyte", "other"],
                             np.array([0.9, 0.6]), CELLS))
    path = geojson.write(tmp_path / "s.geojson", feats)
    data = json.loads(path.read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 2 + 2 + 2
    kinds = [f["properties"]["objectType"] for f in data["features"]]
    assert kinds == ["tile", "tile", "annotation", "annotation", "detection", "detection"]
    tile = data["features"][0]
    assert tile["properties"]["measurements"] == {"tumor probability": 0.9, "lymphocyte probability": 0.2}
    assert tile["properties"]["isLocked"] is True
    assert tile["properties"]["classification"] == {"name": "tumour", "color": [255, 210, 0]}
    assert tile["geometry"]["coordinates"] == [[[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0], [0.0, 0.0]]]
    stroma = data["features"][3]
    assert stroma["properties"]["classification"] == {"name": "inflamed stroma", "color": [55, 126, 184]}
    cell = data["features"][4]
    assert cell["geometry"] == {"type": "Point", "coordinates": [5.5, 6.25]}
    assert cell["properties"]["classification"]["name"] == "lymphocyte"
    for f in data["features"]:
        assert str(__import__("uuid").UUID(f["id"])) == f["id"]
        assert shapely.from_geojson(json.dumps(f["geometry"])).is_valid
    # the same input writes the same file (ids are derived, not random)
    assert geojson.write(tmp_path / "t.geojson", feats).read_bytes() == path.read_bytes()


def test_export_import_export_gives_the_same_geometry(tmp_path: Path) -> None:
    labels = np.zeros((20, 20), np.uint8)
    labels[2:15, 3:18] = 1
    labels[5:8, 6:9] = 0
    first = geojson.write(tmp_path / "a.geojson", geojson.mask_annotations("S", labels, 2.5, COMPARTMENTS))
    imported = geojson.read_features(first, "S")
    again = [geojson.feature(geojson.geometry(f, "S", str(first)), f["properties"]["objectType"], f["id"],
                             classification=f["properties"].get("classification"),
                             locked=f["properties"].get("isLocked")) for f in imported]
    second = geojson.write(tmp_path / "b.geojson", again)
    assert second.read_bytes() == first.read_bytes()
    roi = geojson.regions(second, "S")
    assert roi.equals(geojson.mask_polygon(labels == 1, 2.5)) and roi.area == pytest.approx((13 * 15 - 9) * 6.25)


def test_qupath_exports_are_read(tmp_path: Path) -> None:
    # as QuPath 0.2 writes them: a bare list, measurements as a list, colorRGB as an int; and a MultiPoint
    exported = [
        {"type": "Feature", "id": "PathAnnotationObject",
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [50, 0], [50, 40], [0, 40], [0, 0]]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "colorRGB": -3670016},
                        "measurements": [{"name": "Area", "value": 2000.0}], "isLocked": False}},
        {"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[10, 12], [20, 22]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Lymphocyte"}}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [30, 5]},
         "properties": {"objectType": "annotation", "classification": {"name": "Tumor cell"}}},
    ]
    path = tmp_path / "qupath.geojson"
    path.write_text(json.dumps(exported))
    features = geojson.read_features(path, "C")
    assert geojson.measurements(features[0]) == {"Area": 2000.0} and geojson.class_name(features[0]) == "Tumor"
    assert geojson.regions(path, "C").area == 2000.0
    xy, classes = geojson.points(path, "C", {"Lymphocyte": "lymphocyte", "Tumor cell": "other"})
    assert xy.tolist() == [[10, 12], [20, 22], [30, 5]] and classes == ["lymphocyte", "lymphocyte", "other"]
    with pytest.raises(PathologyError, match="point class 'Tumor cell' is not mapped"):
        geojson.points(path, "C", {"Lymphocyte": "lymphocyte"})
    bowtie = tmp_path / "bowtie.geojson"
    crossing = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    bowtie.write_text(json.dumps({"type": "FeatureCollection",
                                  "features": [{"type": "Feature", "properties": {}, "geometry": crossing}]}))
    with pytest.raises(PathologyError, match="invalid Polygon.*Self-intersection"):
        geojson.regions(bowtie, "C")
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(PathologyError, match="not a readable GeoJSON"):
        geojson.read_features(tmp_path / "bad.geojson", "C")


def test_rasterise_fills_polygons_and_clears_holes() -> None:
    outer = shapely.Polygon([(0, 0), (40, 0), (40, 40), (0, 40)], [[(10, 10), (30, 10), (30, 30), (10, 30)]])
    mask = geojson.rasterise(outer, (10, 10), 5.0)     # 5 level-0 px per mask px: 8 x 8 filled, 4 x 4 hole
    assert mask[:8, :8].sum() == 64 - 16 and not mask[8:].any() and not mask[2:6, 2:6].any()


def test_qupath_points_are_ground_truth_for_evaluate_cells(tmp_path: Path) -> None:
    from PIL import Image

    from radpath.errors import ConfigError
    from radpath.pathology.cells.data import load_labelled

    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(tmp_path / "fov.png")
    pts = [{"type": "Feature", "geometry": {"type": "MultiPoint", "coordinates": [[10.5, 20.0], [30.0, 5.0]]},
            "properties": {"objectType": "annotation", "classification": {"name": "Lymphocyte"}}},
           {"type": "Feature", "geometry": {"type": "Point", "coordinates": [50.0, 35.0]},
            "properties": {"objectType": "annotation", "classification": {"name": "Tumor"}}},
           {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [5, 0], [5, 5], [0, 0]]]},
            "properties": {"objectType": "annotation"}}]   # a region: not a point, left out
    (tmp_path / "fov.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": pts}))
    with pytest.raises(ConfigError, match="need a class_map"):
        load_labelled(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"mpp": 0.5, "class_map": {"Lymphocyte": "lymphocyte",
                                                                                  "Tumor": "ki67_negative"}}))
    (item,) = load_labelled(tmp_path)
    assert item.xy.tolist() == [[10.5, 20.0], [30.0, 5.0], [50.0, 35.0]]
    assert item.classes.tolist() == ["lymphocyte", "lymphocyte", "ki67_negative"] and item.mpp == 0.5
