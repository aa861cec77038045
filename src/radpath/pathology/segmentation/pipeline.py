"""Segmenting the slides of a cohort: the per-slide worker, the warehouse writer, the cohort driver.

`segment_slide(payload)` runs in a worker process (or on a Dask worker): open the slide, find tissue
on a thumbnail, segment it tile by tile (`wsi.segment_slide_mask`), write the label TIFF and the
overlay, and compute the features (with the case's cell file and `score-wsi` lymphocyte map when
there are any). The coordinating process writes `seg_slides`, `seg_slide_details` and the
`features` rows of each slide in one transaction (`radpath.stage.run_case_stage`: per-case
failures are recorded and the run carries on; `--retry-failed` re-runs only those).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import PathologyError
from radpath.progress import Progress
from radpath.stage import StageSummary, run_case_stage
from radpath.warehouse.runs import Run, hash_file, hash_inputs
from radpath.warehouse.write import register_feature_defs, replace_rows, write_features

MODALITY = "pathology"
STAGE = "segment-wsi"
MASK_FILE = "tissue_labels.tiff"
OVERLAY_FILE = "tissue_overlay.png"
GEOJSON_FILE = "tissue_labels.geojson"


@dataclass(frozen=True)
class SegmentParams:
    model: str
    out_dir: str
    cells_dir: str | None = None      # <dir>/<cohort>/<case>/cells.parquet (radpath.pathology.cellfile)
    use_til_maps: bool = True         # STROMAL_TIL_PATCH from score-wsi's lymphocyte maps when present
    cell_area_um2: float = 64.0
    til_threshold: float = 0.5
    margin_px: int | None = None      # default: the model file's margin_px
    device: str = "cpu"
    batch: int = 16
    workers: int = 1                  # threads reading tiles ahead of the model (0: read, then compute)
    mpp: float | None = None
    thumb_px: int = 512              # thumbnail for the tissue mask (glass skipping) and the overlay
    threads: int = 0                  # torch threads per slide worker (0 = torch's default)


@functools.lru_cache(maxsize=2)
def _model(path: str, device: str) -> tuple[Any, dict[str, Any]]:
    from radpath.pathology.segmentation.nets import load_seg_model

    return load_seg_model(path, device=device)


def _cells_xy(path: str, case_id: str) -> np.ndarray:
    from radpath.pathology.cellfile import TIL_CLASSES, read_cells

    cells = read_cells(path, case_id)
    tils = cells[cells["class"].isin(TIL_CLASSES)]
    return tils[["x_um", "y_um"]].to_numpy(np.float64)


def segment_slide(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker: payload {case_id, cohort, slide, params, cells?, lymph_map?, patch_um?, annotations?} -> paths,
    features and QC flags. With `annotations` (a QuPath GeoJSON of regions of interest) only the tissue inside
    them is segmented; the mask is label 0 (glass / unannotated) outside."""
    import torch

    from radpath.palettes import COMPARTMENTS
    from radpath.pathology import geojson, qc
    from radpath.pathology.segmentation.features import slide_features
    from radpath.pathology.segmentation.maskfile import overlay_png, write_label_tiff
    from radpath.pathology.segmentation.wsi import segment_slide_mask
    from radpath.pathology.slides import read_thumbnail
    from radpath.pathology.tissue import tissue_mask

    params = SegmentParams(**payload["params"])
    case_id, path = str(payload["case_id"]), str(payload["slide"])
    if params.threads:
        torch.set_num_threads(params.threads)
    cells = payload.get("cells")
    if cells is not None and not Path(cells).is_file():
        raise PathologyError(case_id, "no cell file for this case in --cells (run detect-cells first)", file=cells)
    model, meta = _model(params.model, params.device)
    info, thumb = read_thumbnail(path, case_id, params.mpp, params.thumb_px)
    roi = geojson.regions(payload["annotations"], case_id) if payload.get("annotations") else None
    mask = geojson.restrict(tissue_mask(thumb), roi, info.width)
    flags = qc.slide_flags(info) + (qc.roi_flags(mask) if roi is not None else [])
    flags += qc.model_flags(meta, info, mask, "tissue", case_id)
    labels, counts = segment_slide_mask(
        model, meta, info, case_id=case_id, thumb_mask=mask, margin=params.margin_px,
        device=params.device, batch=params.batch, readers=params.workers,
    )
    scale = counts["mask_mpp"] / info.mpp          # level-0 pixels per mask pixel
    if roi is not None:
        labels[~geojson.rasterise(roi, labels.shape, scale)] = 0
    folder = Path(params.out_dir) / str(payload["cohort"]) / case_id
    mask_path = write_label_tiff(folder / MASK_FILE, labels, counts["mask_mpp"])
    over = overlay_png(folder / OVERLAY_FILE, thumb, labels)
    shapes = geojson.write(folder / GEOJSON_FILE, geojson.mask_annotations(case_id, labels, scale, COMPARTMENTS))
    lymph = None
    if payload.get("lymph_map") and Path(payload["lymph_map"]).is_file():
        lymph = np.load(payload["lymph_map"])
    features = slide_features(
        labels, counts["mask_mpp"], label_set=str(meta["label_set"]),
        cells_xy_um=_cells_xy(cells, case_id) if cells else None, cell_area_um2=params.cell_area_um2,
        lymph_map=lymph, patch_um=payload.get("patch_um"), til_threshold=params.til_threshold,
    )
    return {
        "slide": path, "mask_path": str(mask_path), "overlay_png": str(over), "mask_mpp": counts["mask_mpp"],
        "label_set": meta["label_set"], "tile_px": counts["tile_px"], "margin_px": counts["margin_px"],
        "n_tiles": counts["tiles"], "n_tiles_total": counts["tiles_total"],
        "mask_height": int(labels.shape[0]), "mask_width": int(labels.shape[1]),
        "cells_path": cells, "lymphocyte_map": payload.get("lymph_map") if lymph is not None else None,
        "features": features, "geojson": str(shapes), "qc": qc.unique(flags),
    }


