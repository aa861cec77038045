"""Cell detection throughput and the matching's cost, each against a baseline measured in the same run.

  density : PathoNet on synthetic IHC fields: images/s and cells/s end to end, and the share of the time
            spent in post-processing (threshold, distance transform, watershed, centroids)
  patch   : the 70 x 70 lymphocyte classifier slid over a field: batched crops (the detector's path)
            against one patch per forward call (the baseline): images/s, cells/s and the speed-up
  matching: `match_points` (KD-tree pairs within R, one small assignment per connected group) against one
            dense `linear_sum_assignment` over all detections x all truth cells (the brute-force baseline);
            the counts must agree

Trained model files (`--model`, `--patch-model`, from radpath train-cells) give realistic cell counts;
without them, networks of the same architecture with random weights are timed and the post-processing runs
on the ideal (target) density maps of the fields, so its share is still that of real maps.

    .venv/bin/python benchmarks/cells.py [--images 8] [--model M] [--patch-model M] [--points 3000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from radpath.pathology.cells.detect import density_maps, patch_probabilities, select_patches
from radpath.pathology.cells.matching import match_points
from radpath.pathology.cells.nets import PatchNet, PathoNet, load_cell_model
from radpath.pathology.cells.postprocess import map_centres
from radpath.pathology.cells.train import DENSITY_CLASSES, density_target
from radpath.synth.ihc import render_field


def _model(path: str | None, method: str) -> tuple[Any, dict[str, Any]]:
    if path:
        return load_cell_model(path, method)
    meta = {"mean": [0.5] * 3, "std": [0.25] * 3, "mpp": 0.5, "method": method}
    if method == "density":
        return PathoNet(4).eval(), {**meta, "classes": list(DENSITY_CLASSES), "thresholds": [0.5] * 3}
    return PatchNet(4).eval(), {**meta, "input_px": 70, "stride_px": 6, "nms_radius_um": 4.0, "thresholds": [0.5]}


def bench_density(fields: list[tuple[np.ndarray, Any]], path: str | None) -> None:
    model, meta = _model(path, "density")
    t_net = t_post = 0.0
    cells = 0
    for rgb, truth in fields:
        start = time.perf_counter()
        maps = density_maps(model, meta, rgb)
        t_net += time.perf_counter() - start
        if path is None:
            maps = density_target(rgb.shape[:2], truth[["x", "y"]].to_numpy(), truth["class"].to_numpy(), 3.0)
        start = time.perf_counter()
        xy, _, _ = map_centres(maps, list(meta["thresholds"]), list(meta["classes"]))
        t_post += time.perf_counter() - start
        cells += len(xy)
    total = t_net + t_post
    print(f"density : {len(fields) / total:7.2f} images/s  {cells / total:8.1f} cells/s  "
          f"post-processing {100 * t_post / total:4.1f} % of the time"
          + ("" if path else "  (random weights; post-processing on ideal maps)"))


def bench_patch(fields: list[tuple[np.ndarray, Any]], path: str | None, n: int) -> None:
    model, meta = _model(path, "patch")
    rgb = fields[0][0]
    timings = {}
    for batch in (512, 1):
        start = time.perf_counter()
        points, prob = patch_probabilities(model, meta, rgb, stride_px=int(meta["stride_px"]), batch=batch)
        timings[batch] = time.perf_counter() - start
    start = time.perf_counter()
    found = 0
    for image, _ in fields[:n]:
        pts, prob = patch_probabilities(model, meta, image, stride_px=int(meta["stride_px"]))
        found += len(select_patches(meta, pts, prob, float(meta["thresholds"][0]))[0])
    total = time.perf_counter() - start
    print(f"patch   : {n / total:7.2f} images/s  {found / total:8.1f} cells/s  ({len(points)} patches per field); "
          f"batched {timings[512]:.2f} s vs one patch per call {timings[1]:.2f} s: x{timings[1] / timings[512]:.1f}")


def bench_matching(n: int) -> None:
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    true = rng.uniform(0, 40 * np.sqrt(n), (n, 2))
    pred = np.concatenate([true + rng.normal(0, 3, true.shape), rng.uniform(0, 40 * np.sqrt(n), (n // 5, 2))])
    radius = 10.0
    start = time.perf_counter()
    fast = len(match_points(pred, true, radius))
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    dist = cdist(pred, true)
    cost = np.where(dist <= radius, dist, radius * (n + 1) + 1)
    rows, cols = linear_sum_assignment(cost)
    brute = int((dist[rows, cols] <= radius).sum())
    t_brute = time.perf_counter() - start
    assert fast == brute, (fast, brute)
    print(f"matching: {len(pred)} detections x {n} cells: grouped {t_fast * 1000:.0f} ms vs dense assignment "
          f"{t_brute * 1000:.0f} ms: x{t_brute / t_fast:.0f} (both {fast} matches)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="synthetic 256 px fields to time")
    parser.add_argument("--model", help="a density model file (else random weights, ideal maps)")
    parser.add_argument("--patch-model", help="a patch model file (else random weights)")
    parser.add_argument("--points", type=int, default=3000, help="truth cells in the matching benchmark")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    fields = [render_field(rng, 30.0, 0.3) for _ in range(args.images)]
    with torch.inference_mode():
        bench_density(fields, args.model)
        bench_patch(fields, args.patch_model, min(2, args.images))
    bench_matching(args.points)


if __name__ == "__main__":
    main()
