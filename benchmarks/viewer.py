"""Viewer tiles under concurrent load: `radpath serve` over loopback against a raw openslide `read_region`.

Renders one synthetic pyramidal slide, copies it to `--slides` files (12 by default: more than the viewer's
8 open slide handles, so handles are closed and reopened under load), registers them in a fresh warehouse,
serves the viewer on a free loopback port (`radpath serve --port 0`, in its own process) and measures:
  read_region : openslide reading a sample of the tiles' regions in this process (the baseline: no HTTP, no JPEG)
  load        : `--clients` concurrent keep-alive HTTP clients, each fetching `--tiles` random Deep Zoom tiles
                of the three finest levels of random slides (the red-team load of issue #23: 50 x 100 over 12)
  cached      : one client fetching 100 of those tiles again (served from the bounded LRU cache)
  /healthz    : one client, the floor of the HTTP stack
and prints p50/p95/p99 latency of each, the errors (non-200 answers and failed connections: must be 0),
whether the server survived the load (it died with SIGABRT in openslide when a handle was closed under a
reader), and the ratios p50(load) / p50(read_region) and p95(load) / p95(read_region).

    .venv/bin/python benchmarks/viewer.py [--size 2048] [--slides 12] [--clients 50] [--tiles 100]
"""

from __future__ import annotations

import argparse
import shutil
import signal
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

Tile = tuple[str, int, int, int]     # slide id, level, col, row


def make_study(folder: Path, size: int, n_slides: int) -> tuple[Path, list[Path]]:
    """One rendered slide copied to `n_slides` files (distinct paths: distinct viewer ids and handles)."""
    first = folder / "BENCH-01.tiff"
    section = render_section(np.random.default_rng(0), 30.0, shape=(size, size))
    write_pyramid(first, section["rgb"], mpp=0.5, levels=4)
    slides = [first]
    for i in range(2, n_slides + 1):
        slides.append(Path(shutil.copyfile(first, folder / f"BENCH-{i:02d}.tiff")))
    db = folder / "radpath.duckdb"
    with open_warehouse(db) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('bench', 'training', NULL, 'm', 'h', 'r')")
        for slide in slides:
            con.execute("INSERT INTO patient_registry VALUES ('bench', ?, true, NULL, NULL, 'r')", [slide.stem])
            con.execute("INSERT INTO pathology_slides (cohort, patient_id, slide_path, mpp, width, height, run_id) "
                        "VALUES ('bench', ?, ?, 0.5, ?, ?, 'r')", [slide.stem, str(slide), size, size])
    return db, slides


def stats(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return float("nan"), float("nan"), float("nan")
    array = np.asarray(values) * 1000
    return (float(np.percentile(array, 50)), float(np.percentile(array, 95)), float(np.percentile(array, 99)))


def serve(db: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    """`radpath serve --port 0` in its own process (client and server do not share a GIL); its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "radpath.cli.app", "serve", "--db", str(db), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    assert process.stdout is not None
    url = process.stdout.readline().split(": ", 1)[1].split()[0].rstrip("/")
    for _ in range(200):
        try:
            httpx.get(url + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return process, url


def fetch_all(base: str, chunks: list[list[Tile]], path: str = "/slides/{sid}_files/{level}/{col}_{row}.jpeg"
              ) -> tuple[list[float], int]:
    """Each chunk fetched by its own keep-alive client, all concurrently: latencies (s) and errors."""

    def run(chunk: list[Tile]) -> tuple[list[float], int]:
        times, errors = [], 0
        with httpx.Client(base_url=base, timeout=60) as client:
            try:
                client.get("/healthz")          # open the connection outside the timings
            except httpx.TransportError:
                return [], len(chunk)
            for sid, level, col, row in chunk:
                start = time.perf_counter()
                try:
                    response = client.get(path.format(sid=sid, level=level, col=col, row=row))
                    errors += response.status_code != 200
                except httpx.TransportError:    # the server is gone (or reset the connection)
                    errors += 1
                    continue
                times.append(time.perf_counter() - start)
        return times, errors

    with ThreadPoolExecutor(len(chunks)) as pool:
        results = list(pool.map(run, chunks))
    return [t for times, _ in results for t in times], sum(e for _, e in results)


def server_state(process: subprocess.Popen[str]) -> str:
    code = process.poll()
    if code is None:
        return "running"
    if code < 0:
        return f"DIED ({signal.Signals(-code).name})"
    return f"DIED (exit {code})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="side of the synthetic slides, level-0 px")
    parser.add_argument("--slides", type=int, default=12, help="slides registered (the viewer keeps 8 open)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    parser.add_argument("--tiles", type=int, default=100, help="random tiles each client fetches")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db, slides = make_study(folder, args.size, args.slides)
        ids = [slide_id(str(s)) for s in slides]
        slide = openslide.OpenSlide(str(slides[0]))
        generator = DeepZoomGenerator(slide, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False)
        top = generator.level_count - 1
        every = [(level, c, r) for level in (top - 2, top - 1, top)
                 for c in range(generator.level_tiles[level][0]) for r in range(generator.level_tiles[level][1])]
        rng = np.random.default_rng(1)
        chunks = [[(ids[int(rng.integers(len(ids)))], *every[int(rng.integers(len(every)))])
                   for _ in range(args.tiles)] for _ in range(args.clients)]

        raw = []
        for _, level, col, row in chunks[0][:200]:
            location, slide_level, size = generator.get_tile_coordinates(level, (col, row))
            start = time.perf_counter()
            slide.read_region(location, slide_level, size)
            raw.append(time.perf_counter() - start)
        slide.close()

        log = folder / "serve.log"
        process, base = serve(db, log)
        try:
            start = time.perf_counter()
            load, load_errors = fetch_all(base, chunks)
            wall = time.perf_counter() - start
            time.sleep(0.5)
            state = server_state(process)
            cached, cached_errors = fetch_all(base, [chunks[0]])
            health, health_errors = fetch_all(base, [chunks[0][:50]], "/healthz")
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        stderr = log.read_text(errors="replace").strip().splitlines()

    n = args.clients * args.tiles
    print(f"viewer tiles under load: {args.slides} slides of {args.size} x {args.size} px (the viewer keeps 8 "
          f"open), {args.clients} clients x {args.tiles} random tiles of the 3 finest Deep Zoom levels "
          f"({TILE_SIZE} + 2 x {OVERLAP} px)")
    print(f"{'':30s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    rows = [("read_region (baseline)", raw, 0), (f"load, {args.clients} clients", load, load_errors),
            ("cached, 1 client", cached, cached_errors), ("/healthz, 1 client (floor)", health, health_errors)]
    for name, times, errors in rows:
        p50, p95, p99 = stats(times)
        print(f"{name:30s} {p50:8.2f} {p95:8.2f} {p99:8.2f} {errors:7d}")
    print(f"load: {n} requests in {wall:.1f} s ({n / wall:.0f} tiles/s); server after the load: {state}")
    if state != "running" and stderr:
        print("server's last words: " + stderr[-1][:300])
    base50, base95, _ = stats(raw)
    print(f"ratio p50 load / read_region = {stats(load)[0] / base50:.2f}")
    print(f"ratio p95 load / read_region = {stats(load)[1] / base95:.2f}")
    if load_errors or cached_errors or health_errors or state != "running":
        raise SystemExit("tile requests failed or the server died")


if __name__ == "__main__":
    main()
