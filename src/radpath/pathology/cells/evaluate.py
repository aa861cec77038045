"""evaluate-cells: a cell detector against labelled images, under one or more evaluation protocols.

Protocols (`PROTOCOLS`; the default follows the labels' format, `default_protocol`: TIGER's COCO JSON ->
tiger, SHIDC-B-Ki-67 JSON -> pathonet, anything else -> radpath):

* radpath (radpath's own): per class precision, recall and F1 within `radius_um` (optimal one-to-one
  matching, `matching.match_cells`), pooled over the images; "all" pools the counts of the classes, "macro"
  averages the per-class values. For lymphocytes a FROC (sensitivity at 10-300 false positives per mm2 of the
  images): the lymphocyte threshold runs over the tuning grid (`train.THRESHOLD_GRID`), the post-processing
  detecting afresh at each (a density map thresholded lower merges touching cells, so filtering one
  low-threshold detection set by score would not give the detector's operating points); every operating
  point gives (false positives, sensitivity), and sens@r is the best sensitivity with at most r false
  positives per mm2.
* tiger (the TIGER challenge's code, `protocols.tiger_froc`): the lymphocyte FROC only. One detection run gives
  the points and their probabilities (the density maps' peak values, or the patch probabilities), as a TIGER
  submission does: by default the model's own thresholds, i.e. the cells `detect-cells` writes, else the
  lymphocyte threshold `tiger_threshold` (lower adds candidates, but a density map thresholded low merges
  touching cells: on the demo's H&E detector a run at 0.1 finds a third of the cells the tuned 0.6 finds);
  the sweep is over every unique probability, with greedy matching within 4 µm (8 px at 0.5 µm/px;
  coordinates are converted to 0.5 µm/px pixels) and false positives per mm2 of the images.
* pathonet (the PathoNet paper's `evaluation.py`, `protocols.pathonet_image_counts`): per class precision,
  recall and F1 at the model's thresholds, each labelled point counting its nearest detection within 20 px
  of the 256 x 256 network input (the image's detections and labels scaled from the image's own size, which
  is PathoNet's 1024 px for SHIDC-B-Ki-67).

Whatever the protocol: Ki-67 index and TIL score RMSE (percentage points) between detected and labelled
counts per image (or per patient when dataset.json maps images to patients: {"patients": {image: patient}},
as the paper groups crops by patient), and the accuracy of their cut-off categories; they compare counts,
not matched points. A detector without the Ki-67 classes (the H&E lymphocyte detector, the patch method) has
no Ki-67 or cell TIL score: those entries are NaN.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import ConfigError
from radpath.pathology.cells.data import label_format, load_labelled
from radpath.pathology.cells.matching import add_counts, froc_points, match_cells, match_points
from radpath.pathology.cells.protocols import (
    PATHONET_INPUT_PX,
    PATHONET_RADIUS_PX,
    TIGER_MPP,
    TIGER_RADIUS_PX,
    TIGER_RADIUS_UM,
    pathonet_image_counts,
    tiger_froc,
)
from radpath.pathology.cells.scoring import ki67_category, ki67_index, til_cell_category, til_cell_score
from radpath.pathology.evaluations import check_protocols

PROTOCOLS = ("radpath", "tiger", "pathonet")
FORMAT_PROTOCOL = {"tiger-coco": "tiger", "shidc-json": "pathonet"}
SCORE_KEYS = ("ki67_rmse", "til_rmse", "ki67_category_accuracy", "til_category_accuracy")


def default_protocol(data: str | Path) -> str:
    """The protocol a labelled folder's numbers are published under, from its label format."""
    return FORMAT_PROTOCOL.get(label_format(data), "radpath")


def _counts(classes: np.ndarray) -> tuple[int, int, int]:
    c = np.asarray(classes).astype(str)
    return (int((c == "ki67_positive").sum()), int((c == "ki67_negative").sum()),
            int(np.isin(c, ["lymphocyte", "plasma_cell"]).sum()))


def _rmse(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.sqrt(np.mean((x[ok] - y[ok]) ** 2))) if ok.any() else float("nan")


def _accuracy(a: list[str | None], b: list[str | None]) -> float:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return float(np.mean([x == y for x, y in pairs])) if pairs else float("nan")


def _scores(groups: dict[str, list[np.ndarray]]) -> dict[str, float]:
    ki_pred, ki_true, til_pred, til_true = [], [], [], []
    for rows in groups.values():
        p_pos, p_neg, p_lym, t_pos, t_neg, t_lym = np.sum(rows, axis=0)
        ki_pred.append(float(ki67_index(p_pos, p_neg)))
        ki_true.append(float(ki67_index(t_pos, t_neg)))
        til_pred.append(float(til_cell_score(p_lym, p_pos, p_neg)))
        til_true.append(float(til_cell_score(t_lym, t_pos, t_neg)))
    return {
        "ki67_rmse": _rmse(ki_pred, ki_true), "til_rmse": _rmse(til_pred, til_true),
        "ki67_category_accuracy": _accuracy([ki67_category(v) for v in ki_pred], [ki67_category(v) for v in ki_true]),
        "til_category_accuracy": _accuracy([til_cell_category(v) for v in til_pred],
                                           [til_cell_category(v) for v in til_true]),
    }


