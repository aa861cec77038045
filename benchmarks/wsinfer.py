"""radpath against WSInfer 0.6.1 on the same zoo model and slide, on the CPU, in one run.

Writes an SVS-like slide with tifffile (20x, 0.5 um/px, 240 px JPEG tiles at quality 70, levels 1, 4, 16 as
Aperio scans have them; the section is a synthetic H&E section tiled over the slide) and a WSInfer model-zoo
folder holding a timm ResNet-34 with random weights the way the zoo ships its models: `config.json` (350 px at
0.25 um/px, Resize 224, Normalize, as the zoo's breast-tumour ResNet-34), `torchscript_model.pt` and
`model.safetensors`. Then, on that slide, `--reps` rounds, each running in turn:

  WSInfer : WSInfer 0.6.1 itself, run in its own virtual environment (`--wsinfer-python`), a fresh process per
            round: its patching (tissue + grid, written to its HDF5 file; first round only) and `run_inference`
            (DataLoader over its `WholeSlideImagePatches`, `--num-workers` loader processes, the TorchScript
            model, batch 32); the loop is timed without the model loading, which is timed apart (`torch.jit.load`).
  before  : radpath's loop with the network as main prepared it before the fused convolutions (BatchNorm folded
            into plain convolutions, channels-last: `netprep.fuse_network(fuse=False)`).
  radpath : the same patch corners (WSInfer's, from its HDF5 file; radpath's `--grid wsinfer` lays the same
            grid, checked corner by corner below), read by `read_batches` on a reader thread and run by
            `predict_probs` with the network prepared for inference (`netprep.prepare_for_inference`), batch 32.

Each is timed in wall-clock seconds and in CPU seconds (radpath: the process's, reader thread included; WSInfer:
its process's and its loader processes'), so a machine busy with other work does not decide the ratio. Printed:
patches/s of each by wall clock and per CPU second (the best round and every round); the ratios radpath /
WSInfer (the goal is >= 1.5) and radpath / before round by round (a busy machine's load changes within
minutes, so the ratio of one round's runs, taken back to back, is the fair one) and their median; model loading
(and radpath's preparation) of each; the load average before and after; whether radpath's wsinfer grid holds
every WSInfer patch corner; and the largest difference between radpath's probabilities and the plain eager
network on every patch (must be <= 1e-5). The two tools resample a patch differently, so their probabilities
differ; that difference is printed for information.

Set up WSInfer's environment once (its pins: zarr<3, tiffslide<3; torch as radpath's, from the local wheels):

    python3 -m venv /work/wsinfer-venv
    /work/wsinfer-venv/bin/pip install wsinfer==0.6.1 'zarr<3' 'tiffslide<3' torch==2.14.1 torchvision==0.29.1 \\
        openslide-python openslide-bin
    .venv/bin/python benchmarks/wsinfer.py [--size 4000] [--threads 2] [--num-workers 2] [--reps 3]

Without that environment (`--wsinfer-python` missing) only radpath's side is timed. Nothing is downloaded:
WSInfer runs with HF_HUB_OFFLINE=1 from a local model folder, through its library (its CLI module would
fetch the zoo registry on import). WSInfer 0.6.1 reads each patch at level 0 and applies the config's
Resize straight to it; radpath resamples to the declared patch size first (see the README).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radpath.pathology.infer import predict_probs
from radpath.pathology.netprep import fuse_network, prepare_for_inference
from radpath.pathology.slides import open_slide, read_patch, thumbnail
from radpath.pathology.til.nets import load_model
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

# Runs in WSInfer's environment: patch the slide with WSInfer's own code (when asked), time its model loading and
# its inference loop by wall clock and CPU (this process and its DataLoader worker processes), print one JSON line.
WSINFER_DRIVER = r"""
import json, resource, sys, time
from pathlib import Path
import torch
torch.set_num_threads(int(sys.argv[5]))
from wsinfer.wsi import set_backend
set_backend("openslide")
from wsinfer.patchlib import segment_and_patch_directory_of_slides
from wsinfer.modellib.models import LocalModelTorchScript, get_pretrained_torch_module
from wsinfer.modellib.run_inference import run_inference
from wsinfer_zoo.client import ModelConfiguration
def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
wsi_dir, results, model_dir, workers = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
config = ModelConfiguration.from_dict(json.loads((model_dir / "config.json").read_text()))
info = LocalModelTorchScript(config=config, model_path=str(model_dir / "torchscript_model.pt"))
patching = None
if sys.argv[6] == "patch":
    t = time.perf_counter(); segment_and_patch_directory_of_slides(
        wsi_dir, results, config.patch_size_pixels, config.spacing_um_px); patching = time.perf_counter() - t
t, c = time.perf_counter(), cpu(); get_pretrained_torch_module(info)
load, load_cpu = time.perf_counter() - t, cpu() - c
t, c = time.perf_counter(), cpu()
run_inference(wsi_dir, results, info, batch_size=32, num_workers=workers)   # loads the model again, then the loop
total, total_cpu = time.perf_counter() - t, cpu() - c
import h5py
with h5py.File(next((results / "patches").glob("*.h5")), "r") as handle:
    coords, size0 = handle["/coords"][()].tolist(), int(handle["/coords"].attrs["patch_size"])
