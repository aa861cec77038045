"""detect-cells end to end: what the cases are, the per-case worker, the warehouse writer.

Targets:
* a cohort manifest (.yaml): its `slides` section, whole slides of the cohort's included patients (the
  same lookup `score-wsi` uses), tiled on tissue;
* a CSV image list (patient_id, image[, mpp]; paths relative to the CSV): each patient's fields of view;
* a folder: one sub-folder of images per patient, or image files (one patient each, named by the stem);
  whole-slide files (.svs .ndpi .mrxs .scn .bif .tif .tiff) in a folder are slides, one patient each.

The worker (`detect_case`, runs on the executor's workers) detects every cell, writes the case's cell file
(`cellfile.cell_file_path(out, cohort, case)`) and returns counts and scores; the coordinating process
replaces the patient's rows of `cell_files`, `cell_scores` and its `features` (modality 'cells') in one
transaction per case (`stage.run_case_stage`).

A patient may have both IHC fields of view and an H&E slide: a `cell_files` row is replaced per (cohort,
patient, source path), and an H&E detector (model `stain` "he": lymphocytes only, no Ki-67 classes) writes
its own features (`scoring.HE_FEATURE_DEFS`) and no `cell_scores` row (that table holds the Ki-67 index and
cell TIL score, one row per patient), so the two detections of a patient sit side by side. The H&E
slide's cell file is what `segment-wsi --cells` reads for TIGER's stromal TIL score.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import ConfigError
from radpath.pathology.cellfile import cell_file_path, cell_frame, write_cells
from radpath.pathology.cells.data import DEFAULT_MPP, IMAGE_SUFFIXES, read_image
from radpath.pathology.cells.scoring import (
    STAIN_FEATURE_DEFS,
    cell_scores,
    class_counts,
    ki67_category,
    til_cell_category,
)
from radpath.progress import Progress
from radpath.stage import StageSummary, run_case_stage
from radpath.warehouse.runs import Run, hash_file
from radpath.warehouse.write import register_feature_defs, replace_rows, write_features

MODALITY = "cells"
GEOJSON_FILE = "cells.geojson"    # beside the case's cell file: its cells as QuPath detections (level-0 pixels)
SLIDE_SUFFIXES = {".svs", ".ndpi", ".mrxs", ".scn", ".bif", ".tif", ".tiff"}


@dataclass(frozen=True)
class DetectParams:
    model: str
    out_dir: str
    device: str = "cpu"
    mpp: float | None = None          # microns per pixel of images / slides that lack it
    batch: int = 8                    # slide tiles per inference batch
    workers: int = 1                  # threads reading slide tiles ahead of the model
    threads: int = 0                  # torch threads per worker (0 = torch's default)
    stain: str = "auto"               # slides' tissue mask: auto | he (saturation) | ihc (optical density)


@functools.lru_cache(maxsize=2)
def _model(path: str, device: str) -> tuple[Any, dict[str, Any]]:
    from radpath.pathology.cells.nets import load_cell_model

    return load_cell_model(path, device=device)


def detect_case(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker: payload {case_id, cohort, kind ('images' | 'slide'), images [(name, path, mpp)] or slide}."""
    import torch

    from radpath.pathology.cells.detect import detect_image, detect_slide

    params = DetectParams(**payload["params"])
    case_id = str(payload["case_id"])
    if params.threads:
        torch.set_num_threads(params.threads)
    model, meta = _model(params.model, params.device)
    shapes: str | None = None
    flags: list[dict[str, Any]] = []
    if payload["kind"] == "slide":
        from radpath.palettes import CELLS
        from radpath.pathology import geojson

        roi = geojson.regions(payload["annotations"], case_id) if payload.get("annotations") else None
        found = detect_slide(model, meta, payload["slide"], case_id, mpp=params.mpp, device=params.device,
                             batch=params.batch, readers=params.workers, stain=params.stain, roi=roi)
        mpp = float(found["mpp"])
        frame = cell_frame(Path(payload["slide"]).stem, found["xy"][:, 0], found["xy"][:, 1],
                           list(found["classes"]), mpp, found["scores"])
        area, n_images, source = float(found["tissue_mm2"]), 1, str(payload["slide"])
        tissue_method, flags = str(found["tissue_method"]), found["qc"]
        shapes = str(geojson.write(cell_file_path(params.out_dir, str(payload["cohort"]), case_id).with_name(
            GEOJSON_FILE), geojson.cells(case_id, found["xy"], list(found["classes"]), found["scores"], CELLS)))
    else:
        parts, area, tissue_method = [], 0.0, "field"
        mpps = set()
        for name, path, mpp_image in payload["images"]:
            rgb = read_image(path, case_id)
            mpp = float(mpp_image or params.mpp or DEFAULT_MPP)
            mpps.add(mpp)
            xy, classes, scores = detect_image(model, meta, rgb, mpp=mpp, device=params.device)
            parts.append(cell_frame(name, xy[:, 0], xy[:, 1], list(classes), mpp, scores))
            area += rgb.shape[0] * rgb.shape[1] * mpp**2 / 1e6      # a field of view is all tissue
        frame = pd.concat(parts, ignore_index=True)
        mpp = mpps.pop() if len(mpps) == 1 else float("nan")
        n_images = len(payload["images"])
        source = str(Path(payload["images"][0][1]).parent) if n_images > 1 else str(payload["images"][0][1])
    path = write_cells(cell_file_path(params.out_dir, str(payload["cohort"]), case_id), frame)
    return {"source": source, "kind": payload["kind"], "cells_path": str(path), "n_cells": len(frame), "mpp": mpp,
            "n_images": n_images, "area_mm2": area, "tissue_method": tissue_method, "counts": class_counts(frame),
            "scores": cell_scores(frame, area, str(meta.get("stain", "ihc"))), "method": meta["method"],
            "stain": str(meta.get("stain", "ihc")), "geojson": shapes, "qc": flags}


