"""radpath against WSInfer 0.6.1 on the same zoo model and slide, on the CPU, in one run.

Writes an SVS-like slide with tifffile (20x, 0.5 um/px, 240 px JPEG tiles at quality 70, levels 1, 4, 16 as
Aperio scans have them; the section is a synthetic H&E section tiled over the slide) and a WSInfer model-zoo
folder holding a timm ResNet-34 with random weights the way the zoo ships its models: `config.json` (350 px at
0.25 um/px, Resize 224, Normalize, as the zoo's breast-tumour ResNet-34), `torchscript_model.pt` and
`model.safetensors`. Then, on that slide:

  WSInfer : WSInfer 0.6.1 itself, run in its own virtual environment (`--wsinfer-python`): its patching
            (tissue + grid, written to its HDF5 file) and `run_inference` (DataLoader over its
            `WholeSlideImagePatches`, `--num-workers` loader processes, the TorchScript model, batch 32);
            the loop is timed without the model loading, which is timed apart (`torch.jit.load`).
  radpath : the same patch corners (WSInfer's, from its HDF5 file; radpath's `--grid wsinfer` lays the same
            grid, checked corner by corner below), read by `read_batches` on a reader thread and run by
            `predict_probs` with the network prepared for inference (`tiling.prepare_for_inference`), batch 32.

Printed: patches/s of each and the ratio (radpath / WSInfer; the goal is >= 1.5), model loading of each,
whether radpath's wsinfer grid holds every WSInfer patch corner, and the largest difference between
radpath's probabilities and the plain eager network on the same tiles (must be <= 1e-5). The two tools
resample a patch differently, so their probabilities differ; that difference is printed for information.

Set up WSInfer's environment once (its pins: zarr<3, tiffslide<3; torch as radpath's, from the local wheels):

    python3 -m venv /work/wsinfer-venv
    /work/wsinfer-venv/bin/pip install wsinfer==0.6.1 'zarr<3' 'tiffslide<3' torch==2.14.1 torchvision==0.29.1 \\
        openslide-python openslide-bin
    .venv/bin/python benchmarks/wsinfer.py [--size 4000] [--threads 2] [--num-workers 2]

Without that environment (`--wsinfer-python` missing) only radpath's side is timed. Nothing is downloaded:
WSInfer runs with HF_HUB_OFFLINE=1 from a local model folder, through its library (its CLI module would
fetch the zoo registry on import). WSInfer 0.6.1 reads each patch at level 0 and applies the config's
Resize straight to it; radpath resamples to the declared patch size first (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radpath.pathology.infer import predict_probs
from radpath.pathology.slides import open_slide, read_patch, thumbnail
from radpath.pathology.til.nets import load_model
from radpath.pathology.tiling import prepare_for_inference
from radpath.pathology.tissue import patch_grid, tissue_mask
from radpath.synth.slides import render_section

MPP = 0.5
CONFIG = {
    "spec_version": "1.0", "architecture": "resnet34", "num_classes": 2, "class_names": ["notumor", "tumor"],
    "patch_size_pixels": 350, "spacing_um_px": 0.25,
    "transform": [{"name": "Resize", "arguments": {"size": 224}}, {"name": "ToTensor"},
                  {"name": "Normalize", "arguments": {"mean": [0.7238, 0.5716, 0.6779],
                                                      "std": [0.112, 0.1459, 0.1089]}}],
}

# Runs in WSInfer's environment: patch the slide with WSInfer's own code, time its model loading and its
# inference loop, print one JSON line.
WSINFER_DRIVER = r"""
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[5]))
from wsinfer.wsi import set_backend
set_backend("openslide")
from wsinfer.patchlib import segment_and_patch_directory_of_slides
from wsinfer.modellib.models import LocalModelTorchScript, get_pretrained_torch_module
from wsinfer.modellib.run_inference import run_inference
from wsinfer_zoo.client import ModelConfiguration
wsi_dir, results, model_dir, workers = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
config = ModelConfiguration.from_dict(json.loads((model_dir / "config.json").read_text()))
info = LocalModelTorchScript(config=config, model_path=str(model_dir / "torchscript_model.pt"))
t = time.perf_counter(); segment_and_patch_directory_of_slides(
    wsi_dir, results, config.patch_size_pixels, config.spacing_um_px); patching = time.perf_counter() - t
