"""Scoring slides end to end: the per-slide worker, the warehouse writer, cohort and map-import drivers.

`score_slide(payload)` runs in a worker process (or on a Dask worker): open the slide, find tissue
on a thumbnail, tile it at each model's physical patch size, predict, aggregate the tumour map,
resample it onto the lymphocyte grid, build the combined map, score, and save the map files. The
coordinating process writes `pathology_slides`, `pathology_scores` and the `features` rows.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import ConfigError, PathologyError
from radpath.pathology.cases import annotation_files, grouped_slide_cases
from radpath.progress import Progress
from radpath.stage import StageSummary, run_case_stage
from radpath.warehouse.runs import Run, hash_inputs
from radpath.warehouse.write import register_feature_defs, replace_rows, write_features

MODALITY = "pathology"
GEOJSON_FILE = "tiles.geojson"   # the lymphocyte grid's tissue patches as QuPath tiles (radpath.pathology.geojson)


@dataclass(frozen=True)
class ScoreParams:
    tumor_model: str
    til_model: str
    out_dir: str
    tumour_threshold: float = 0.5
    lymphocyte_threshold: float = 0.5
    aggregation: str = "max"
    window: int = 4
    band_um: float = 50.0
    min_tissue: float = 0.5
    device: str = "cpu"
    batch: int = 128
    workers: int = 1            # threads reading tiles ahead of the model (0: read, then compute)
    mpp: float | None = None
    thumb_px: int = 1024
    threads: int = 0            # torch threads per slide worker (0 = torch's default)
    tumor_class: str | None = None   # positive class of the tumour model (default: see models.positive_index)
    til_class: str | None = None     # positive class of the lymphocyte model
    trust_model_code: bool = False   # allow TorchScript model files (loading them runs code)
    grid: str = "radpath"            # patch grid rule (radpath.pathology.tissue.patch_grid): radpath | wsinfer


@functools.lru_cache(maxsize=4)
def _load(path: str, device: str, trust: bool) -> tuple[Any, dict[str, Any]]:
    """One network per model file or folder and device, whichever tasks it serves (built and prepared for
    inference once per worker)."""
    from radpath.pathology.netprep import prepare_for_inference
    from radpath.pathology.til.nets import load_model

    model, meta = load_model(path, device=device, trust_model_code=trust)
    model, channels_last = prepare_for_inference(model, device, input_px=int(meta["input_px"]))
    return model, {**meta, "channels_last": channels_last}


def _model(path: str, task: str, device: str, positive: str | None, trust: bool) -> tuple[Any, dict[str, Any]]:
    from radpath.errors import ModelFileError
    from radpath.pathology.til.nets import positive_index

    model, meta = _load(str(Path(path).resolve()), device, trust)
    if meta.get("task") not in (None, task):
        raise ModelFileError(f"model file {path}: a {meta.get('task')!r} model, expected a {task!r} model")
    return model, {**meta, "positive_index": positive_index(meta, task, positive, source=path)}


def check_models(params: ScoreParams) -> dict[str, dict[str, Any]]:
    """Validate both models before a run is recorded; what the run records about each (path, hash, ...)."""
    from radpath.errors import ModelFileError
    from radpath.pathology.models import model_hash, read_meta
    from radpath.pathology.til.nets import positive_index
    from radpath.pathology.zoo import TORCHSCRIPT_NAME

    used = {}
    for path, task, wanted in ((params.tumor_model, "tumor", params.tumor_class),
                               (params.til_model, "lymphocyte", params.til_class)):
        meta = read_meta(path)
        if meta.get("task") is not None and meta.get("task") != task:
            raise ModelFileError(f"model file {path}: a {meta.get('task')!r} model, expected a {task!r} model")
        if meta.get("weights") == TORCHSCRIPT_NAME and not params.trust_model_code:
            raise ModelFileError(f"model folder {path}: only {TORCHSCRIPT_NAME}, a TorchScript program; loading it "
                                 "runs code from the file. Pass --trust-model-code to allow that")
        index = positive_index(meta, task, wanted, source=path)
        used[task] = {"path": str(Path(path).resolve()), "hash": model_hash(path), "format": meta.get("format"),
                      "arch": meta.get("arch"), "positive_class": meta["classes"][index] if meta.get("classes")
                      else None, "patch_px": meta.get("patch_px"), "mpp": meta.get("mpp")}
    return used


def score_slide(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker: payload {case_id, cohort, slide, params (ScoreParams as dict), annotations?} -> maps, paths,
    scores, QC flags. With `annotations` (a QuPath GeoJSON of regions of interest) a patch is scored only when
    its centre lies inside them, so the tissue area is the annotated tissue."""
    import torch

    from radpath.palettes import TUMOR_TIL, tumor_til_labels
    from radpath.pathology import geojson, qc
    from radpath.pathology.infer import positive_map, predict_probs
    from radpath.pathology.slides import read_thumbnail
    from radpath.pathology.til import maps
    from radpath.pathology.til.scores import til_scores
    from radpath.pathology.tissue import PatchGrid, patch_grid, tissue_mask

    params = ScoreParams(**payload["params"])
    case_id, path = str(payload["case_id"]), str(payload["slide"])
    if params.threads:
        torch.set_num_threads(params.threads)
    info, thumb = read_thumbnail(path, case_id, params.mpp, params.thumb_px)   # fails before models load
    roi = geojson.regions(payload["annotations"], case_id) if payload.get("annotations") else None
    mask = geojson.restrict(tissue_mask(thumb), roi, info.width)
    flags = qc.slide_flags(info)
    grids, selected, probs = {}, {}, {}
    done: dict[tuple[str, PatchGrid], np.ndarray] = {}   # one run per (model, grid): a model serving both maps
    for task, model_path, wanted in (("tumor", params.tumor_model, params.tumor_class),
                                     ("lymphocyte", params.til_model, params.til_class)):
        model, meta = _model(model_path, task, params.device, wanted, params.trust_model_code)
        grids[task] = patch_grid(info.width, info.height, int(meta["patch_px"]), float(meta["mpp"]), info.mpp,
                                 params.grid)
        selected[task] = grids[task].select(mask, params.min_tissue)
        if roi is not None:
            selected[task] &= geojson.patches_inside(roi, grids[task])
        flags += qc.model_flags(meta, info, mask, task, case_id)
        key = (str(Path(model_path).resolve()), grids[task])
        if key not in done:
            done[key] = predict_probs(model, meta, info, grids[task], selected[task], case_id=case_id,
                                      device=params.device, batch=params.batch, workers=params.workers)
        probs[task] = positive_map(done[key], meta)
    tumour_agg = maps.aggregate(probs["tumor"], params.window, params.aggregation)
    lgrid = grids["lymphocyte"]
    tissue = selected["lymphocyte"]
    tumour_on_lymph = maps.resample(tumour_agg, grids["tumor"].patch0, lgrid.shape, lgrid.patch0)
    rgb = maps.encode_rgb(tumour_on_lymph, probs["lymphocyte"], tissue)
    patch_um = lgrid.patch0 * info.mpp
    scores = til_scores(
        tumour_on_lymph, probs["lymphocyte"], tissue, patch_um, tumour_threshold=params.tumour_threshold,
        lymphocyte_threshold=params.lymphocyte_threshold, band_um=params.band_um,
    )
    if roi is not None:
        flags += qc.roi_flags(tissue)
    flags += no_tumour_flags(scores)
    classes = tumor_til_labels(tumour_on_lymph, probs["lymphocyte"], tissue, tumour_threshold=params.tumour_threshold,
                               lymphocyte_threshold=params.lymphocyte_threshold)
    geometry = {
        "slide": path, "mpp": info.mpp, "width0": info.width, "height0": info.height,
        "grids": {t: g.describe(info.mpp) for t, g in grids.items()},
        "selection": {"thumb_px": params.thumb_px, "min_tissue": params.min_tissue,
                      "rule": "centre on tissue" if params.grid == "wsinfer" else "tissue fraction >= min_tissue"},
        "format": "float32 .npy, one value per patch (row i = y), NaN = glass; tumor_til.png R=lymph G=tumour B=tissue",
    }
    folder = Path(params.out_dir) / str(payload["cohort"]) / case_id
    paths = maps.save_maps(
        folder,
        {"tumor": probs["tumor"], "tumor_agg": tumour_agg, "lymphocyte": probs["lymphocyte"], "tissue": tissue},
        rgb, maps.overlay(thumb, classes), geometry,
    )
    coords = np.argwhere(tissue)
    at = (coords[:, 0], coords[:, 1])
    paths["geojson"] = str(geojson.write(folder / GEOJSON_FILE, geojson.tiles(
        case_id, lgrid.origins0(coords), lgrid.patch0,
        {"tumor probability": tumour_on_lymph[at], "lymphocyte probability": probs["lymphocyte"][at]},
        classes[at].tolist(), TUMOR_TIL)))
    return {
        "slide": path, "vendor": info.vendor, "mpp": info.mpp, "width": info.width, "height": info.height,
        "levels": len(info.dimensions), "rows": lgrid.shape[0], "cols": lgrid.shape[1], "patch_um": patch_um,
        "n_tissue": int(tissue.sum()), "n_tumor_patches": int(selected["tumor"].sum()),
        "paths": paths, "scores": scores, "qc": qc.unique(flags),
    }


