"""Deep Zoom tiles of registered slides (openslide's DeepZoomGenerator) behind bounded LRU caches.

Two caches bound the memory: at most `max_slides` open slides (an openslide handle and its generator)
and at most `max_bytes` of encoded tiles. Tile requests are validated against the generator's levels
and tile counts before anything is read; a bad level, column or row is `TileNotFound` (a 404).
openslide handles are safe to share between threads, so tiles of one slide are read concurrently.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from radpath.errors import PathologyError
from radpath.pathology.slides import open_slide

TILE_SIZE = 254     # openslide's deep-zoom server default: 254 + 2 x 1 overlap = 256 px tiles
OVERLAP = 1
JPEG_QUALITY = 75


class TileNotFound(LookupError):
    """A tile address outside the slide's pyramid (or a slide that cannot be opened)."""


class LRUBytes:
    """A thread-safe LRU cache of byte strings bounded by their total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Any, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


def cached(cache: LRUBytes, key: Any, make: Callable[[], bytes]) -> bytes:
    value = cache.get(key)
    if value is None:
        value = make()
        cache.put(key, value)
    return value


@dataclass
class OpenSlide:
    slide: Any
    generator: Any
    mpp: float | None


class SlideTiles:
    """Deep Zoom descriptors and JPEG tiles of slides given by (id, path), with bounded caches."""

    def __init__(self, tiles: LRUBytes, max_slides: int = 8):
        self.tiles = tiles
        self.max_slides = max_slides
        self._open: OrderedDict[str, OpenSlide] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, sid: str, path: str) -> OpenSlide:
        with self._lock:
            found = self._open.get(sid)
            if found is not None:
                self._open.move_to_end(sid)
                return found
        from openslide.deepzoom import DeepZoomGenerator

        try:
            slide, info = open_slide(path, sid, mpp=None)
            mpp: float | None = info.mpp
        except PathologyError as exc:
            if "microns-per-pixel" not in str(exc):
                raise TileNotFound(str(exc)) from exc
            slide, info = open_slide(path, sid, mpp=1.0)   # geometry without a scale bar
            mpp = None
        opened = OpenSlide(slide, DeepZoomGenerator(slide, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False),
                           mpp)
        with self._lock:
            raced = self._open.get(sid)
            if raced is not None:   # another thread opened it meanwhile: keep one handle
                slide.close()
                return raced
            self._open[sid] = opened
            while len(self._open) > self.max_slides:
                _, old = self._open.popitem(last=False)
                old.slide.close()
        return opened

    def dzi(self, sid: str, path: str) -> str:
        return str(self._get(sid, path).generator.get_dzi("jpeg"))

    def geometry(self, sid: str, path: str) -> dict[str, Any]:
        opened = self._get(sid, path)
        width, height = opened.generator.level_dimensions[-1]
        return {"width": int(width), "height": int(height), "levels": int(opened.generator.level_count),
                "mpp": opened.mpp}

    def cached_tile(self, sid: str, level: int, col: int, row: int) -> bytes | None:
        """The tile's JPEG when it is in the cache (a cached address was validated when it was made)."""
        return self.tiles.get(("slide", sid, level, col, row))

    def tile(self, sid: str, path: str, level: int, col: int, row: int) -> bytes:
        """The JPEG of tile (col, row) of Deep Zoom level `level`; TileNotFound outside the pyramid."""
        generator = self._get(sid, path).generator
        if not 0 <= level < generator.level_count:
            raise TileNotFound(f"slide {sid} has Deep Zoom levels 0-{generator.level_count - 1}, not {level}")
        cols, rows = generator.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise TileNotFound(f"slide {sid} level {level} has {cols} x {rows} tiles, no tile {col}_{row}")

        def encode() -> bytes:
            image = generator.get_tile(level, (col, row))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue()

        return cached(self.tiles, ("slide", sid, level, col, row), encode)

    def thumbnail(self, sid: str, path: str, max_side: int = 512) -> bytes:
        def encode() -> bytes:
            image = self._get(sid, path).slide.get_thumbnail((max_side, max_side)).convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=85)
            return buffer.getvalue()

        return cached(self.tiles, ("thumbnail", sid, max_side), encode)

    def close(self) -> None:
        with self._lock:
            for opened in self._open.values():
                opened.slide.close()
            self._open.clear()