print(json.dumps({"patching_s": patching, "load_s": load, "load_cpu_s": load_cpu, "inference_s": total - load,
                  "inference_cpu_s": total_cpu - load_cpu, "coords": coords, "size0": size0}))
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


def run_wsinfer(python: str, slide_dir: Path, results: Path, zoo: Path, workers: int, threads: int,
                patched: Path | None) -> dict[str, Any]:
    """One WSInfer run in a fresh process; `patched`: a results folder whose patches (HDF5) to reuse."""
    if patched is not None:
        shutil.copytree(patched / "patches", results / "patches")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}   # the driver never imports wsinfer.cli (which loads the registry)
    done = subprocess.run([python, "-c", WSINFER_DRIVER, str(slide_dir), str(results), str(zoo), str(workers),
                           str(threads), "reuse" if patched is not None else "patch"],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"WSInfer failed:\n{done.stderr[-3000:]}")
    timing: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    timing["coords"] = np.asarray(timing["coords"], np.int64).reshape(-1, 2)
    import pandas as pd

    frame = pd.read_csv(next((results / "model-outputs-csv").glob("*.csv")))
    timing["probs"] = frame[["minx", "miny", "prob_tumor"]].to_numpy()
    return timing


def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, all its threads, result) of `work()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def rates(n: int, runs: list[tuple[float, float]]) -> tuple[float, float, str]:
    """Best patches/s by wall clock and per CPU second over `runs` ((wall s, CPU s) each), and every run."""
    each = ", ".join(f"{n / w:.2f}/{n / c:.2f}" for w, c in runs)
    return n / min(w for w, _ in runs), n / min(c for _, c in runs), each


def ratios(n: int, runs: list[tuple[float, float]], n_base: int, base: list[tuple[float, float]]) -> str:
    """Patches/s ratios of `runs` to `base` round by round (measured minutes apart, not a load change apart):
    the median over rounds and each round, wall clock and CPU."""
    wall = [(n / w) / (n_base / bw) for (w, _), (bw, _) in zip(runs, base, strict=True)]
    cpu = [(n / c) / (n_base / bc) for (_, c), (_, bc) in zip(runs, base, strict=True)]
    return (f"{float(np.median(wall)):.2f} wall, {float(np.median(cpu)):.2f} CPU (median of rounds; rounds "
            + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in zip(wall, cpu, strict=True)) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="slide width in level-0 px (height 3/4 of it)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both (the cores to use)")
    parser.add_argument("--num-workers", type=int, default=2, help="WSInfer's DataLoader worker processes")
    parser.add_argument("--readers", type=int, default=1, help="radpath's tile reader threads")
    parser.add_argument("--batch", type=int, default=32, help="patches per forward pass, both tools")
    parser.add_argument("--reps", type=int, default=3, help="rounds of WSInfer, radpath and before, in turn")
    parser.add_argument("--wsinfer-python", default="/work/wsinfer-venv/bin/python",
                        help="python of WSInfer's environment")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
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
              f"350 px at 0.25 um/px -> 224; torch threads {args.threads}, batch {args.batch}; {os.cpu_count()} "
              f"CPUs, load average {load_before[0]:.1f} (1 min) {load_before[1]:.1f} (5 min) at the start")
        have_wsinfer = Path(args.wsinfer_python).is_file()
        wsinfer_runs: list[dict[str, Any]] = []
        if have_wsinfer:   # the first run patches the slide: its patch corners set the patch set of all runs
            wsinfer_runs.append(run_wsinfer(args.wsinfer_python, slide_dir, root / "wsinfer0", zoo, args.num_workers,
                                            args.threads, None))

        load_wall, load_cpu, (model, meta) = timed(lambda: load_model(zoo))
        prep_wall, prep_cpu, (fast, channels_last) = timed(
            lambda: prepare_for_inference(model, "cpu", input_px=meta["input_px"]))
        before = fuse_network(model, fuse=False).to(memory_format=torch.channels_last)
        meta = {**meta, "positive_index": 1, "channels_last": channels_last}
        slide, info = open_slide(slide_path, "bench")
        mask = tissue_mask(thumbnail(slide, info))
        slide.close()
        grid = patch_grid(info.width, info.height, 350, 0.25, info.mpp, "wsinfer")
        if wsinfer_runs:   # WSInfer's own patches, on radpath's wsinfer grid
            corners = {(int(x), int(y)) for x, y in wsinfer_runs[0]["coords"]}
            rows, cols = grid.shape
            ours = {tuple(int(v) for v in xy) for xy in grid.origins0(np.argwhere(np.ones((rows, cols), bool)))}
            print(f"grid: WSInfer patch side {wsinfer_runs[0]['size0']} px, radpath --grid wsinfer {grid.patch0:g} "
                  f"px; {len(corners)} WSInfer patches, {len(corners - ours)} of them off radpath's grid; radpath's "
                  f"tissue rule keeps {int(grid.select(mask).sum())} patches")
            selected = np.zeros(grid.shape, bool)
            for x, y in corners:
                selected[y // int(grid.patch0), x // int(grid.patch0)] = True
        else:
            selected = grid.select(mask)
        n = int(selected.sum())

        def radpath_run(network: Any) -> np.ndarray:
            return predict_probs(network, meta, info, grid, selected, case_id="bench", batch=args.batch,
                                 workers=args.readers)

        runs: dict[str, list[tuple[float, float]]] = {"radpath": [], "before": []}
        probs = {}
        for rep in range(args.reps):
            if have_wsinfer and rep > 0:
                wsinfer_runs.append(run_wsinfer(args.wsinfer_python, slide_dir, root / f"wsinfer{rep}", zoo,
                                                args.num_workers, args.threads, root / "wsinfer0"))
            for name, network in (("radpath", fast), ("before", before)):   # radpath right after WSInfer
                wall, cpu, probs[name] = timed(functools.partial(radpath_run, network))
                runs[name].append((wall, cpu))
        load_after = os.getloadavg()

        # every patch's tile through the plain eager network: preparing it must not change a prediction
        coords = np.argwhere(selected)
        reader, _ = open_slide(slide_path, "bench")
        tiles = np.stack([read_patch(reader, info, int(x), int(y), int(grid.patch0), 224, "bench", via_px=350)
                          for x, y in grid.origins0(coords)])
        reader.close()
        inputs = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255.0
        normalise: dict[str, Any] = CONFIG["transform"][2]["arguments"]   # type: ignore[index]
        mean = torch.tensor(normalise["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(normalise["std"]).view(1, 3, 1, 1)
        with torch.inference_mode():
            eager = torch.cat([torch.softmax(net((inputs[i:i + 32] - mean) / std), 1)
                               for i in range(0, len(inputs), 32)])
        diff = {k: float(np.abs(p[coords[:, 0], coords[:, 1]] - eager.numpy()).max()) for k, p in probs.items()}

        print("patches/s by wall clock / per CPU second (best round; each round):")
        wall_r, cpu_r, each = rates(n, runs["radpath"])
        print(f"radpath : {wall_r:7.2f} / {cpu_r:6.2f}  ({n} patches; rounds {each}; {args.readers} reader thread(s))")
        print(f"          model loaded in {load_wall:.2f} s ({load_cpu:.2f} s CPU), prepared in {prep_wall:.2f} s "
              f"({prep_cpu:.2f} s CPU); largest difference from the plain eager network on all {n} patches: "
              f"{diff['radpath']:.1e} (<= 1e-5)")
        wall_b, cpu_b, each = rates(n, runs["before"])
        print(f"before  : {wall_b:7.2f} / {cpu_b:6.2f}  (rounds {each}); largest difference from eager "
              f"{diff['before']:.1e}")
        print(f"ratio radpath / before: {ratios(n, runs['radpath'], n, runs['before'])}")
        if wsinfer_runs:
            n_w = len(wsinfer_runs[0]["coords"])
            wall_w, cpu_w, each = rates(n_w, [(r["inference_s"], r["inference_cpu_s"]) for r in wsinfer_runs])
            load_w = min(r["load_s"] for r in wsinfer_runs)
            load_w_cpu = min(r["load_cpu_s"] for r in wsinfer_runs)
            print(f"WSInfer : {wall_w:7.2f} / {cpu_w:6.2f}  ({n_w} patches; rounds {each}; {args.num_workers} loader "
                  f"processes); model loaded in {load_w:.2f} s ({load_w_cpu:.2f} s CPU)")
            wsinfer_times = [(r["inference_s"], r["inference_cpu_s"]) for r in wsinfer_runs]
            print(f"ratio radpath / WSInfer patches/s: {ratios(n, runs['radpath'], n_w, wsinfer_times)}; best "
                  f"rounds {wall_r / wall_w:.2f} wall, {cpu_r / cpu_w:.2f} CPU (goal >= 1.5)")
            print(f"model loading and preparation: {(load_wall + prep_wall) / load_w:.2f} x WSInfer's loading time "
                  f"({(load_cpu + prep_cpu) / load_w_cpu:.2f} x its CPU)")
            theirs = {(int(a), int(b)): p for a, b, p in wsinfer_runs[0]["probs"]}
            mine = {tuple(int(v) for v in xy): float(probs["radpath"][i, j, 1])
                    for (i, j), xy in zip(coords, grid.origins0(coords), strict=True)}
            common = sorted(set(theirs) & set(mine))
            gap = max(abs(theirs[k] - mine[k]) for k in common) if common else float("nan")
            print(f"          probabilities against WSInfer's on {len(common)} common patches: largest difference "
                  f"{gap:.3f} (resampling differs; see the docstring)")
        else:
            print(f"WSInfer : not run ({args.wsinfer_python} not found; see the docstring to install it)")
        print(f"load average {load_after[0]:.1f} (1 min) {load_after[1]:.1f} (5 min) at the end")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