def no_tumour_flags(scores: dict[str, float]) -> list[Any]:
    """The `no_tumour` flag where the tumour classifier found no tumour (TIL_SCORE is then NaN)."""
    from radpath.pathology.qc import QCFlag

    if scores["TUMOR_AREA"] > 0:
        return []
    return [QCFlag("no_tumour", "the tumour classifier found no tumour patch: TIL_SCORE (tumour bed) is NaN; "
                   "TIL_NONTUMOR holds the whole-tissue fraction", model="tumor")]


def write_slide(con: duckdb.DuckDBPyConnection, run: Run, cohort: str, case_id: str, value: dict[str, Any],
                params: dict[str, Any]) -> None:
    """Replace this slide's rows in pathology_slides / pathology_scores, its `features` rows and its QC flags."""
    from radpath.pathology.qc import write_flags

    paths = value["paths"]
    key = {"cohort": cohort, "patient_id": case_id}
    slide_row = pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "slide_path": value["slide"], "vendor": value["vendor"],
        "mpp": value["mpp"], "width": value["width"], "height": value["height"], "levels": value["levels"],
        "grid_rows": value["rows"], "grid_cols": value["cols"], "patch_um": value["patch_um"],
        "n_tissue_patches": value["n_tissue"], "tumor_map": paths.get("tumor"),
        "tumor_agg_map": paths.get("tumor_agg"), "lymphocyte_map": paths.get("lymphocyte"),
        "tissue_map": paths.get("tissue"), "rgb_map": paths.get("rgb"), "overlay_png": paths.get("overlay"),
        "geojson": paths.get("geojson"), "run_id": run.run_id,
    }])
    replace_rows(con, "pathology_slides", slide_row, key)
    write_flags(con, run, cohort, case_id, str(params.get("source", "score-wsi")), value.get("qc", []))
    s = value["scores"]
    score_row = pd.DataFrame([{
        "cohort": cohort, "patient_id": case_id, "til_score": s["TIL_SCORE"],
        "til_intratumoral": s["TIL_INTRATUMORAL"], "til_peritumoral": s["TIL_PERITUMORAL"],
        "til_nontumor": s["TIL_NONTUMOR"], "tissue_area_mm2": s["TISSUE_AREA"], "tumor_area_mm2": s["TUMOR_AREA"],
        "tumor_threshold": params.get("tumour_threshold"), "lymphocyte_threshold": params.get("lymphocyte_threshold"),
        "band_um": params.get("band_um"), "source": params.get("source", "score-wsi"), "run_id": run.run_id,
    }])
    replace_rows(con, "pathology_scores", score_row, key)
    frame = pd.DataFrame({"patient_id": case_id, "code": list(s), "value": list(s.values())})
    write_features(con, run, cohort, MODALITY, frame)


