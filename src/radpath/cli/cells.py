"""Commands of the cell-detection issue: train-cells, detect-cells, evaluate-cells."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from radpath.cli.common import (
    DbOption,
    JobsOption,
    RetryOption,
    RichProgress,
    SchedulerOption,
    console,
    exit_if_cases_failed,
    print_run,
)

if TYPE_CHECKING:
    from radpath.stage import StageSummary


def register(app: typer.Typer) -> None:
    app.command("train-cells")(train_cells)
    app.command("detect-cells")(detect_cells)
    app.command("evaluate-cells")(evaluate_cells)


def train_cells(
    data: Path = typer.Option(..., "--data", metavar="FOLDER", help="Folder of images with labelled cell centres "
                              "(SHIDC-B-Ki-67 JSON "
                              "per image, points.csv of image,x,y,class, or TIGER COCO JSON)."),
    out: Path = typer.Option(..., "--out", metavar="OUT_FILE",
                             help="Model file to write (.safetensors; a .json sidecar beside it)."),
    method: str = typer.Option("density", "--method", help="density (PathoNet density maps) | patch (70 x 70 "
                               "lymphocyte patch classifier + non-maximum suppression)."),
    width: int = typer.Option(8, "--width", min=2, help="Channels after the first layer: 8 = small CPU model (4 "
                              "trains faster but leaves a class untrained on some seeds)."),
    input_px: int = typer.Option(0, "--input-px", min=0, help="Training crop (density, divisible by 8; paper 256) or "
                                 "patch size (patch; paper 70); 0 = 64 for density, 70 for patch."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate [default: 1e-4 (paper) density, 1e-3 patch]."),
    step_epochs: int = typer.Option(10, "--step-epochs", min=1, help="Learning rate x 0.1 every this many epochs."),
    crops: int = typer.Option(4, "--crops", min=1, help="Random crops (density) per image and epoch."),
    batch: int = typer.Option(8, "--batch", min=1, help="Crops per training batch."),
    radius_um: float = typer.Option(5.0, "--radius-um", min=0.1, help="Matching radius for threshold tuning (um)."),
    mpp: float = typer.Option(None, "--mpp",
                              help="Microns per pixel of the images [default: dataset.json's, else 0.5]."),
    classes: str = typer.Option(None, "--classes", help="Comma-separated cell classes the density model predicts, "
                                "e.g. lymphocyte for H&E TILs [default: dataset.json's classes, else "
                                "ki67_positive,ki67_negative,lymphocyte]."),
    model_mpp: float = typer.Option(None, "--model-mpp", min=0.05, help="Resample the images to this many microns "
                                    "per pixel and detect at it (coarser = faster on whole slides) "
                                    "[default: the images' mpp]."),
    sigma_px: float = typer.Option(3.0, "--sigma-px", min=0.3, help="Density method: SD of the Gaussian at each "
                                   "labelled centre, in model pixels (the paper's 3 px at ~0.5 um/px; lower it at a "
                                   "coarser --model-mpp)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    seed: int = typer.Option(1, "--seed", help="Random seed (split, crops, weights)."),
) -> None:
    """Train a cell detector on images with labelled cell centres and save it with its metadata."""
    from radpath.pathology.cells.train import CellTrainConfig
    from radpath.pathology.cells.train import train_cells as train
    from radpath.pathology.models import resolve_device

    config = CellTrainConfig(
        method=method, width=width, input_px=input_px or (64 if method == "density" else 70), epochs=epochs,
        batch=batch, lr=lr, step_epochs=step_epochs, crops_per_image=crops, radius_um=radius_um, seed=seed,
        device=resolve_device(device), mpp=mpp, model_mpp=model_mpp, sigma_px=sigma_px,
        classes=_class_list(classes) if classes else None,
    )

    def log(row: dict[str, object]) -> None:
        console.print(f"epoch {row['epoch']}: loss {float(row['loss']):.5f}  lr {float(row['lr']):.0e}")  # type: ignore[arg-type]

    meta = train(data, config, out, log=log)
    console.print(f"{method} cell detector {out}: thresholds {meta['thresholds']} (tuned on "
                  f"{meta['n_val_images']} validation images)")
    _print_classes(meta["metrics"])


def _class_list(text: str) -> tuple[str, ...]:
    from radpath.errors import ConfigError
    from radpath.pathology.cellfile import CELL_CLASSES

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CELL_CLASSES]
    if not names or unknown:
        raise ConfigError(f"--classes {text!r}: expected comma-separated names of {list(CELL_CLASSES)}")
    return names


def _print_classes(metrics: dict[str, dict[str, float]]) -> None:
    for name, m in metrics.items():
        counts = f"  TP {m['tp']:.0f} FP {m['fp']:.0f} FN {m['fn']:.0f}" if "tp" in m else ""
        console.print(f"  {name:14s} precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                      f"F1 {m['f1']:.3f}{counts}")


def detect_cells(
    targets: list[str] = typer.Argument(..., help="Cohort manifest(s) (.yaml: its slides), CSV image lists "
                                        "(patient_id,image[,mpp]) or folders (a sub-folder of images per patient)."),
    model: Path = typer.Option(..., "--model", metavar="FILE", help="Cell detector file (radpath train-cells)."),
    out: Path = typer.Option(Path("cells"), "--out", metavar="OUT_FOLDER", help="Folder for the per-case cell files "
                             "(<out>/<cohort>/<patient>/cells.parquet)."),
    cohort: str = typer.Option(None, "--cohort", help="Cohort of the patients [default: the manifest's name, or the "
                               "folder's name]."),
    method: str = typer.Option(None, "--method", help="Refuse a model file of another method (density | patch) "
                               "[default: any]."),
    mpp: float = typer.Option(None, "--mpp", help="Microns per pixel for images / slides that lack it; a slide's "
                              "own value is always used, one more than 5 % off the given value is a warning and a "
                              "QC flag [default: the manifest's slides.mpp; images 0.5]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    batch: int = typer.Option(8, "--batch", min=1, help="Slide tiles per inference batch."),
    workers: int = typer.Option(1, "--workers", min=0, help="Threads reading slide tiles ahead of the model."),
    stain: str = typer.Option("auto", "--stain", help="Whole slides' tissue mask: he (saturation, the H&E rule), ihc "
                              "(optical density: pale haematoxylin-counterstained tissue) or auto (optical density "
                              "where the saturation rule misses most of the tissue)."),
    truth: Path = typer.Option(None, "--truth", metavar="FILE", help="CSV of patient_id, ki67_index, til_cell_score "
                               "(e.g. the synthetic study's ihc/<cohort>/truth.csv): print the RMSE and r against it "
                               "[default: none]."),
    db: Path = DbOption,
    jobs: int = JobsOption,
    scheduler: str = SchedulerOption,
    retry_failed: bool = RetryOption,
) -> None:
    """Detect and classify cells per case; cell files, counts, Ki-67 index and cell TIL score to the warehouse."""
    from radpath.pathology.cells.pipeline import DetectParams
    from radpath.pathology.cells.pipeline import detect_cells as detect
    from radpath.pathology.models import resolve_device
    from radpath.warehouse import open_warehouse

    params = DetectParams(model=str(model), out_dir=str(out.resolve()), device=resolve_device(device), mpp=mpp,
                          batch=batch, workers=workers, threads=1 if jobs > 1 else 0, stain=stain)
    with open_warehouse(db) as con:
        summaries = detect(con, targets, params, cohort=cohort, method=method, jobs=jobs, scheduler=scheduler,
                           retry_failed=retry_failed, progress=RichProgress())
        for s in summaries:
            if _he_summary(con, s, out):
                continue
            row = con.execute(
                "SELECT avg(ki67_index), avg(til_cell_score), sum(n_ki67_positive + n_ki67_negative "
                "+ n_lymphocyte) FROM cell_scores WHERE run_id = ?", [s.run.run_id]).fetchone()
            ki, til, cells = row if row else (None, None, 0)
            print_run(s, f"{len(s.done)} cases, {len(s.failed)} failed; {cells or 0} cells; mean Ki-67 index "
                      f"{_pct(ki)}, mean cell TIL score {_pct(til)}", f"cell files in {out}", con=con)
            if truth is not None:
                _against_truth(con.execute("SELECT patient_id, ki67_index, til_cell_score FROM cell_scores "
                                           "WHERE run_id = ?", [s.run.run_id]).df(), truth)
    exit_if_cases_failed(summaries)


def _he_summary(con: object, s: StageSummary, out: Path) -> bool:
    """Print an H&E detector run's summary (lymphocyte density from `features`); False for another run."""
    row = con.execute(  # type: ignore[attr-defined]
        "SELECT avg(value), count(*) FROM features WHERE run_id = ? AND code = 'HE_LYMPHOCYTE_DENSITY'",
        [s.run.run_id]).fetchone()
    if not row or not row[1]:
        return False
    cells = con.execute("SELECT sum(n_cells) FROM cell_files WHERE run_id = ?", [s.run.run_id]).fetchone()  # type: ignore[attr-defined]
    print_run(s, f"{len(s.done)} cases, {len(s.failed)} failed; {int(cells[0] or 0)} lymphocytes on H&E, mean "
              f"{float(row[0]):.0f} per mm2 of tissue", f"cell files in {out} (segment-wsi --cells {out})", con=con)
    return True