def write_segmentation(con: duckdb.DuckDBPyConnection, run: Run, case_id: str, value: dict[str, Any], *,
                       cohort: str, model: str) -> None:
    """Replace this slide's seg_slides / seg_slide_details rows and write its features (in the caller's
    transaction)."""
    key = {"cohort": cohort, "patient_id": case_id}
    from radpath.pathology.qc import write_flags

    replace_rows(con, "seg_slides", pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "slide_path": value["slide"], "mask_path": value["mask_path"],
        "overlay_png": value["overlay_png"], "mask_mpp": value["mask_mpp"], "geojson": value["geojson"],
        "run_id": run.run_id,
    }]), key)
    write_flags(con, run, cohort, case_id, STAGE, value["qc"])
    replace_rows(con, "seg_slide_details", pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "model_path": model, "label_set": value["label_set"],
        "tile_px": value["tile_px"], "margin_px": value["margin_px"], "n_tiles": value["n_tiles"],
        "n_tiles_total": value["n_tiles_total"], "mask_width": value["mask_width"],
        "mask_height": value["mask_height"], "cells_path": value["cells_path"],
        "lymphocyte_map": value["lymphocyte_map"], "run_id": run.run_id,
    }]), key)
    feats = value["features"]
    write_features(con, run, cohort, MODALITY,
                   pd.DataFrame({"patient_id": case_id, "code": list(feats), "value": list(feats.values())}))


def _til_maps(con: duckdb.DuckDBPyConnection, cohort: str) -> dict[str, tuple[str, float]]:
    rows = con.execute(
        "SELECT patient_id, lymphocyte_map, patch_um FROM pathology_slides WHERE cohort = ? "
        "AND lymphocyte_map IS NOT NULL", [cohort]).fetchall()
    return {str(pid): (str(path), float(patch)) for pid, path, patch in rows}


def segment_slides(
    con: duckdb.DuckDBPyConnection, targets: list[str], params: SegmentParams, *, jobs: int = 1,
    scheduler: str | None = None, retry_failed: bool = False, progress: Progress | None = None,
) -> list[StageSummary]:
    """Segment the slides of each manifest (or the slide files given) through `run_case_stage`."""
    from radpath.pathology.cases import annotation_files, grouped_slide_cases
    from radpath.pathology.cellfile import cell_file_path
    from radpath.pathology.segmentation.features import FEATURE_DEFS
    from radpath.pathology.segmentation.nets import read_seg_meta

    read_seg_meta(params.model)   # fail early, before any run is recorded
    groups = grouped_slide_cases(con, targets, params.mpp)
    rois = annotation_files(con, targets)
    register_feature_defs(con, MODALITY, FEATURE_DEFS)
    summaries = []
    for (cohort, mpp), cases in groups.items():
        run_params = {**asdict(params), "mpp": mpp}
        maps = _til_maps(con, cohort) if params.use_til_maps else {}
        payloads = []
        for pid, slide in cases:
            payload: dict[str, Any] = {"case_id": pid, "cohort": cohort, "slide": slide, "params": run_params,
                                       "annotations": rois.get(slide)}
            if params.cells_dir:
                payload["cells"] = str(cell_file_path(params.cells_dir, cohort, pid))
            if pid in maps:
                payload["lymph_map"], payload["patch_um"] = maps[pid]
            payloads.append((pid, payload))
        summaries.append(run_case_stage(
            con, command=STAGE, stage=STAGE, cohort=cohort,
            params={**run_params, "model_hash": hash_file(Path(params.model))},
            inputs=hash_inputs([Path(params.model)]), cases=payloads, worker=segment_slide,
            write=functools.partial(write_segmentation, cohort=cohort, model=params.model),
            jobs=jobs, scheduler=scheduler, retry_failed=retry_failed, progress=progress,
        ))
    return summaries


def til_agreement(con: duckdb.DuckDBPyConnection, cohort: str) -> pd.DataFrame:
    """Each computational TIL score against the pathologists' stromal TIL reading: n, Pearson r, Spearman rho,
    Bland-Altman bias (score - reading) and 95 % limits of agreement (bias +- 1.96 SD)."""
    from radpath.stats.agreement import agreement

    frame = con.execute("SELECT * FROM seg_til_comparison WHERE cohort = ?", [cohort]).df()
    return agreement(frame, ["stromal_til", "stromal_til_patch", "til_score"], "stromal_til_pct")
