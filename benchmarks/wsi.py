"""Whole-slide scoring throughput: the shared tiled-inference loop against its two limits.

Renders one synthetic pyramidal slide, finds its tissue, and times on the same tissue patches:
  io     : `read_batches` reading and decoding tiles (openslide read_region + resize), no model
  model  : the patch classifier alone on in-memory batches of the same size (the compute limit)
  full   : `predict_map`, the scoring path, with 0 reader threads (read a batch, then compute it: the
           baseline) and with 1 and 2 threads reading tiles ahead while the model computes
and prints patches/s for each and full / min(io, model) in throughput terms, i.e. how close the loop
comes to the slower of its two limits (target: >= 0.8). Runs on CPU, and on CUDA as well when torch
sees a GPU. On CPU the model's torch threads and the reader threads share the cores: `--threads`
sets torch's (default: one core left to the reader).

    .venv/bin/python benchmarks/wsi.py [--size 4096] [--width 16] [--input-px 40] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_of

from radpath.pathology.infer import predict_map
from radpath.pathology.slides import SlideInfo, open_slide, thumbnail
from radpath.pathology.til.nets import build
from radpath.pathology.tiling import read_batches
from radpath.pathology.tissue import PatchGrid, tissue_mask
from radpath.synth.slides import render_section, write_pyramid


def measure(args: argparse.Namespace, info: SlideInfo, grid: PatchGrid, selected: np.ndarray, device: str) -> None:
    """Print io / model / full patches per second for one device, full with 0, 1 and 2 reader threads."""
    n = int(selected.sum())
    model = build("resnet18", width=args.width).eval().to(device)
    meta = {"input_px": args.input_px, "mean": [0.5] * 3, "std": [0.25] * 3}
    origins = grid.origins0(np.argwhere(selected))
    side = int(round(grid.patch0))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def io() -> None:
        for _, tiles in read_batches(info, origins, side, args.input_px, "bench", batch=args.batch, readers=0):
            torch.from_numpy(tiles).to(device)
        sync()

    x = torch.rand(args.batch, 3, args.input_px, args.input_px, device=device)
    n_batches = max(1, n // args.batch)

    def compute() -> None:
        with torch.inference_mode(), torch.autocast("cuda", enabled=device == "cuda"):
            for _ in range(n_batches):
                model(x)
        sync()

    def full(readers: int) -> float:
        def run() -> None:
            predict_map(model, meta, info, grid, selected, case_id="bench", device=device, batch=args.batch,
                        workers=readers)
            sync()
        run()  # warm up (first-shape kernels, thread start)
        return best_of(run, args.repeats)

    t_io = best_of(io, args.repeats)
    t_model = best_of(compute, args.repeats) * n / (n_batches * args.batch)
    limit = max(t_io, t_model)
    print(f"[{device}] io {n / t_io:8.0f} patches/s   model {n / t_model:8.0f} patches/s   "
          f"limit: {'model' if t_model > t_io else 'tile I/O'}")
    for readers in (0, 1, 2):
        t_full = full(readers)
        tag = "baseline: read, then compute" if readers == 0 else "reading ahead"
        print(f"    full, {readers} reader threads ({tag}): {n / t_full:8.0f} patches/s   "
              f"full / min(io, model) = {limit / t_full:.2f}   full / io = {t_io / t_full:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="slide width in px (height 3/4 of it)")
    parser.add_argument("--patch-px", type=int, default=100, help="patch side at level 0 (lymphocyte: 100 px)")
    parser.add_argument("--input-px", type=int, default=40)
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 width (64 = the published network)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="torch threads for the model on CPU")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.tiff"
        t0 = time.perf_counter()
        torch.set_num_threads(args.threads)
        section = render_section(np.random.default_rng(0), 40.0, shape=(args.size * 3 // 4, args.size))
        write_pyramid(path, section["rgb"])
        print(f"slide {args.size} x {args.size * 3 // 4} px written in {time.perf_counter() - t0:.1f} s")
        slide, info = open_slide(path, "bench")
        mask = tissue_mask(thumbnail(slide, info))
        slide.close()
        grid = PatchGrid(info.width, info.height, float(args.patch_px))
        selected = grid.tissue_fraction(mask) >= 0.5
        n = int(selected.sum())
        print(f"grid {grid.shape}, {n} tissue patches of {args.patch_px} px -> {args.input_px} px; "
              f"resnet18 width {args.width}; batch {args.batch}; torch threads {torch.get_num_threads()}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            measure(args, info, grid, selected, device)

if __name__ == "__main__":
    main()
