"""Reading labelled cell data (SHIDC JSON, CSV points, TIGER COCO) and the errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radpath.errors import ConfigError, ModelFileError, PathologyError
from radpath.pathology.cells.data import load_labelled
from radpath.pathology.cells.nets import PathoNet, load_cell_model, save_cell_model
from radpath.synth.ihc import render_field, write_labelled


def _image(path: Path, size: int = 32) -> None:
    Image.fromarray(np.full((size, size, 3), 200, np.uint8)).save(path)


def test_shidc_layout_round_trip(tmp_path: Path) -> None:
    rgb, cells = render_field(np.random.default_rng(0), 40.0, 0.3, size=96, n_tumour=10)
    write_labelled(tmp_path / "a.png", rgb, cells)
    (tmp_path / "dataset.json").write_text(json.dumps({"mpp": 0.25}))
    [item] = load_labelled(tmp_path)
    assert item.mpp == 0.25 and item.rgb.shape == (96, 96, 3)
    assert np.allclose(item.xy, cells[["x", "y"]].to_numpy(), atol=1e-3)
    assert item.classes.tolist() == cells["class"].tolist()
    labels = json.loads((tmp_path / "a.json").read_text())
    assert {p["label_id"] for p in labels} <= {1, 2, 3}


def test_csv_points_and_tiger_coco(tmp_path: Path) -> None:
    _image(tmp_path / "x.png")
    _image(tmp_path / "y.png")
    (tmp_path / "points.csv").write_text(
        "image,x,y,class\nx.png,3,4,lymphocyte\nx.png,10,11,2\ny.png,5,5,ki67_positive\n")
    items = {i.name: i for i in load_labelled(tmp_path)}
    assert items["x.png"].classes.tolist() == ["lymphocyte", "ki67_negative"]
    assert items["y.png"].xy.tolist() == [[5.0, 5.0]]
    tiger = tmp_path / "tiger"
    tiger.mkdir()
    _image(tiger / "roi.png")
    coco = {"images": [{"id": 7, "file_name": "roi.png"}],
            "annotations": [{"image_id": 7, "bbox": [10, 20, 8, 8], "category_id": 1}]}
    (tiger / "tiger-coco.json").write_text(json.dumps(coco))
    [item] = load_labelled(tiger)
    assert item.xy.tolist() == [[14.0, 24.0]] and item.classes.tolist() == ["lymphocyte"]


def _shidc(folder: Path, points: object, name: str = "img") -> None:
    folder.mkdir(exist_ok=True)
    _image(folder / f"{name}.png")
    (folder / f"{name}.json").write_text(json.dumps(points))


def test_label_outside_the_class_set(tmp_path: Path) -> None:
    _shidc(tmp_path, [{"x": 3, "y": 3, "label_id": 7}])
    with pytest.raises(PathologyError, match=r"case img, file .*img\.json: label 7 is not a cell class"):
        load_labelled(tmp_path)


def test_point_outside_the_image(tmp_path: Path) -> None:
    _shidc(tmp_path, [{"x": 3, "y": 40, "label_id": 1}])
    with pytest.raises(PathologyError, match=r"img\.json: point \(3, 40\) lies outside the 32 x 32 image"):
        load_labelled(tmp_path)


def test_json_that_is_not_a_list_of_points(tmp_path: Path) -> None:
    _shidc(tmp_path, {"x": 3, "y": 3, "label_id": 1})
    with pytest.raises(PathologyError, match=r"img\.json: expected a JSON list of points"):
        load_labelled(tmp_path)


def test_empty_and_unreadable_images(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(PathologyError, match=r"case e, file .*e\.png: image file is empty"):
        load_labelled(tmp_path)
    (tmp_path / "e.png").write_bytes(b"not a png at all")
    with pytest.raises(PathologyError, match=r"e\.png: not a readable image"):
        load_labelled(tmp_path)


def test_missing_labels_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no images"):
        load_labelled(tmp_path)
    _image(tmp_path / "lonely.png")
    with pytest.raises(PathologyError, match=r"lonely\.json: no label file"):
        load_labelled(tmp_path)


def test_model_of_another_method_or_input_size(tmp_path: Path) -> None:
    path = tmp_path / "d.safetensors"
    save_cell_model(path, PathoNet(2), {"method": "density", "arch": "pathonet", "arch_kwargs": {"width": 2},
                                        "input_px": 64, "mpp": 0.5, "classes": ["a", "b", "c"]})
    model, meta = load_cell_model(path, "density", input_px=64)
    assert meta["format"] == "radpath-cell-detector"
    with pytest.raises(ModelFileError, match=r"d\.safetensors: a 'density' cell detector, expected 'patch'"):
        load_cell_model(path, "patch")
    with pytest.raises(ModelFileError, match="input size 64 px, expected 256 px"):
        load_cell_model(path, input_px=256)
    from radpath.pathology.til.nets import ResNet, save_classifier

    other = tmp_path / "til.safetensors"
    save_classifier(other, ResNet((1, 1, 1, 1), 4), {"task": "lymphocyte", "arch": "resnet18"})
    with pytest.raises(ModelFileError, match="expected a cell detector"):
        load_cell_model(other)
