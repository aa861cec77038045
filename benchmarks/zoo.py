"""WSInfer model-zoo models on the shared scoring loop: what the zoo path costs over radpath's own models.

Renders one synthetic pyramidal slide (0.25 um/px, like a 40x scan) and times, on the same patches
(350 px at 0.5 um/px, the published tumour model's geometry, read at the 2x level):
  read     : tiles read straight to the network input (224 px; the baseline) and via the declared patch
             size (350 px, then Resize to 224: the zoo path's second resampling)
  predict  : `predict_map` with radpath's ResNet-34 (plain torch, width 64) and with a zoo folder's
             timm ResNet-34 (random weights, same input and normalisation)
and prints each pair's ratio (zoo / baseline; 1.0 = no extra cost).

    .venv/bin/python benchmarks/zoo.py [--patches 16] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import best_of

from radpath.pathology.infer import predict_map
from radpath.pathology.slides import open_slide
from radpath.pathology.til.nets import build, load_model
from radpath.pathology.tiling import read_batches
from radpath.pathology.tissue import PatchGrid
from radpath.synth.slides import render_section, write_pyramid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=16, help="Patches timed (a square block of the grid).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--repeats", type=int, default=2, help="Timings per measurement (the best is kept).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import timm
    from safetensors.torch import save_file

    side = int(np.ceil(np.sqrt(args.patches)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.tiff"
        section = render_section(np.random.default_rng(0), 30.0, shape=(side * 700, side * 700), mpp=0.25)
        write_pyramid(path, section["rgb"], mpp=0.25)
        _, info = open_slide(path, "bench")
        grid = PatchGrid(info.width, info.height, 700.0)
        selected = np.zeros(grid.shape, bool)
        selected.flat[: args.patches] = True
        origins = grid.origins0(np.argwhere(selected))

        def read(via: int | None) -> None:
            for _ in read_batches(info, origins, 700, 224, "bench", batch=32, readers=0, via_px=via):
                pass

        read(None)   # warm the file cache so neither variant pays for the first read
        t_direct, t_via = best_of(lambda: read(None), args.repeats), best_of(lambda: read(350), args.repeats)

        mean, std = [0.7238, 0.5716, 0.6779], [0.1120, 0.1459, 0.1089]
        folder = Path(tmp) / "zoo"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({
            "spec_version": "1.0", "architecture": "resnet34", "num_classes": 2, "class_names": ["notumor", "tumor"],
            "patch_size_pixels": 350, "spacing_um_px": 0.5,
            "transform": [{"name": "Resize", "arguments": {"size": 224}}, {"name": "ToTensor"},
                          {"name": "Normalize", "arguments": {"mean": mean, "std": std}}]}))
        net = timm.create_model("resnet34", pretrained=False, num_classes=2)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
        zoo_model, zoo_meta = load_model(folder)
        own = build("resnet34", width=64).eval()
        own_meta = {"input_px": 224, "mean": mean, "std": std}
        zoo_meta = {**zoo_meta, "positive_index": 1}

        def predict(model: torch.nn.Module, meta: dict[str, object]) -> None:
            predict_map(model, meta, info, grid, selected, case_id="bench", batch=32, workers=1)

        t_own = best_of(lambda: predict(own, own_meta), args.repeats)
        t_zoo = best_of(lambda: predict(zoo_model, zoo_meta), args.repeats)
    n = int(selected.sum())
    print(f"{n} patches of 350 px at 0.5 um/px from a 0.25 um/px slide, torch threads {torch.get_num_threads()}")
    print(f"read    direct to 224 px   {n / t_direct:8.1f} patches/s (baseline)")
    print(f"read    via 350 px -> 224  {n / t_via:8.1f} patches/s   ratio {t_via / t_direct:.2f}")
    print(f"predict radpath ResNet-34  {n / t_own:8.1f} patches/s (baseline)")
    print(f"predict zoo timm ResNet-34 {n / t_zoo:8.1f} patches/s   ratio {t_zoo / t_own:.2f}")


if __name__ == "__main__":
    main()
