"""Commands of the tissue-segmentation issue: train-seg, segment-wsi, evaluate-seg."""

from __future__ import annotations

from pathlib import Path

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


def register(app: typer.Typer) -> None:
    app.command("train-seg")(train_seg)
    app.command("segment-wsi")(segment_wsi)
    app.command("evaluate-seg")(evaluate_seg)


def train_seg(
    data: Path = typer.Option(..., "--data", metavar="FOLDER",
        help="Folder of tiles: WSIROIS (images/ + masks/) or name.png + "
                              "name_mask.png pairs; dataset.json may give their mpp."),
    out: Path = typer.Option(..., "--out", metavar="OUT_FILE",
        help="Model file to write (.safetensors; a .json sidecar beside it)."),
    preset: str = typer.Option("cpu", "--preset", help="cpu: small fast model (64 px at 2 um/px, ResNet10-T "
                               "depth 3); paper: 512 px at 0.5 um/px, ResNet34 U-Net, Adam 1e-4 x 15 + 1e-5 x 10."),
    arch: str = typer.Option(None, "--arch", help="unet | fpn [default: the preset's, unet]."),
    encoder: str = typer.Option(None, "--encoder",
        help="resnet34 | vgg16 | resnet18 | resnet10t [default: the preset's, cpu: resnet10t, paper: resnet34]."),
    depth: int = typer.Option(None, "--depth", min=3, max=5,
        help="Encoder stages 3-5 [default: the preset's, cpu: 3, paper: 5]."),
    classes: str = typer.Option("tiger", "--classes", help="tiger (labels 0-7) | binary-stroma (2 + 6 vs rest)."),
    tile_px: int = typer.Option(None, "--tile-px", min=32,
        help="Tile side in pixels, a multiple of 32 [default: the preset's, cpu: 64, paper: 512]."),
    mpp: float = typer.Option(None, "--mpp",
        help="Microns per pixel the model works at [default: the preset's, cpu: 2.0, paper: 0.5]."),
    data_mpp: float = typer.Option(None, "--data-mpp", help="Microns per pixel of the data when dataset.json "
                                   "lacks it [default: the model's mpp]."),
    epochs: int = typer.Option(None, "--epochs", min=1,
        help="Training epochs [default: the preset's, cpu: 8, paper: 25]."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate [default: the preset's, cpu: 1e-3, paper: 1e-4]."),
    lr_drop_epoch: int = typer.Option(None, "--lr-drop-epoch", min=0,
        help="Epoch from which lr x 0.1 [default: the preset's, cpu: 6, paper: 15]."),
    batch: int = typer.Option(None, "--batch", min=2, help="Tiles per batch [default: 16]."),
    init_weights: Path = typer.Option(None, "--init-weights", metavar="FILE",
        help="Local encoder weights (no downloads) [default: none, random weights]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    seed: int = typer.Option(1, "--seed", help="Random seed (split, initialisation, augmentation)."),
) -> None:
    """Train a tissue-compartment segmentation network (U-Net / FPN, Dice loss, best validation epoch kept)."""
    from radpath.pathology.models import resolve_device
    from radpath.pathology.segmentation.train import preset as make_preset
    from radpath.pathology.segmentation.train import train_segmentation

    config = make_preset(
        preset, arch=arch, encoder=encoder, depth=depth, labels=classes, tile_px=tile_px, mpp=mpp,
        data_mpp=data_mpp, epochs=epochs, lr=lr, lr_drop_epoch=lr_drop_epoch, batch=batch, seed=seed,
        init_weights=str(init_weights) if init_weights else None, device=resolve_device(device),
    )

    def log(row: dict[str, object]) -> None:
        console.print(f"epoch {row['epoch']}: loss {row['loss']:.4f}  lr {row['lr']:g}  "
                      f"val stroma IoU {row['stroma_iou']:.3f}  Dice {row['stroma_dice']:.3f}")

    meta = train_segmentation(data, config, out, log=log)
    m = meta["metrics"]
    console.print(f"segmentation model {out}: {config.arch} / {config.encoder} (depth {config.depth}), "
                  f"{config.labels} labels, {config.tile_px} px tiles at {config.mpp} um/px; best epoch "
                  f"{meta['best_epoch']}: val stroma IoU {m['stroma_iou']:.3f}")


def segment_wsi(
    targets: list[str] = typer.Argument(..., help="Cohort manifest(s) (.yaml) or slide files."),
    model: Path = typer.Option(..., "--model", metavar="FILE", help="Segmentation model file (train-seg)."),
    out: Path = typer.Option(Path("tissue_masks"), "--out", metavar="OUT_FOLDER",
        help="Folder for the per-slide label TIFF and overlay."),
    cells: Path = typer.Option(None, "--cells", metavar="FOLDER",
        help="Folder of cell files <cells>/<cohort>/<case>/cells.parquet "
                               "(detect-cells) for the TIGER stromal TIL score [default: none, no STROMAL_TIL]."),
    til_maps: bool = typer.Option(
        True, "--til-maps/--no-til-maps", show_default=False,
        help="Score STROMAL_TIL_PATCH from score-wsi's lymphocyte maps when the warehouse has them."),
    cell_area: float = typer.Option(64.0, "--cell-area-um2", min=0.0, help="Area of one TIL (TIGER: 8 x 8 um)."),
    til_threshold: float = typer.Option(0.5, "--til-threshold", min=0.0, max=1.0,
                                        help="Lymphocyte probability for a TIL-positive patch."),
    margin: int = typer.Option(None, "--margin-px", min=0, help="Context kept around each stitched tile core "
                               "[default: the model's, tile / 8]; 0 = plain tiles (seams)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    batch: int = typer.Option(16, "--batch", min=1, help="Tiles per inference batch."),
    workers: int = typer.Option(1, "--workers", min=0, help="Threads reading tiles ahead of the model per slide "
                                "(0: read, then compute)."),
    mpp: float = typer.Option(None, "--mpp",
        help="Microns per pixel for slides that lack it; a slide's own value is always used, and one more than "
        "5 % off the given value is a warning and a QC flag [default: the manifest's slides.mpp]."),
    db: Path = DbOption,
    jobs: int = JobsOption,
    scheduler: str = SchedulerOption,
    retry_failed: bool = RetryOption,
) -> None:
    """Segment every included slide into tissue compartments; areas and stromal TIL scores into the warehouse."""
    from radpath.pathology.models import resolve_device
    from radpath.pathology.segmentation.pipeline import SegmentParams, segment_slides, til_agreement
    from radpath.warehouse import open_warehouse

    params = SegmentParams(
        model=str(model), out_dir=str(out.resolve()), cells_dir=str(cells.resolve()) if cells else None,
        use_til_maps=til_maps, cell_area_um2=cell_area, til_threshold=til_threshold, margin_px=margin,
        device=resolve_device(device), batch=batch, workers=workers, mpp=mpp, threads=1 if jobs > 1 else 0,
    )
    with open_warehouse(db) as con:
        summaries = segment_slides(con, targets, params, jobs=jobs, scheduler=scheduler, retry_failed=retry_failed,
                                   progress=RichProgress())
        for s in summaries:
            print_run(s, f"{len(s.done)} slides segmented, {len(s.failed)} failed", f"masks in {out}", con=con)
        cohorts = {c for (c,) in con.execute("SELECT DISTINCT cohort FROM seg_slides").fetchall()}
        for cohort in sorted(cohorts):
            agreement = til_agreement(con, cohort)
            for row in agreement.itertuples(index=False):
                console.print(
                    f"{cohort} {row.measure} vs pathologists' stromal TIL (n={row.n}): Pearson r {row.pearson_r:.3f}, "
                    f"Spearman rho {row.spearman_rho:.3f}, Bland-Altman bias {row.bias:+.1f} "
                    f"(limits {row.loa_low:+.1f} to {row.loa_high:+.1f})")
    exit_if_cases_failed(summaries)


def evaluate_seg(
    data: Path = typer.Option(..., "--data", metavar="FOLDER",
        help="Folder of held-out tiles (same layouts as train-seg)."),
    model: Path = typer.Option(..., "--model", metavar="FILE", help="Segmentation model file."),
    protocol: list[str] = typer.Option(
        None, "--protocol", metavar="NAME",
        help="Evaluation protocol, repeat for both: tiger (the TIGER challenge's code: tumour / stroma / rest F1 "
             "from one confusion matrix of the annotated pixels per slide, pooled) or radpath (Dice and IoU per "
             "label group over every tile pixel) [default: the folder's layout: WSIROIS images/ + masks/ -> "
             "tiger, name + name_mask pairs -> radpath]."),
    pred_zero: str = typer.Option("ignore", "--pred-zero", help="tiger protocol: pixels predicted 0 (glass) inside "
                                  "annotated tissue are ignored (eval_segm.py) or count as rest "
                                  "(eval_utils.TigerSegmScorer)."),
    data_mpp: float = typer.Option(None, "--data-mpp", help="Microns per pixel of the data when dataset.json "
                                   "lacks it [default: the model's mpp]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    db: Path = DbOption,
) -> None:
    """Score a segmentation model on held-out masks under each evaluation protocol; every number into the
    warehouse (pathology_evaluations) with its protocol."""
    from radpath.pathology.evaluations import record_evaluation
    from radpath.pathology.models import resolve_device
    from radpath.pathology.segmentation.evaluate import evaluate_seg as evaluate
    from radpath.pathology.segmentation.evaluate import evaluation_rows
    from radpath.warehouse import open_warehouse

    result = evaluate(data, model, protocols=protocol or None, data_mpp=data_mpp, device=resolve_device(device),
                      pred_zero=pred_zero)
    console.print(f"{model} on {data} ({result['tile_px']} px tiles at {result['mpp']} um/px):")
    for name, part in result["protocols"].items():
        if name == "tiger":
            console.print(f"protocol tiger (the TIGER challenge's evaluation: {part['n_regions']} regions of "
                          f"{part['n_slides']} slides at {part['eval_mpp']:g} um/px, annotated pixels only, "
                          f"predicted glass {'ignored' if part['pred_zero'] == 'ignore' else 'as rest'}):")
            for cls, s in part["classes"].items():
                console.print(f"  {cls:<26} F1 (Dice) {s['f1']:.3f}  Jaccard {s['jaccard']:.3f}  precision "
                              f"{s['precision']:.3f}  recall {s['recall']:.3f}")
        else:
            console.print(f"protocol radpath (radpath's own: Dice and IoU over every pixel of {part['n_tiles']} "
                          "tiles):")
            for cls, s in part["classes"].items():
                console.print(f"  {cls:<26} Dice {s['dice']:.3f}  IoU {s['iou']:.3f}")
    with open_warehouse(db) as con:
        run = record_evaluation(con, "evaluate-seg", model, data, evaluation_rows(result),
                                {"protocols": list(result["protocols"]), "pred_zero": pred_zero,
                                 "data_mpp": data_mpp})
    console.print(f"run {run.run_id}: every number in pathology_evaluations with its protocol")