def _write_case(con: duckdb.DuckDBPyConnection, run: Run, case_id: str, value: dict[str, Any], *, cohort: str,
                params: dict[str, Any]) -> None:
    write_slide(con, run, cohort, case_id, value, params)


def score_slides(
    con: duckdb.DuckDBPyConnection, targets: list[str], params: ScoreParams, *, jobs: int = 1,
    scheduler: str | None = None, retry_failed: bool = False, progress: Progress | None = None,
) -> list[StageSummary]:
    """Score the slides of each manifest (or the slide files given) through `run_case_stage`."""
    from radpath.pathology.til.scores import FEATURE_DEFS

    models = check_models(params)  # fail early, before any run is recorded
    groups = grouped_slide_cases(con, targets, params.mpp)
    rois = annotation_files(con, targets)
    register_feature_defs(con, MODALITY, FEATURE_DEFS)
    summaries = []
    for (cohort, mpp), cases in groups.items():
        run_params = {**asdict(params), "mpp": mpp}
        run_params["model_hashes"] = {task: used["hash"] for task, used in models.items()}
        run_params["models"] = models   # read by `radpath models list` (warehouse.inventory)
        payloads = [(pid, {"case_id": pid, "cohort": cohort, "slide": slide, "annotations": rois.get(slide),
                           "params": {**asdict(params), "mpp": mpp}}) for pid, slide in cases]
        summaries.append(run_case_stage(
            con, command="score-wsi", stage="score-wsi", cohort=cohort, params=run_params,
            inputs=hash_inputs([Path(params.tumor_model), Path(params.til_model)]),
            cases=payloads, worker=score_slide,
            write=functools.partial(_write_case, cohort=cohort, params=run_params),
            jobs=jobs, scheduler=scheduler, retry_failed=retry_failed, progress=progress,
        ))
    return summaries


