"""evaluate-cells: a cell detector against labelled images (the papers' protocol).

Per class precision, recall and F1 within `radius_um` (optimal one-to-one matching, `matching.match_cells`),
pooled over the images; "all" pools the counts of the classes (the PathoNet paper's "Average"), "macro"
averages the per-class values. Ki-67 index and TIL score RMSE (percentage points) between detected and
labelled counts per image (or per patient when dataset.json maps images to patients: {"patients":
{image: patient}}, as the paper groups crops by patient), and the accuracy of their cut-off categories.
For lymphocytes, a TIGER-style FROC (sensitivity at 10-300 false positives per mm2 of the images): the
lymphocyte threshold runs over the tuning grid (`train.THRESHOLD_GRID`), the post-processing detecting
afresh at each (a density map thresholded lower merges touching cells, so filtering one low-threshold
detection set by score would not give the detector's operating points); every operating point gives
(false positives, sensitivity), and sens@r is the best sensitivity with at most r false positives per mm2.
A detector without the Ki-67 classes (the H&E lymphocyte detector, the patch method) has no Ki-67 or cell
TIL score: those entries are NaN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from radpath.pathology.cells.data import load_labelled
from radpath.pathology.cells.matching import add_counts, froc_points, match_cells, match_points
from radpath.pathology.cells.scoring import ki67_category, ki67_index, til_cell_category, til_cell_score


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


def evaluate_cells(
    data: str | Path, model_path: str | Path, *, radius_um: float = 5.0, device: str = "cpu",
    mpp: float | None = None, method: str | None = None,
) -> dict[str, Any]:
    """Metrics of the model file on the labelled folder `data` (see the module docstring)."""
    from radpath.pathology.cells.detect import image_predictor
    from radpath.pathology.cells.nets import load_cell_model
    from radpath.pathology.cells.train import THRESHOLD_GRID

    model, meta = load_cell_model(model_path, method, device=device)
    items = load_labelled(data, mpp)
    info_file = Path(data) / "dataset.json"
    patients = json.loads(info_file.read_text(encoding="utf-8")).get("patients", {}) if info_file.is_file() else {}
    classes = list(meta["classes"])
    pooled: dict[str, dict[str, float]] = {}
    groups: dict[str, list[np.ndarray]] = {}
    sweep = np.zeros((len(THRESHOLD_GRID), 2))      # lymphocyte false positives, true positives per threshold
    n_lymph = 0
    area = 0.0
    for item in items:
        predict = image_predictor(model, meta, item.rgb, mpp=item.mpp, device=device)
        xy, names, scores = predict(list(meta["thresholds"]))
        radius = radius_um / item.mpp
        pooled = add_counts(pooled, match_cells(xy, names, item.xy, item.classes, radius, classes))
        key = str(patients.get(item.name, item.name))
        pred_counts, true_counts = _counts(names), _counts(item.classes)
        groups.setdefault(key, []).append(np.array([*pred_counts, *true_counts]))
        if "lymphocyte" in classes:
            c = classes.index("lymphocyte")
            true = item.xy[item.classes == "lymphocyte"]
            n_lymph += len(true)
            for k, t in enumerate(THRESHOLD_GRID):
                cxy, cnames, _ = predict([t if j == c else 1e9 for j in range(len(classes))])
                found = cxy[cnames == "lymphocyte"]
                hit = len(match_points(found, true, radius))
                sweep[k] += (len(found) - hit, hit)
        area += item.rgb.shape[0] * item.rgb.shape[1] * item.mpp**2 / 1e6
    ki_pred, ki_true, til_pred, til_true = [], [], [], []
    for rows in groups.values():
        p_pos, p_neg, p_lym, t_pos, t_neg, t_lym = np.sum(rows, axis=0)
        ki_pred.append(float(ki67_index(p_pos, p_neg)))
        ki_true.append(float(ki67_index(t_pos, t_neg)))
        til_pred.append(float(til_cell_score(p_lym, p_pos, p_neg)))
        til_true.append(float(til_cell_score(t_lym, t_pos, t_neg)))
    out: dict[str, Any] = {
        "n_images": len(items), "n_groups": len(groups), "radius_um": radius_um, "method": meta["method"],
        "model_mpp": float(meta["mpp"]), "area_mm2": area, "stain": str(meta.get("stain", "ihc")),
        "classes": {k: v for k, v in pooled.items()},
        "ki67_rmse": _rmse(ki_pred, ki_true), "til_rmse": _rmse(til_pred, til_true),
        "ki67_category_accuracy": _accuracy([ki67_category(v) for v in ki_pred], [ki67_category(v) for v in ki_true]),
        "til_category_accuracy": _accuracy([til_cell_category(v) for v in til_pred],
                                           [til_cell_category(v) for v in til_true]),
    }
    if "lymphocyte" in classes:
        out["froc_lymphocyte"] = froc_points([(fp, tp / n_lymph if n_lymph else float("nan")) for fp, tp in sweep],
                                             area)
    if not {"ki67_positive", "ki67_negative"} <= set(classes):   # no tumour cells: these scores are undefined
        for key in ("ki67_rmse", "til_rmse", "ki67_category_accuracy", "til_category_accuracy"):
            out[key] = float("nan")
    return out