def write_case(con: duckdb.DuckDBPyConnection, run: Run, case_id: str, value: dict[str, Any], *, cohort: str,
               model: str) -> None:
    """Replace this patient's rows of cell_files, cell_scores and its cell features (and a slide's QC flags)."""
    from radpath.pathology.qc import write_flags

    key = {"cohort": cohort, "patient_id": case_id}
    replace_rows(con, "cell_files", pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "source_path": value["source"], "cells_path": value["cells_path"],
        "n_cells": value["n_cells"], "mpp": value["mpp"], "tissue_method": value["tissue_method"],
        "tissue_area_mm2": value["area_mm2"], "geojson": value.get("geojson"), "run_id": run.run_id}]),
        {**key, "source_path": value["source"]})
    if value["kind"] == "slide":
        write_flags(con, run, cohort, case_id, "detect-cells", value.get("qc", []), source=value["source"])
    s, n = value["scores"], value["counts"]
    if value["stain"] == "he":
        write_features(con, run, cohort, MODALITY, pd.DataFrame({"patient_id": case_id, "code": list(s),
                                                                 "value": list(s.values())}))
        return
    replace_rows(con, "cell_scores", pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "source_kind": value["kind"], "method": value["method"],
        "n_images": value["n_images"], "n_ki67_positive": n["ki67_positive"], "n_ki67_negative": n["ki67_negative"],
        "n_lymphocyte": n["lymphocyte"] + n["plasma_cell"], "tissue_area_mm2": value["area_mm2"],
        "ki67_index": s["KI67_INDEX"], "til_cell_score": s["TIL_CELL_SCORE"],
        "ki67_category": ki67_category(s["KI67_INDEX"]), "til_cell_category": til_cell_category(s["TIL_CELL_SCORE"]),
        "model_path": model, "run_id": run.run_id}]), key)
    write_features(con, run, cohort, MODALITY, pd.DataFrame({"patient_id": case_id, "code": list(s),
                                                             "value": list(s.values())}))


