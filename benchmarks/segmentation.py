"""Whole-slide segmentation throughput: tiles/s against the tile read + decode limit, stitched against plain tiles.

Renders one synthetic pyramidal slide (with compartments), finds its tissue, and times on the same tiles:
  io       : `read_batches` reading and decoding the tiles (openslide read_region + resize), no model
  model    : the segmentation network alone on in-memory batches of the same size (the compute limit)
  full     : `segment_slide_mask`, the segment-wsi path, with 0 reader threads (read a batch, then compute:
             the baseline) and with 1 and 2 threads reading tiles ahead while the network computes
  stitched : full (1 reader) with the overlap margin against plain tiles (margin 0): a margin costs
             more tiles for the same slide; the ratio of slide area segmented per second is printed,
             with the share of mask pixels on which plain tiles disagree with the stitched mask (seams)
Ratios are against baselines measured in the same run. Runs on CPU, and on CUDA as well when torch
sees a GPU (with `--gpu-paper`: the paper's 512 px tiles at 0.5 um/px and a ResNet34 U-Net there).

    .venv/bin/python benchmarks/segmentation.py [--size 4096] [--tile 64] [--mpp 2.0] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timing import best_of

from radpath.pathology.segmentation.nets import build_net
from radpath.pathology.segmentation.wsi import layout_for, segment_slide_mask, tissue_cores
from radpath.pathology.slides import SlideInfo, open_slide, thumbnail
from radpath.pathology.tiling import read_batches
from radpath.pathology.tissue import tissue_mask
from radpath.synth.slides import render_section, write_pyramid


def measure(args: argparse.Namespace, info: SlideInfo, mask: np.ndarray, device: str, *, encoder: str, depth: int,
            tile: int, mpp: float, batch: int) -> None:
    model = build_net("unet", encoder, 8, depth).eval().to(device)
    meta = {"label_set": "tiger", "tile_px": tile, "margin_px": tile // 8, "mpp": mpp, "mean": [0.5] * 3,
            "std": [0.25] * 3}
    layout = layout_for(info, mpp, tile, tile // 8)
    cores = tissue_cores(layout, mask)
    n = len(cores)
    origins = layout.origins0(cores)
    size0 = int(round(tile * layout.scale))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def io() -> None:
        for _, tiles in read_batches(info, origins, size0, tile, "bench", batch=batch, readers=0):
            torch.from_numpy(tiles).to(device)
        sync()

    x = torch.rand(batch, 3, tile, tile, device=device)
    n_batches = max(1, n // batch)

    def compute() -> None:
        with torch.inference_mode(), torch.autocast("cuda", enabled=device == "cuda"):
            for _ in range(n_batches):
                model(x).argmax(1).cpu()
        sync()

    def full(readers: int, margin: int | None = None) -> tuple[float, np.ndarray, int]:
        out: dict[str, Any] = {}

        def run() -> None:
            out["mask"], out["counts"] = segment_slide_mask(
                model, meta, info, case_id="bench", thumb_mask=mask, margin=margin, device=device, batch=batch,
                readers=readers)
            sync()
        run()   # warm up
        return best_of(run, args.repeats), out["mask"], out["counts"]["tiles"]

    t_io = best_of(io, args.repeats)
    t_model = best_of(compute, args.repeats) * n / (n_batches * batch)
    limit = max(t_io, t_model)
    print(f"[{device}] {encoder} depth {depth}, {tile} px tiles at {mpp} um/px, batch {batch}: {n} tissue tiles")
    print(f"    io {n / t_io:8.1f} tiles/s   model {n / t_model:8.1f} tiles/s   "
          f"limit: {'model' if t_model > t_io else 'tile I/O'}")
    stitched = None
    for readers in (0, 1, 2):
        t_full, mask_out, _ = full(readers)
        if readers == 1:
            stitched = (t_full, mask_out)
        tag = "baseline: read, then compute" if readers == 0 else "reading ahead"
        print(f"    full, {readers} reader threads ({tag}): {n / t_full:8.1f} tiles/s   "
              f"full / min(io, model) = {limit / t_full:.2f}   full / io = {t_io / t_full:.2f}")
    assert stitched is not None
    t_plain, plain, n_plain = full(1, margin=0)
    area = stitched[1].size
    seams = float((plain != stitched[1]).mean())
    print(f"    stitched (margin {tile // 8} px): {area / stitched[0]:10.0f} mask px/s ({n} tiles)   "
          f"plain tiles: {area / t_plain:10.0f} mask px/s ({n_plain} tiles)   stitched / plain = "
          f"{t_plain / stitched[0]:.2f}; plain tiles disagree with the stitched mask on {100 * seams:.2f} % of pixels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="slide width in px at 0.5 um/px (height 3/4 of it)")
    parser.add_argument("--tile", type=int, default=64, help="tile side in px (CPU default; the paper: 512)")
    parser.add_argument("--mpp", type=float, default=2.0, help="microns per mask pixel (the paper: 0.5)")
    parser.add_argument("--encoder", default="resnet10t", help="resnet10t | resnet18 | resnet34 | vgg16")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--gpu-paper", action="store_true", help="on CUDA use 512 px at 0.5 um/px, ResNet34 depth 5")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="torch threads for the model on CPU")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-cpu", action="store_true", help="measure CUDA only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.tiff"
        t0 = time.perf_counter()
        torch.set_num_threads(args.threads)
        section = render_section(np.random.default_rng(0), 40.0, shape=(args.size * 3 // 4, args.size),
                                 compartments=np.random.default_rng(1))
        write_pyramid(path, section["rgb"])
        print(f"slide {args.size} x {args.size * 3 // 4} px written in {time.perf_counter() - t0:.1f} s; "
              f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        slide, info = open_slide(path, "bench")
        mask = tissue_mask(thumbnail(slide, info))
        slide.close()
        if not args.skip_cpu:
            measure(args, info, mask, "cpu", encoder=args.encoder, depth=args.depth, tile=args.tile, mpp=args.mpp,
                    batch=args.batch)
        if torch.cuda.is_available():
            if args.gpu_paper:
                measure(args, info, mask, "cuda", encoder="resnet34", depth=5, tile=512, mpp=0.5, batch=16)
            else:
                measure(args, info, mask, "cuda", encoder=args.encoder, depth=args.depth, tile=args.tile,
                        mpp=args.mpp, batch=args.batch)


if __name__ == "__main__":
    main()