def evaluate_cells(
    data: str | Path, model_path: str | Path, *, protocols: Sequence[str] | None = None, radius_um: float = 5.0,
    device: str = "cpu", mpp: float | None = None, method: str | None = None, tiger_threshold: float | None = None,
) -> dict[str, Any]:
    """Metrics of the model file on the labelled folder `data` under each protocol (see the module docstring):
    {"protocols": {name: {...}}, "scores": {...}, and what was evaluated}."""
    from radpath.pathology.cells.detect import image_predictor
    from radpath.pathology.cells.nets import load_cell_model
    from radpath.pathology.cells.train import THRESHOLD_GRID

    chosen = check_protocols(list(protocols) if protocols else [default_protocol(data)], PROTOCOLS)
    model, meta = load_cell_model(model_path, method, device=device)
    classes = list(meta["classes"])
    if "tiger" in chosen and "lymphocyte" not in classes:
        raise ConfigError(f"model {model_path}: the tiger protocol scores lymphocyte detection, but the model "
                          f"detects {classes}")
    items = load_labelled(data, mpp)
    info_file = Path(data) / "dataset.json"
    patients = json.loads(info_file.read_text(encoding="utf-8")).get("patients", {}) if info_file.is_file() else {}
    lymph = classes.index("lymphocyte") if "lymphocyte" in classes else None

    tiger_run = tiger_threshold if tiger_threshold is not None or lymph is None else float(meta["thresholds"][lymph])

    def only_lymphocytes(threshold: float) -> list[float]:
        return [threshold if j == lymph else 1e9 for j in range(len(classes))]

    pooled: dict[str, dict[str, dict[str, float]]] = {"radpath": {}, "pathonet": {}}
    groups: dict[str, list[np.ndarray]] = {}
    sweep = np.zeros((len(THRESHOLD_GRID), 2))      # lymphocyte false positives, true positives per threshold
    tiger_rois: list[tuple[np.ndarray, np.ndarray]] = []
    n_lymph = 0
    area = 0.0
    for item in items:
        predict = image_predictor(model, meta, item.rgb, mpp=item.mpp, device=device)
        xy, names, score = predict(list(meta["thresholds"]))
        h, w = item.rgb.shape[:2]
        key = str(patients.get(item.name, item.name))
        groups.setdefault(key, []).append(np.array([*_counts(names), *_counts(item.classes)]))
        area += h * w * item.mpp**2 / 1e6
        true_lymph = item.xy[item.classes == "lymphocyte"]
        n_lymph += len(true_lymph)
        if "radpath" in chosen:
            radius = radius_um / item.mpp
            pooled["radpath"] = add_counts(pooled["radpath"], match_cells(xy, names, item.xy, item.classes, radius,
                                                                          classes))
            for k, t in enumerate(THRESHOLD_GRID if lymph is not None else ()):
                cxy, cnames, _ = predict(only_lymphocytes(t))
                found = cxy[cnames == "lymphocyte"]
                hit = len(match_points(found, true_lymph, radius))
                sweep[k] += (len(found) - hit, hit)
        if "pathonet" in chosen:
            scale = np.array([PATHONET_INPUT_PX[0] / w, PATHONET_INPUT_PX[1] / h])
            counts = pathonet_image_counts(item.xy, item.classes, xy * scale, names, classes, image_px=(w, h))
            pooled["pathonet"] = add_counts(pooled["pathonet"], counts)
        if "tiger" in chosen:
            cxy, cnames, cscore = (xy, names, score) if tiger_threshold is None else predict(
                only_lymphocytes(tiger_threshold))
            sel = cnames == "lymphocyte"
            to_tiger = item.mpp / TIGER_MPP             # image pixels -> TIGER's 0.5 µm/px pixels
            tiger_rois.append((true_lymph * to_tiger, np.column_stack([cxy[sel] * to_tiger, cscore[sel]])))
    results: dict[str, dict[str, Any]] = {}
    for name in chosen:
        if name == "radpath":
            results[name] = {"radius_um": radius_um, "classes": pooled["radpath"]}
            if lymph is not None:
                results[name]["froc_lymphocyte"] = froc_points(
                    [(fp, tp / n_lymph if n_lymph else float("nan")) for fp, tp in sweep], area)
        elif name == "pathonet":
            results[name] = {"radius_px": PATHONET_RADIUS_PX, "input_px": PATHONET_INPUT_PX[0],
                             "classes": pooled["pathonet"]}
        else:
            results[name] = {"radius_um": TIGER_RADIUS_UM, "radius_px": TIGER_RADIUS_PX,
                             "run_threshold": tiger_run,
                             "froc_lymphocyte": tiger_froc(tiger_rois, area)}
    scores = _scores(groups)
    if not {"ki67_positive", "ki67_negative"} <= set(classes):   # no tumour cells: these scores are undefined
        scores = dict.fromkeys(SCORE_KEYS, float("nan"))
    return {
        "n_images": len(items), "n_groups": len(groups), "method": meta["method"], "model_mpp": float(meta["mpp"]),
        "area_mm2": area, "stain": str(meta.get("stain", "ihc")), "class_names": classes, "protocols": results,
        "scores": scores,
    }


def evaluation_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The result as `pathology_evaluations` rows (`radpath.pathology.evaluations.metric_rows`)."""
    from radpath.pathology.evaluations import metric_rows

    rows = []
    for name, part in result["protocols"].items():
        rows += metric_rows(name, part.get("classes", {}))
        if "froc_lymphocyte" in part:
            rows += metric_rows(name, {"lymphocyte": part["froc_lymphocyte"]})
    return rows + metric_rows("counts", {"scores": result["scores"]})
