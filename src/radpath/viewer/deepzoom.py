"""Deep Zoom tiles of registered slides (openslide's DeepZoomGenerator) behind bounded LRU caches.

Two caches bound the memory: at most `max_slides` open slides (an openslide handle and its generator)
and at most `max_bytes` of encoded tiles. Tile requests are validated against the generator's levels
and tile counts before anything is read; a bad level, column or row is `TileNotFound` (a 404).
openslide handles are safe to share between threads, so tiles of one slide are read concurrently; a handle
is closed only when no request reads it (`SlideTiles.lease`).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@dataclass(eq=False)
class OpenSlide:
    """An open slide and its Deep Zoom generator, with the number of requests reading it now (`users`)."""

    slide: Any
    generator: Any
    mpp: float | None
    users: int = 0
    retired: bool = False        # evicted from the cache: closed when the last user lets go


class SlideTiles:
    """Deep Zoom descriptors and JPEG tiles of slides given by (id, path), with bounded caches.

    Every read holds a lease on its slide handle (`lease`); a handle evicted from the cache of open slides
    while requests still read it is closed by the last of them, never under a reader (openslide aborts the
    process when a handle is closed while a read is outstanding). So at most `max_slides` idle handles stay
    open, plus those evicted while still in use.
    """

    def __init__(self, tiles: LRUBytes, max_slides: int = 8):
        if max_slides < 1:
            raise ValueError(f"max_slides must be at least 1, got {max_slides}")
        self.tiles = tiles
        self.max_slides = max_slides
        self._open: OrderedDict[str, OpenSlide] = OrderedDict()
        self._opening: dict[str, threading.Lock] = {}      # one opener per slide: the others wait and share it
        self._lock = threading.Lock()

    def _take(self, sid: str) -> OpenSlide | None:
        with self._lock:
            found = self._open.get(sid)
            if found is not None:
                self._open.move_to_end(sid)
                found.users += 1
            return found

    def _acquire(self, sid: str, path: str) -> OpenSlide:
        found = self._take(sid)
        if found is not None:
            return found
        with self._lock:
            opening = self._opening.setdefault(sid, threading.Lock())
        with opening:
            found = self._take(sid)   # opened by the thread this one waited for
            if found is not None:
                return found
            opened = self._open_slide(sid, path)
            with self._lock:
                opened.users = 1
                self._open[sid] = opened
                evicted = []
                while len(self._open) > self.max_slides:
                    _, old = self._open.popitem(last=False)
                    old.retired = True
                    if old.users == 0:
                        evicted.append(old)
        for old in evicted:
            old.slide.close()
        return opened

    def _release(self, opened: OpenSlide) -> None:
        with self._lock:
            opened.users -= 1
            close = opened.retired and opened.users == 0
        if close:
            opened.slide.close()

    @contextmanager
    def lease(self, sid: str, path: str) -> Iterator[OpenSlide]:
        """The open slide `sid` (opened from `path` when not cached), kept open until the block ends."""
        opened = self._acquire(sid, path)
        try:
            yield opened
        finally:
            self._release(opened)

    @staticmethod
    def _open_slide(sid: str, path: str) -> OpenSlide:
        from openslide.deepzoom import DeepZoomGenerator

        try:
            slide, info = open_slide(path, sid, mpp=None)
            mpp: float | None = info.mpp
        except PathologyError as exc:
            if "microns-per-pixel" not in str(exc):
                raise TileNotFound(str(exc)) from exc
            slide, info = open_slide(path, sid, mpp=1.0)   # geometry without a scale bar
            mpp = None
        return OpenSlide(slide, DeepZoomGenerator(slide, tile_size=TILE_SIZE, overlap=OVERLAP, limit_bounds=False),
                         mpp)

    def dzi(self, sid: str, path: str) -> str:
        with self.lease(sid, path) as opened:
            return str(opened.generator.get_dzi("jpeg"))

    def geometry(self, sid: str, path: str) -> dict[str, Any]:
        with self.lease(sid, path) as opened:
            width, height = opened.generator.level_dimensions[-1]
        return {"width": int(width), "height": int(height), "levels": int(opened.generator.level_count),
                "mpp": opened.mpp}

    def cached_tile(self, sid: str, level: int, col: int, row: int) -> bytes | None:
        """The tile's JPEG when it is in the cache (a cached address was validated when it was made)."""
        return self.tiles.get(("slide", sid, level, col, row))

    def tile(self, sid: str, path: str, level: int, col: int, row: int) -> bytes:
        """The JPEG of tile (col, row) of Deep Zoom level `level`; TileNotFound outside the pyramid."""

        def encode() -> bytes:
            with self.lease(sid, path) as opened:
                generator = opened.generator
                if not 0 <= level < generator.level_count:
                    raise TileNotFound(f"slide {sid} has Deep Zoom levels 0-{generator.level_count - 1}, not {level}")
                cols, rows = generator.level_tiles[level]
                if not (0 <= col < cols and 0 <= row < rows):
                    raise TileNotFound(f"slide {sid} level {level} has {cols} x {rows} tiles, no tile {col}_{row}")
                image = generator.get_tile(level, (col, row))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
            return buffer.getvalue()

        return cached(self.tiles, ("slide", sid, level, col, row), encode)

    def thumbnail(self, sid: str, path: str, max_side: int = 512) -> bytes:
        def encode() -> bytes:
            with self.lease(sid, path) as opened:
                image = opened.slide.get_thumbnail((max_side, max_side)).convert("RGB")
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=85)
            return buffer.getvalue()

        return cached(self.tiles, ("thumbnail", sid, max_side), encode)

    @property
    def open_count(self) -> int:
        """Handles in the cache of open slides (those evicted but still read are not counted)."""
        with self._lock:
            return len(self._open)

    def close(self) -> None:
        """Close every idle handle now; one still being read closes when its last reader lets go."""
        with self._lock:
            idle = [opened for opened in self._open.values() if opened.users == 0]
            for opened in self._open.values():
                opened.retired = True
            self._open.clear()
        for opened in idle:
            opened.slide.close()
