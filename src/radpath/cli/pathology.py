"""Commands of the pathology issue: train-til, score-wsi, import-til-maps, pathology inspect."""

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
from radpath.paths import output_file


def register(app: typer.Typer) -> None:
    app.command("train-til")(train_til)
    app.command("score-wsi")(score_wsi)
    app.command("import-til-maps")(import_til_maps)
    group = typer.Typer(help="Whole-slide image utilities.", no_args_is_help=True)
    group.command("inspect")(inspect)
    app.add_typer(group, name="pathology")


def train_til(
    task: str = typer.Option(..., "--task", help="lymphocyte | tumor"),
    data: Path = typer.Option(..., "--data", metavar="FILE|FOLDER",
        help="Folder of class sub-folders (PNG/JPEG) or CSV of path,label."),
    out: Path = typer.Option(..., "--out", metavar="OUT_FILE",
        help="Model file to write (.safetensors; a .json sidecar beside it)."),
    arch: str = typer.Option(
        "resnet18", "--arch", help="resnet18 | resnet34 | vgg16 | inception_v4 (needs --input-px >= 75; paper: 299)"
    ),
    width: int = typer.Option(
        16, "--width", min=4, help="Channels of the first layer: 16 = small CPU model, 64 = the published network."
    ),
    input_px: int = typer.Option(
        48, "--input-px", min=0, help="Network input size (patches are resized); 224 as in the paper, 0 = native."
    ),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs."),
    freeze_epochs: int = typer.Option(
        None, "--freeze-epochs", min=0,
        help="Epochs with the backbone frozen [default: the paper's 3 (tumor) / 5 (lymphocyte) with --init-weights, "
        "else 0: a random backbone must learn].",
    ),
    batch: int = typer.Option(64, "--batch", min=1, help="Patches per training batch."),
    positive: str = typer.Option("positive", "--positive", help="Name of the positive class."),
    init_weights: Path = typer.Option(None, "--init-weights", metavar="FILE",
        help="Local backbone weights, no downloads [default: none, random initialisation]."),
    mpp: float = typer.Option(None, "--mpp", help="Microns per pixel of the patches [default: from dataset.json]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    seed: int = typer.Option(1, "--seed", help="Random seed (split, initialisation, order)."),
) -> None:
    """Train a 2-class patch classifier (tumour or lymphocyte) and save it with its metadata."""
    from radpath.pathology.models import resolve_device
    from radpath.pathology.til.train import TrainConfig, train_classifier

    if freeze_epochs is None:
        freeze_epochs = {"tumor": 3, "lymphocyte": 5}.get(task, 0) if init_weights else 0
    config = TrainConfig(
        task=task, arch=arch, width=width, input_px=input_px or None, epochs=epochs, freeze_epochs=freeze_epochs,
        batch=batch, positive=positive, seed=seed, init_weights=str(init_weights) if init_weights else None,
        device=resolve_device(device), mpp=mpp,
    )

    def log(row: dict[str, object]) -> None:
        console.print(
            f"epoch {row['epoch']}: loss {row['loss']:.4f}  val accuracy {row['accuracy']:.3f}  "
            f"F1 {row['f1']:.3f}  AUC {row['auc']:.3f}" + ("  (backbone frozen)" if row["frozen"] else "")
        )

    meta = train_classifier(data, config, out, log=log)
    m = meta["metrics"]
    console.print(
        f"{task} model {out}: {arch} (width {width}) at {meta['input_px']} px for {meta['patch_px']} px patches "
        f"at {meta['mpp']} um/px; validation accuracy {m['accuracy']:.3f}, F1 {m['f1']:.3f}, AUC {m['auc']:.3f}"
    )


def score_wsi(
    targets: list[str] = typer.Argument(..., help="Cohort manifest(s) (.yaml) or slide files."),
    tumor_model: Path = typer.Option(
        ..., "--tumor-model", metavar="FILE|FOLDER",
        help="Tumour patch classifier: a radpath model file, or a WSInfer model-zoo folder (config.json + weights).",
    ),
    til_model: Path = typer.Option(
        ..., "--til-model", metavar="FILE|FOLDER",
        help="Lymphocyte patch classifier: a radpath model file, or a WSInfer model-zoo folder.",
    ),
    tumor_class: str = typer.Option(
        None, "--tumor-class",
        help="Positive class of the tumour model [default: a radpath model's positive class; a zoo model's "
        "class named tumor].",
    ),
    til_class: str = typer.Option(
        None, "--til-class",
        help="Positive class of the lymphocyte model [default: a radpath model's positive class; a zoo model's "
        "class named tils / lymphocytes].",
    ),
    trust_model_code: bool = typer.Option(
        False, "--trust-model-code",
        help="Allow a zoo folder's TorchScript file (torchscript_model.pt) when it has no model.safetensors: "
        "loading it runs code from the file.",
    ),
    out: Path = typer.Option(
        Path("pathology_maps"), "--out", metavar="OUT_FOLDER", help="Folder for the per-slide map files."
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    batch: int = typer.Option(128, "--batch", min=1, help="Patches per inference batch."),
    workers: int = typer.Option(
        1, "--workers", min=0, help="Threads reading tiles ahead of the model per slide (0: read, then compute)."
    ),
    tumour_threshold: float = typer.Option(
        0.5, "--tumor-threshold", min=0.0, max=1.0, help="Tumour probability at or above which a patch is tumour."
    ),
    lymphocyte_threshold: float = typer.Option(
        0.5, "--til-threshold", min=0.0, max=1.0,
        help="Lymphocyte probability at or above which a patch is TIL-positive.",
    ),
    aggregation: str = typer.Option("max", "--aggregation", help="max | average | median"),
    window: int = typer.Option(4, "--window", min=1, help="Aggregation window w (patches)."),
    band_um: float = typer.Option(50.0, "--band-um", min=0.0, help="Peritumoral band width (microns)."),
    mpp: float = typer.Option(None, "--mpp",
        help="Microns per pixel for slides that lack it; a slide's own value is always used, and one more than "
        "5 % off the given value is a warning and a QC flag [default: none, from the slide]."),
    grid: str = typer.Option(
        "radpath", "--grid",
        help="Patch grid: radpath = whole patches of the model's exact physical size from the slide's corner, "
        "scored when >= half their area is tissue; wsinfer = WSInfer 0.6.1's grid (integer side round(patch px x "
        "model um/px / slide um/px), edge patches kept while their centre is in the slide, scored when their "
        "centre is on tissue), to reproduce WSInfer's patch set.",
    ),
    db: Path = DbOption,
    jobs: int = JobsOption,
    scheduler: str = SchedulerOption,
    retry_failed: bool = RetryOption,
) -> None:
    """Tumour / lymphocyte maps, the combined Tumour-TIL map and TIL scores for each slide."""
    from radpath.pathology.models import resolve_device
    from radpath.pathology.til.pipeline import ScoreParams, score_slides
    from radpath.warehouse import open_warehouse

    if aggregation not in ("max", "average", "median"):
        raise typer.BadParameter("--aggregation must be max, average or median")
    if grid not in ("radpath", "wsinfer"):
        raise typer.BadParameter("--grid must be radpath or wsinfer")
    params = ScoreParams(
        tumor_model=str(tumor_model), til_model=str(til_model), out_dir=str(out.resolve()),
        tumour_threshold=tumour_threshold, lymphocyte_threshold=lymphocyte_threshold, aggregation=aggregation,
        window=window, band_um=band_um, device=resolve_device(device), batch=batch, workers=workers, mpp=mpp,
        threads=1 if jobs > 1 else 0, tumor_class=tumor_class, til_class=til_class,
        trust_model_code=trust_model_code, grid=grid,
    )
    with open_warehouse(db) as con:
        summaries = score_slides(con, targets, params, jobs=jobs, scheduler=scheduler, retry_failed=retry_failed,
                                 progress=RichProgress())
        for s in summaries:
            print_run(s, f"{len(s.done)} slides scored, {len(s.failed)} failed", f"maps in {out}", con=con)
    exit_if_cases_failed(summaries)


def import_til_maps(
    folder: Path = typer.Argument(..., metavar="FOLDER",
        help="Folder of combined Tumour-TIL map PNGs named by slide id."),
    cohort: str = typer.Option(..., "--cohort", help="Cohort the slides belong to."),
    fmt: str = typer.Option("rgb-tumor-til", "--format", help="Map format (rgb-tumor-til)."),
    patch_um: float = typer.Option(50.0, "--patch-um", help="Microns per map pixel."),
    id_length: int = typer.Option(0, "--id-length", min=0, help="Patient id = first N characters of the name."),
    tumour_threshold: float = typer.Option(
        0.5, "--tumor-threshold", min=0.0, max=1.0, help="Tumour probability above which a patch is tumour."
    ),
    lymphocyte_threshold: float = typer.Option(
        0.5, "--til-threshold", min=0.0, max=1.0, help="Lymphocyte probability above which a patch is TIL-positive."
    ),
    band_um: float = typer.Option(50.0, "--band-um", min=0.0, help="Peritumoral band width (microns)."),
    db: Path = DbOption,
    jobs: int = JobsOption,
) -> None:
    """Compute TIL scores from published combined Tumour-TIL maps (no GPU needed)."""
    from radpath.errors import ConfigError
    from radpath.pathology.til.pipeline import import_maps
    from radpath.warehouse import open_warehouse

    if fmt != "rgb-tumor-til":
        raise ConfigError(f"unknown map format {fmt!r}; known: rgb-tumor-til")
    with open_warehouse(db) as con:
        s = import_maps(con, folder, cohort=cohort, patch_um=patch_um, tumour_threshold=tumour_threshold,
                        lymphocyte_threshold=lymphocyte_threshold, band_um=band_um, id_length=id_length or None,
                        jobs=jobs, progress=RichProgress())
        print_run(s, f"{len(s.done)} maps scored, {len(s.failed)} failed", con=con)
    exit_if_cases_failed([s])


def inspect(
    slide: Path = typer.Argument(..., metavar="FILE", help="Slide file."),
    thumbnail: Path = typer.Option(None, "--thumbnail", metavar="OUT_FILE",
        help="Where to write a PNG thumbnail [default: <slide>.thumb.png]."),
    mpp: float = typer.Option(None, "--mpp",
        help="Microns per pixel for a slide that lacks it; a slide's own value is always used (a given value "
        "more than 5 % off it is a warning) [default: none, from the slide]."),
) -> None:
    """Print a slide's vendor, levels, dimensions, microns per pixel and properties, and write a thumbnail; a slide
    without microns per pixel is described too (only scoring needs it)."""
    from PIL import Image

    from radpath.pathology import slides

    desc = slides.describe(slide, mpp)
    handle, info = slides.open_slide(slide, slide.stem, mpp, require_mpp=False)
    try:
        thumb = slides.thumbnail(handle, info, 512)
    finally:
        handle.close()
    console.print(f"{desc['path']}: vendor {desc['vendor']}", markup=False)
    if desc["mpp"] is None:
        console.print("  microns per pixel: missing (no openslide.mpp-x property); inspecting works, scoring needs it: "
                      f"{slides.MPP_HINT} (e.g. 0.25 at 40x, 0.5 at 20x)", markup=False)
    else:
        console.print(f"  microns per pixel: {desc['mpp']} ({desc['mpp_source']})", markup=False)
    if desc["mpp_warning"]:
        console.print(f"  warning: {desc['mpp_warning']}", markup=False)
    if desc["synthetic"]:
        console.print("  synthetic: written by radpath's synthetic study (TIFF ImageDescription marker)", markup=False)
    for level in desc["levels"]:
        console.print(
            f"  level {level['level']}: {level['width']} x {level['height']} (downsample {level['downsample']:g})"
        )
    properties = desc["properties"]
    console.print(f"  {len(properties)} properties:", markup=False)
    for key, value in properties.items():
        console.print(f"    {key} = {value if len(value) <= 200 else value[:199] + '…'}", markup=False, highlight=False)
    target = output_file(thumbnail or slide.with_name(slide.name + ".thumb.png"), "--thumbnail")
    Image.fromarray(thumb).save(target)
    console.print(f"thumbnail: {target}", markup=False)