def _image_list(path: Path) -> list[tuple[str, list[tuple[str, str, float | None]]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"patient_id", "image"} <= set(rows[0]):
        raise ConfigError(f"image list {path}: expected a CSV with columns patient_id,image[,mpp]")
    cases: dict[str, list[tuple[str, str, float | None]]] = {}
    for row in rows:
        image = path.parent / row["image"]
        mpp = float(row["mpp"]) if row.get("mpp") not in (None, "") else None
        cases.setdefault(row["patient_id"], []).append((row["image"], str(image), mpp))
    return list(cases.items())


def _folder(path: Path) -> tuple[list[tuple[str, Any]], str]:
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    files = sorted(p for p in path.iterdir() if p.is_file())
    slides = [f for f in files if f.suffix.lower() in SLIDE_SUFFIXES]
    if slides:
        return [(f.stem, str(f)) for f in slides], "slide"
    images: list[tuple[str, Any]] = []
    for sub in subdirs:
        found = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            images.append((sub.name, [(f"{sub.name}/{f.name}", str(f), None) for f in found]))
    images += [(f.stem, [(f.name, str(f), None)]) for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ConfigError(f"folder {path}: no images ({sorted(IMAGE_SUFFIXES)}) or slides ({sorted(SLIDE_SUFFIXES)})")
    return images, "images"


def detect_cases(con: duckdb.DuckDBPyConnection, target: str, cohort: str | None, mpp: float | None
                 ) -> tuple[str, str, list[tuple[str, Any]], float | None]:
    """(cohort, kind, [(patient_id, images or slide path)], mpp) of one target (see the module docstring)."""
    from radpath.pathology.cases import slide_cases

    path = Path(target)
    if path.suffix.lower() in {".yaml", ".yml"}:
        name, slides, slide_mpp = slide_cases(con, target, mpp)
        return cohort or name, "slide", [(pid, p) for pid, p in slides], slide_mpp
    if not path.exists():
        raise ConfigError(f"detect-cells target {path} does not exist")
    if path.is_file() and path.suffix.lower() == ".csv":
        return cohort or path.parent.name, "images", list(_image_list(path)), mpp
    if path.is_file():
        kind = "slide" if path.suffix.lower() in SLIDE_SUFFIXES else "images"
        case: Any = str(path) if kind == "slide" else [(path.name, str(path), None)]
        return cohort or "cells", kind, [(path.stem, case)], mpp
    cases, kind = _folder(path)
    return cohort or path.name, kind, cases, mpp


def detect_cells(
    con: duckdb.DuckDBPyConnection, targets: list[str], params: DetectParams, *, cohort: str | None = None,
    method: str | None = None, jobs: int = 1, scheduler: str | None = None, retry_failed: bool = False,
    progress: Progress | None = None,
) -> list[StageSummary]:
    """Detect cells for every case of the targets through `run_case_stage` (one run per cohort)."""
    from radpath.pathology.cases import annotation_files
    from radpath.pathology.cells.nets import load_cell_model
    from radpath.pathology.tissue import STAINS

    if params.stain not in STAINS:
        raise ConfigError(f"--stain must be one of {', '.join(STAINS)}, got {params.stain!r}")
    _, meta = load_cell_model(params.model, method)   # fail early (wrong kind of model file), before a run
    stain = str(meta.get("stain", "ihc"))
    groups: dict[tuple[str, str, float | None], list[tuple[str, Any]]] = {}
    for target in targets:
        name, kind, cases, mpp = detect_cases(con, target, cohort, params.mpp)
        groups.setdefault((name, kind, mpp), []).extend(cases)
    register_feature_defs(con, MODALITY, STAIN_FEATURE_DEFS[stain])
    rois = annotation_files(con, targets)
    summaries = []
    for (name, kind, mpp), cases in groups.items():
        run_params = {**asdict(params), "mpp": mpp, "kind": kind, "model_hash": hash_file(Path(params.model))}
        payloads = [(pid, {"case_id": pid, "cohort": name, "kind": kind,
                           ("slide" if kind == "slide" else "images"): case,
                           "annotations": rois.get(case) if kind == "slide" else None,
                           "params": {**asdict(params), "mpp": mpp}}) for pid, case in cases]
        summaries.append(run_case_stage(
            con, command="detect-cells", stage="detect-cells", cohort=name, params=run_params,
            inputs={"model": run_params["model_hash"]}, cases=payloads, worker=detect_case,
            write=functools.partial(write_case, cohort=name, model=params.model),
            jobs=jobs, scheduler=scheduler, retry_failed=retry_failed, progress=progress,
        ))
    return summaries


def summary_frame(con: duckdb.DuckDBPyConnection, cohort: str) -> pd.DataFrame:
    return con.execute("SELECT * FROM cell_scores WHERE cohort = ? ORDER BY patient_id", [cohort]).df()


__all__ = ["DetectParams", "detect_case", "detect_cells", "np"]