t = time.perf_counter(); get_pretrained_torch_module(info); load = time.perf_counter() - t
t = time.perf_counter(); run_inference(wsi_dir, results, info, batch_size=32, num_workers=workers)
total = time.perf_counter() - t
import h5py
with h5py.File(next((results / "patches").glob("*.h5")), "r") as handle:
    coords, size0 = handle["/coords"][()].tolist(), int(handle["/coords"].attrs["patch_size"])
print(json.dumps({"patching_s": patching, "load_s": load, "inference_s": total - load, "coords": coords,
                  "size0": size0}))
"""


def write_svs_like(path: Path, rgb: np.ndarray, mpp: float = MPP) -> None:
    """A pyramidal tiled TIFF as Aperio writes one: levels x1, x4, x16, 240 px JPEG tiles (quality 70)."""
    import tifffile
    from PIL import Image

    image = Image.fromarray(rgb)
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for level, factor in enumerate((1, 4, 16)):
            data = rgb if factor == 1 else np.asarray(
                image.resize((rgb.shape[1] // factor, rgb.shape[0] // factor), Image.Resampling.BOX))
            res = 1e4 / (mpp * factor)
            tif.write(data, tile=(240, 240), photometric="rgb", compression="jpeg", compressionargs={"level": 70},
                      subfiletype=0 if level == 0 else 1, metadata=None, resolution=(res, res),
                      resolutionunit="CENTIMETER", description="radpath benchmark slide (SVS-like)")


def write_zoo(folder: Path) -> torch.nn.Module:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet34", pretrained=False, num_classes=2).eval()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    with torch.inference_mode():
        torch.jit.trace(net, torch.rand(1, 3, 224, 224)).save(str(folder / "torchscript_model.pt"))
    return net


def run_wsinfer(python: str, slide_dir: Path, results: Path, zoo: Path, workers: int, threads: int
                ) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}   # the driver never imports wsinfer.cli (which loads the registry)
    done = subprocess.run([python, "-c", WSINFER_DRIVER, str(slide_dir), str(results), str(zoo), str(workers),
                           str(threads)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"WSInfer failed:\n{done.stderr[-3000:]}")
    timing: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    timing["coords"] = np.asarray(timing["coords"], np.int64).reshape(-1, 2)
    import pandas as pd

    frame = pd.read_csv(next((results / "model-outputs-csv").glob("*.csv")))
    timing["probs"] = frame[["minx", "miny", "prob_tumor"]].to_numpy()
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="slide width in level-0 px (height 3/4 of it)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both (the cores to use)")
    parser.add_argument("--num-workers", type=int, default=2, help="WSInfer's DataLoader worker processes")
    parser.add_argument("--readers", type=int, default=1, help="radpath's tile reader threads")
    parser.add_argument("--wsinfer-python", default="/work/wsinfer-venv/bin/python",
                        help="python of WSInfer's environment")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slide_dir = root / "slides"
        slide_dir.mkdir()
        slide_path = slide_dir / "bench.tiff"
        height, width = args.size * 3 // 4, args.size
        section = render_section(np.random.default_rng(0), 40.0, shape=(min(height, 1500), min(width, 2000)))
        reps = (-(-height // section["rgb"].shape[0]), -(-width // section["rgb"].shape[1]), 1)
        write_svs_like(slide_path, np.ascontiguousarray(np.tile(section["rgb"], reps)[:height, :width]))
        zoo = root / "zoo"
        net = write_zoo(zoo)
        print(f"slide {width} x {height} px at {MPP} um/px (levels x1 x4 x16, JPEG 240 px tiles); zoo ResNet-34, "
              f"350 px at 0.25 um/px -> 224; torch threads {args.threads}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        wsinfer = None
        if Path(args.wsinfer_python).is_file():
            wsinfer = run_wsinfer(args.wsinfer_python, slide_dir, root / "wsinfer", zoo, args.num_workers,
                                  args.threads)

        t = time.perf_counter()
        model, meta = load_model(zoo)
        fast, channels_last = prepare_for_inference(model, "cpu", input_px=meta["input_px"])
        t_load = time.perf_counter() - t
        meta = {**meta, "positive_index": 1, "channels_last": channels_last}
        slide, info = open_slide(slide_path, "bench")
        mask = tissue_mask(thumbnail(slide, info))
        slide.close()
        grid = patch_grid(info.width, info.height, 350, 0.25, info.mpp, "wsinfer")
        if wsinfer is not None:   # WSInfer's own patches, on radpath's wsinfer grid
            corners = {(int(x), int(y)) for x, y in wsinfer["coords"]}
            rows, cols = grid.shape
            ours = {tuple(int(v) for v in xy) for xy in grid.origins0(np.argwhere(np.ones((rows, cols), bool)))}
            print(f"grid: WSInfer patch side {wsinfer['size0']} px, radpath --grid wsinfer {grid.patch0:g} px; "
                  f"{len(corners)} WSInfer patches, {len(corners - ours)} of them off radpath's grid; radpath's "
                  f"tissue rule keeps {int(grid.select(mask).sum())} patches")
            selected = np.zeros(grid.shape, bool)
            for x, y in corners:
                selected[y // int(grid.patch0), x // int(grid.patch0)] = True
        else:
            selected = grid.select(mask)
        n = int(selected.sum())

        def radpath_run() -> tuple[float, np.ndarray]:
            start = time.perf_counter()
            probs = predict_probs(fast, meta, info, grid, selected, case_id="bench", batch=32,
                                  workers=args.readers)
            return time.perf_counter() - start, probs

        radpath_run()   # warm-up: first-shape kernels, file cache
        t_radpath, probs = min(radpath_run(), radpath_run(), key=lambda r: r[0])

        # the same tiles through the plain eager network: the prepared one must not change a prediction
        coords = np.argwhere(selected)
        tiles = np.stack([read_patch(open_slide(slide_path, "bench")[0], info, int(x), int(y), int(grid.patch0), 224,
                                     "bench", via_px=350) for x, y in grid.origins0(coords[:64])])
        x = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(CONFIG["transform"][2]["arguments"]["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(CONFIG["transform"][2]["arguments"]["std"]).view(1, 3, 1, 1)
        with torch.inference_mode():
            eager = torch.softmax(net((x - mean) / std), 1).numpy()
        diff = float(np.abs(probs[coords[:64, 0], coords[:64, 1]] - eager).max())

        print(f"radpath : {n / t_radpath:7.2f} patches/s ({n} patches in {t_radpath:.1f} s, {args.readers} reader "
              f"thread(s)); model loaded and prepared in {t_load:.2f} s")
        print(f"          largest difference from the plain eager network on the same tiles: {diff:.1e} (<= 1e-5)")
        if wsinfer is not None:
            n_w = len(wsinfer["coords"])
            rate = n_w / wsinfer["inference_s"]
            print(f"WSInfer : {rate:7.2f} patches/s ({n_w} patches in {wsinfer['inference_s']:.1f} s, "
                  f"{args.num_workers} loader processes); model loaded in {wsinfer['load_s']:.2f} s")
            print(f"ratio radpath / WSInfer patches/s: {n / t_radpath / rate:.2f} (goal >= 1.5); model loading "
                  f"{t_load / wsinfer['load_s']:.2f} x WSInfer's time")
            theirs = {(int(a), int(b)): p for a, b, p in wsinfer["probs"]}
            mine = {tuple(int(v) for v in xy): float(probs[i, j, 1])
                    for (i, j), xy in zip(coords, grid.origins0(coords), strict=True)}
            common = sorted(set(theirs) & set(mine))
            gap = max(abs(theirs[k] - mine[k]) for k in common) if common else float("nan")
            print(f"          probabilities against WSInfer's on {len(common)} common patches: largest difference "
                  f"{gap:.3f} (resampling differs; see the docstring)")
        else:
            print(f"WSInfer : not run ({args.wsinfer_python} not found; see the docstring to install it)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