def import_map(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker for `import-til-maps`: scores of one published combined map (PNG, RGB Tumour-TIL format)."""
    from PIL import Image

    from radpath.pathology.til import maps
    from radpath.pathology.til.scores import til_scores

    path, case_id = Path(payload["file"]), str(payload["case_id"])
    try:
        rgb = np.asarray(Image.open(path).convert("RGB"))
    except Exception as exc:
        raise PathologyError(case_id, f"not a readable map image ({exc})", file=str(path)) from exc
    tumour, lymph, tissue = maps.decode_rgb(rgb)
    p = payload["params"]
    scores = til_scores(tumour, lymph, tissue, p["patch_um"], tumour_threshold=p["tumour_threshold"],
                        lymphocyte_threshold=p["lymphocyte_threshold"], band_um=p["band_um"])
    return {"slide": str(path), "vendor": "tumor-til-map", "mpp": float("nan"), "width": 0, "height": 0,
            "levels": 0, "rows": rgb.shape[0], "cols": rgb.shape[1], "patch_um": p["patch_um"],
            "n_tissue": int(tissue.sum()), "paths": {"rgb": str(path)}, "scores": scores,
            "qc": [f.as_dict() for f in no_tumour_flags(scores)]}


def import_maps(
    con: duckdb.DuckDBPyConnection, folder: str | Path, *, cohort: str, patch_um: float = 50.0,
    tumour_threshold: float = 0.5, lymphocyte_threshold: float = 0.5, band_um: float = 50.0,
    id_length: int | None = None, jobs: int = 1, progress: Progress | None = None,
) -> StageSummary:
    """Scores from a folder of combined maps (one PNG per slide, named by slide id)."""
    from radpath.pathology.til.scores import FEATURE_DEFS

    folder = Path(folder)
    files = sorted(folder.glob("*.png"))
    if not files:
        raise ConfigError(f"map folder {folder}: no .png Tumour-TIL maps found")
    params = {"patch_um": patch_um, "tumour_threshold": tumour_threshold,
              "lymphocyte_threshold": lymphocyte_threshold, "band_um": band_um, "source": "import-til-maps",
              "format": "rgb-tumor-til"}
    cases = [((f.stem[:id_length] if id_length else f.stem), {"file": str(f), "params": params,
              "case_id": f.stem[:id_length] if id_length else f.stem}) for f in files]
    register_feature_defs(con, MODALITY, FEATURE_DEFS)
    return run_case_stage(
        con, command="import-til-maps", stage="import-til-maps", cohort=cohort, params=params,
        inputs={"folder": str(folder)}, cases=cases, worker=import_map,
        write=functools.partial(_write_case, cohort=cohort, params=params), jobs=jobs, progress=progress,
    )