def _against_truth(found: object, truth: Path) -> None:
    import numpy as np
    import pandas as pd

    from radpath.errors import ConfigError

    planted = pd.read_csv(truth)
    if not {"patient_id", "ki67_index", "til_cell_score"} <= set(planted.columns):
        raise ConfigError(f"truth table {truth}: expected columns patient_id, ki67_index, til_cell_score")
    both = pd.merge(found, planted, on="patient_id", suffixes=("", "_truth"))  # type: ignore[call-overload]
    for col, name in (("ki67_index", "Ki-67 index"), ("til_cell_score", "cell TIL score")):
        a, b = both[col].to_numpy(float), both[f"{col}_truth"].to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 2:
            continue
        rmse = float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        console.print(f"  {name} vs truth ({int(ok.sum())} patients): RMSE {rmse:.2f} points, r {r:.3f}")


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f} %"


def evaluate_cells(
    data: Path = typer.Option(..., "--data", metavar="FOLDER",
                              help="Folder of images with labelled cell centres (as train-cells)."),
    model: Path = typer.Option(..., "--model", metavar="FILE", help="Cell detector file."),
    protocol: list[str] = typer.Option(
        None, "--protocol", metavar="NAME",
        help="Evaluation protocol, repeat for several: tiger (the TIGER challenge's code: greedy matching within "
             "4 um, lymphocyte FROC at every unique probability of one detection run), pathonet (the PathoNet "
             "paper's code: nearest detection within 20 px of the 256 px network input), radpath (optimal "
             "one-to-one matching within --radius-um, FROC over re-detections at the threshold grid) [default: "
             "the labels' format: TIGER COCO JSON -> tiger, SHIDC-B-Ki-67 JSON -> pathonet, else radpath]."),
    tiger_threshold: float = typer.Option(
        None, "--tiger-threshold", min=0.0,
        help="tiger protocol: lymphocyte threshold of the one detection run whose probabilities are swept "
             "[default: the model's tuned threshold, i.e. the cells detect-cells writes; lower adds candidates, "
             "but a density map thresholded low merges touching cells]."),
    radius_um: float = typer.Option(5.0, "--radius-um", min=0.1, help="radpath protocol: a detection within R um "
                                    "of an unmatched truth cell of its class is a true positive (tiger and "
                                    "pathonet have their own fixed radii)."),
    method: str = typer.Option(None, "--method", help="Refuse a model file of another method (density | patch) "
                               "[default: any]."),
    mpp: float = typer.Option(None, "--mpp",
                              help="Microns per pixel of the images [default: dataset.json's, else 0.5]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    db: Path = DbOption,
) -> None:
    """Precision, recall, F1 and the lymphocyte FROC under each evaluation protocol; Ki-67 / TIL score RMSE and
    category accuracy; every number into the warehouse (pathology_evaluations) with its protocol."""
    from radpath.pathology.cells.evaluate import evaluate_cells as evaluate
    from radpath.pathology.cells.evaluate import evaluation_rows
    from radpath.pathology.evaluations import record_evaluation
    from radpath.pathology.models import resolve_device
    from radpath.warehouse import open_warehouse

    result = evaluate(data, model, protocols=protocol or None, radius_um=radius_um, device=resolve_device(device),
                      mpp=mpp, method=method, tiger_threshold=tiger_threshold)
    console.print(f"{result['method']} detector ({result['stain']}, {result['model_mpp']:g} um/px) on "
                  f"{result['n_images']} images, {result['area_mm2']:.3f} mm2:")
    for name, part in result["protocols"].items():
        console.print(f"protocol {name} ({_protocol_text(name, part)}):")
        if "classes" in part:
            _print_classes(part["classes"])
        if "froc_lymphocyte" in part:
            f = {k: v for k, v in part["froc_lymphocyte"].items() if k != "n_thresholds"}
            console.print("  lymphocyte FROC (sensitivity at FP/mm2)  "
                          + "  ".join(f"{k} {v:.3f}" for k, v in f.items()))
    s = result["scores"]
    if math.isfinite(s["ki67_rmse"]) or math.isfinite(s["til_rmse"]):
        console.print(f"counts (any protocol): Ki-67 index RMSE {s['ki67_rmse']:.2f} points, category accuracy "
                      f"{s['ki67_category_accuracy']:.3f} ({result['n_groups']} groups); TIL score RMSE "
                      f"{s['til_rmse']:.2f} points, category accuracy {s['til_category_accuracy']:.3f}")
    else:
        console.print("no Ki-67 classes in the model: Ki-67 index and cell TIL score not defined")
    with open_warehouse(db) as con:
        run = record_evaluation(con, "evaluate-cells", model, data, evaluation_rows(result),
                                {"protocols": list(result["protocols"]), "radius_um": radius_um, "mpp": mpp,
                                 "tiger_threshold": tiger_threshold})
    console.print(f"run {run.run_id}: every number in pathology_evaluations with its protocol")


def _protocol_text(name: str, part: dict[str, object]) -> str:
    if name == "tiger":
        n = int(part["froc_lymphocyte"]["n_thresholds"])  # type: ignore[index]
        return (f"the TIGER challenge's evaluation: greedy matching within {part['radius_um']:g} um "
                f"({part['radius_px']:g} px at 0.5 um/px), FROC at each of {n} unique probabilities of one "
                f"detection run at threshold {part['run_threshold']:g}")
    if name == "pathonet":
        return (f"the PathoNet paper's evaluation: nearest detection within {part['radius_px']:g} px of the "
                f"{part['input_px']} px network input")
    return (f"radpath's own: optimal one-to-one matching within {part['radius_um']:g} um, FROC over "
            "re-detections at the threshold grid")
