"""Slide handles under concurrent tile load (#23 §2): a handle is closed only when no request reads it.

openslide aborts the whole process (`_openslide_tiffcache_destroy: assertion failed: (tc->outstanding == 0)`)
when a handle is closed while another thread reads it; the viewer's cache of open slides used to close the
least recently used handle regardless of readers, so more concurrent clients than cached slides killed
`radpath serve` with SIGABRT.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from radpath.viewer.deepzoom import LRUBytes, SlideTiles

from .conftest import ViewerStudy, add_slides, build_warehouse


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> tuple[ViewerStudy, list[str]]:
    study = build_warehouse(tmp_path_factory.mktemp("crowd"))
    return study, add_slides(study, 5)


def _paths(study: ViewerStudy, ids: list[str]) -> dict[str, str]:
    return {sid: str(study.slide.parent / f"S-{i:02d}.tiff") for i, sid in enumerate(ids, start=1)}


def test_a_handle_evicted_while_read_stays_open_until_its_reader_lets_go(crowd: tuple[ViewerStudy, list[str]]) -> None:
    study, ids = crowd
    paths = _paths(study, ids)
    slides = SlideTiles(LRUBytes(1 << 20), max_slides=1)
    a, b, c = ids[:3]
    with slides.lease(a, paths[a]) as held:
        slides.tile(b, paths[b], 11, 0, 0)           # opening b evicts a from the one-slide cache ...
        assert slides.open_count == 1 and held.retired
        region = held.slide.read_region((0, 0), 0, (64, 64))   # ... but a is still open for its reader
        assert np.asarray(region).shape == (64, 64, 4)
    with pytest.raises(Exception, match="closed"):   # the reader let go: the evicted handle is closed now
        held.slide.read_region((0, 0), 0, (8, 8))
    # b, idle when c pushes it out, is closed at once
    with slides.lease(b, paths[b]) as b_handle:
        pass
    slides.tile(c, paths[c], 11, 1, 0)
    with pytest.raises(Exception, match="closed"):
        b_handle.slide.read_region((0, 0), 0, (8, 8))
    slides.close()


def test_concurrent_readers_share_one_handle_per_slide(crowd: tuple[ViewerStudy, list[str]]) -> None:
    study, ids = crowd
    paths = _paths(study, ids)
    slides = SlideTiles(LRUBytes(1 << 20), max_slides=2)
    sid = ids[0]
    with ThreadPoolExecutor(8) as pool:
        handles = list(pool.map(lambda _: _hold(slides, sid, paths[sid]), range(8)))
    assert len({id(h) for h in handles}) == 1          # one opener, the others waited and shared it
    slides.close()


def _hold(slides: SlideTiles, sid: str, path: str) -> object:
    with slides.lease(sid, path) as opened:
        time.sleep(0.05)
        return opened


def test_server_stays_up_under_more_clients_than_open_slides(crowd: tuple[ViewerStudy, list[str]],
                                                           tmp_path: Path) -> None:
    """`radpath serve` keeping 2 slides open, 16 clients x 40 random tiles over 6 slides (a 1 MiB tile cache,
    so most requests read the slide): every answer is a tile and the process is still alive afterwards."""
    study, ids = crowd
    ids = [study.slide_id, *ids]
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "radpath.cli.app", "serve", "--db", str(study.db), "--port", "0",
         "--max-open-slides", "2", "--tile-cache-mb", "1"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(": ", 1)[1].split()[0].rstrip("/")
        rng = np.random.default_rng(3)
        levels = {11: (7, 5), 10: (4, 3), 9: (2, 2)}         # tiles of the 3 finest levels of a 1600 x 1200 slide
        jobs = []
        for _ in range(16):
            chunk = []
            for _ in range(40):
                level = int(rng.choice(list(levels)))
                cols, rows = levels[level]
                chunk.append((ids[int(rng.integers(len(ids)))], level, int(rng.integers(cols)),
                              int(rng.integers(rows))))
            jobs.append(chunk)

        def fetch(chunk: list[tuple[str, int, int, int]]) -> list[int]:
            codes = []
            with httpx.Client(base_url=url, timeout=60, headers={"Host": "localhost"}) as client:
                for sid, level, col, row in chunk:
                    try:
                        codes.append(client.get(f"/slides/{sid}_files/{level}/{col}_{row}.jpeg").status_code)
                    except httpx.TransportError:
                        codes.append(-1)
            return codes

        for _ in range(100):
            try:
                httpx.get(url + "/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with ThreadPoolExecutor(16) as pool:
            codes = [code for result in pool.map(fetch, jobs) for code in result]
        time.sleep(0.3)
        assert process.poll() is None, f"the viewer died ({process.returncode}): {log.read_text()[-400:]}"
        assert codes.count(200) == len(codes) == 16 * 40
    finally:
        process.terminate()
        process.wait(10)
