"""Viewer tile latency: `radpath serve` over loopback against a raw openslide `read_region` of the same tiles.

Renders one synthetic pyramidal slide, registers it in a fresh warehouse, serves the viewer on a free loopback
port (`radpath serve --port 0`, in its own process) and measures, on the same random Deep Zoom tiles of the
three finest levels:
  read_region : openslide reading the tile's region in this process (the baseline: no HTTP, no JPEG)
  cold        : N concurrent HTTP clients (keep-alive) fetching the tiles once, cache empty
  cached      : the same clients fetching the same tiles again (served from the bounded LRU cache)
and prints p50/p95 latency of each, the error count (must be 0) and the ratios p50(cold) / p50(read_region)
and p50(cached) / p50(read_region); `/healthz` gives the floor of the HTTP stack. A first request per client
(connection set-up) is not counted.

    .venv/bin/python benchmarks/viewer.py [--size 4096] [--clients 4] [--tiles 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openslide
from openslide.deepzoom import DeepZoomGenerator

from radpath.synth.slides import render_section, write_pyramid
from radpath.viewer.deepzoom import OVERLAP, TILE_SIZE
from radpath.viewer.store import slide_id
from radpath.warehouse import open_warehouse


def make_study(folder: Path, size: int) -> tuple[Path, Path]:
    slide = folder / "BENCH-1.tiff"
    section = render_section(np.random.default_rng(0), 30.0, shape=(size, size))
    write_pyramid(slide, section["rgb"], mpp=0.5, levels=4)
    db = folder / "radpath.duckdb"
    with open_warehouse(db) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('bench', 'training', NULL, 'm', 'h', 'r')")
        con.execute("INSERT INTO patient_registry VALUES ('bench', 'BENCH-1', true, NULL, NULL, 'r')")
        con.execute("INSERT INTO pathology_slides (cohort, patient_id, slide_path, mpp, width, height, run_id) "
                    "VALUES ('bench', 'BENCH-1', ?, 0.5, ?, ?, 'r')", [str(slide), size, size])
    return db, slide


def percentiles(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values) * 1000
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def serve(db: Path) -> tuple[subprocess.Popen[str], str]:
    """`radpath serve --port 0` in its own process (client and server do not share a GIL); its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "radpath.cli.app", "serve", "--db", str(db), "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().split(": ", 1)[1].split()[0].rstrip("/")
    for _ in range(200):
        try:
            httpx.get(url + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return process, url


def fetch_all(base: str, sid: str, tiles: list[tuple[int, int, int]], clients: int,
              path: str = "/slides/{sid}_files/{level}/{col}_{row}.jpeg") -> tuple[list[float], int]:
    """Fetch `tiles` split over `clients` concurrent keep-alive clients: latencies (s) and errors."""
    chunks = [tiles[i::clients] for i in range(clients)]

    def run(chunk: list[tuple[int, int, int]]) -> tuple[list[float], int]:
        times, errors = [], 0
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get("/healthz")          # open the connection outside the timings
            for level, col, row in chunk:
                start = time.perf_counter()
                response = client.get(path.format(sid=sid, level=level, col=col, row=row))
                times.append(time.perf_counter() - start)
                errors += response.status_code != 200
        return times, errors

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(run, chunks))
    return [t for times, _ in results for t in times], sum(e for _, e in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096, help="side of the synthetic slide, level-0 px")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--tiles", type=int, default=200, help="distinct random tiles fetched (per pass)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, slide_path = make_study(folder, args.size)
        sid = slide_id(str(slide_path))
        slide = openslide.OpenSlide(str(slide_path))
        generator = DeepZoomGenerator(slide, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False)
        rng = np.random.default_rng(1)
        top = generator.level_count - 1
        every = [(level, c, r) for level in (top - 2, top - 1, top)
                 for c in range(generator.level_tiles[level][0]) for r in range(generator.level_tiles[level][1])]
        picked = [every[i] for i in rng.choice(len(every), size=min(args.tiles, len(every)), replace=False)]

        raw = []
        for level, col, row in picked:
            location, slide_level, size = generator.get_tile_coordinates(level, (col, row))
            start = time.perf_counter()
            slide.read_region(location, slide_level, size)
            raw.append(time.perf_counter() - start)
        slide.close()

        process, base = serve(db)
        try:
            cold, cold_errors = fetch_all(base, sid, picked, args.clients)
            cached, cached_errors = fetch_all(base, sid, picked, args.clients)
            one, one_errors = fetch_all(base, sid, picked[: min(50, len(picked))], 1)
            health, health_errors = fetch_all(base, sid, picked[: min(50, len(picked))], 1, "/healthz")
        finally:
            process.terminate()
            process.wait(10)

    rows = [("read_region (baseline)", raw, 0), (f"cold, {args.clients} clients", cold, cold_errors),
            (f"cached, {args.clients} clients", cached, cached_errors), ("cached, 1 client", one, one_errors),
            ("/healthz, 1 client (floor)", health, health_errors)]
    print(f"viewer tiles: {args.size} x {args.size} px slide, {len(picked)} random tiles of the 3 finest "
          f"Deep Zoom levels ({TILE_SIZE} + 2 x {OVERLAP} px)")
    print(f"{'':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'errors':>7s}")
    for name, times, errors in rows:
        p50, p95 = percentiles(times)
        print(f"{name:28s} {p50:8.2f} {p95:8.2f} {errors:7d}")
    base50 = percentiles(raw)[0]
    print(f"ratio p50 cold / read_region   = {percentiles(cold)[0] / base50:.2f}")
    print(f"ratio p50 cached / read_region = {percentiles(cached)[0] / base50:.2f}")
    print(f"ratio p50 cold / cached        = {percentiles(cold)[0] / percentiles(cached)[0]:.2f}")
    if cold_errors or cached_errors or one_errors or health_errors:
        raise SystemExit("tile requests failed")


if __name__ == "__main__":
    main()
