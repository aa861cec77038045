"""`radpath models list` (the models a warehouse's runs used) and `radpath models show` (one model)."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path, print_frame


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Patch-classifier models: what runs used, what a model file or folder holds.",
                        no_args_is_help=True)
    group.command("list")(list_models)
    group.command("show")(show)
    app.add_typer(group, name="models")


def list_models(
    db: Path = DbOption,
    csv: Path = typer.Option(
        None, "--csv", metavar="OUT_FILE", help="Also write the list to this CSV file [default: none]."
    ),
) -> None:
    """List the models the warehouse's runs used (role, path, sha256, format, runs, last use)."""
    from radpath.warehouse import open_warehouse
    from radpath.warehouse.inventory import models_used

    with open_warehouse(db_path(db), read_only=True) as con:
        frame = models_used(con)
    if frame.empty:
        console.print("no run of this warehouse recorded a model")
        return
    if csv:
        frame.to_csv(csv, index=False)
        console.print(f"wrote {len(frame)} rows to {csv}")
    print_frame(frame, title="models used by runs")


def show(
    model: Path = typer.Argument(
        ..., metavar="FILE|FOLDER", help="A radpath model file, or a WSInfer model-zoo folder (config.json)."
    ),
    load: bool = typer.Option(
        True, "--load/--no-load", show_default=False,
        help="Build the network and load its weights (checks every tensor's shape).",
    ),
    trust_model_code: bool = typer.Option(
        False, "--trust-model-code",
        help="Allow loading a TorchScript file (torchscript_model.pt): that runs code from the file.",
    ),
) -> None:
    """Print what a model declares (architecture, classes, patch size, spacing, transforms) and its hash."""
    from radpath.pathology.models import model_hash, read_meta

    meta = read_meta(model)
    console.print(f"{model}: format {meta.get('format')}, architecture {meta.get('arch')}")
    if meta.get("task"):
        console.print(f"  task: {meta['task']}")
    console.print(f"  classes: {', '.join(str(c) for c in meta.get('classes', []))}")
    data = meta.get("training_data")
    if data:
        kind = "synthetic" if data.get("synthetic") else "not synthetic"
        console.print(f"  trained on: {data.get('dataset')} ({kind}; {data.get('mpp')} um/px, "
                      f"stain {data.get('stain')}; data sha256 {data.get('hash')})", markup=False)
        if data.get("note"):
            console.print(f"  note: {data['note']}", markup=False)
    else:
        console.print("  trained on: not recorded (no model card: the colour and synthetic-data checks are off)")
    um = float(meta["patch_px"]) * float(meta["mpp"])
    console.print(f"  patch: {meta['patch_px']} px at {meta['mpp']} um/px ({um:g} um); network input "
                  f"{meta['input_px']} px")
    console.print(f"  normalise: mean {meta.get('mean')}, std {meta.get('std')}")
    if meta.get("transform"):
        steps = ", ".join(t["name"] + (f"({t['arguments']})" if t.get("arguments") else "") for t in meta["transform"])
        console.print(f"  transform: {steps}")
    if meta.get("weights"):
        console.print(f"  weights: {meta['weights']}")
    console.print(f"  sha256: {model_hash(model)}")
    if load:
        from radpath.pathology.til.nets import load_model

        net, _ = load_model(model, trust_model_code=trust_model_code)
        n = sum(int(p.numel()) for p in net.parameters())
        console.print(f"  loaded: {n:,} parameters, every tensor's shape checked")
