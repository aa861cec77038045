"""The tiled-inference loop every slide analysis shares: read tiles ahead, run the model on batches.

Patch classification (`score-wsi`), tissue segmentation and cell detection all do the same thing over
a slide: read many square level-0 regions, resized to a model's input size, and run a network on
batches of them. Done one after the other, reading and computing never overlap, so a slide takes
read time + compute time. Here reading runs on `readers` background threads, `ahead` batches in
front of the consumer, while the model computes the current batch: a slide then takes about the
longer of the two (openslide's decoding, Pillow's resizing and torch's kernels all release the GIL,
so threads overlap without the pickling and start-up costs of loader processes).

- `read_batches` yields `(indices, tiles)` in order: `tiles` is an (n, H, W, 3) uint8 array of the
  regions `origins[indices]`. Memory is bounded by (ahead + readers) batches, whatever the slide size.
- `run_batches` sends each batch to the device, normalises it, runs the model (mixed precision on CUDA
  only; on CUDA one fixed input shape so the last short batch does not cost new kernel set-up) and yields
  `(indices, output)` with the output as a float32 CPU tensor; the caller places the outputs
  (a probability per patch, a stitched mask, cell centres).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from radpath.pathology.slides import SlideInfo, open_slide, read_patch


class _SlideHandles:
    """One open slide per reader thread (opened lazily), all closed together."""

    def __init__(self, info: SlideInfo, case_id: str):
        self.info, self.case_id = info, case_id
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def get(self) -> Any:
        slide = getattr(self._local, "slide", None)
        if slide is None:
            slide, _ = open_slide(self.info.path, self.case_id, self.info.mpp)
            self._local.slide = slide
            with self._lock:
                self._opened.append(slide)
        return slide

    def close(self) -> None:
        with self._lock:
            for slide in self._opened:
                slide.close()
            self._opened.clear()


def read_batches(
    info: SlideInfo, origins: np.ndarray, size0: int, out_px: int, case_id: str, *,
    batch: int = 64, readers: int = 1, ahead: int = 2, via_px: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (indices, tiles) for the square level-0 regions at `origins` ((N, 2) x, y) of side `size0`.

    Tiles are `out_px` x `out_px` RGB uint8 (glass where a region leaves the slide). With `readers` = 0
    every batch is read when asked for (no background thread), which is the baseline the benchmark
    compares against. `via_px`: resample each region to that size first (see `slides.read_patch`).
    """
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    starts = range(0, len(origins), max(1, batch))
    handles = _SlideHandles(info, case_id)

    def read(start: int) -> tuple[np.ndarray, np.ndarray]:
        slide = handles.get()
        index = np.arange(start, min(start + batch, len(origins)))
        tiles = np.empty((len(index), out_px, out_px, 3), np.uint8)
        for k, i in enumerate(index):
            x0, y0 = origins[i]
            tiles[k] = read_patch(slide, info, int(x0), int(y0), size0, out_px, case_id, via_px=via_px)
        return index, tiles

    try:
        if readers <= 0:
            for start in starts:
                yield read(start)
            return
        with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="radpath-tiles") as pool:
            pending: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
            queue = iter(starts)
            for start in queue:
                pending.append(pool.submit(read, start))
                if len(pending) >= ahead + readers:
                    break
            try:
                while pending:
                    done = pending.popleft().result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.append(pool.submit(read, nxt))
                    yield done
            finally:
                for future in pending:
                    future.cancel()
    finally:
        handles.close()


def run_batches(
    model: Callable[[Any], Any], batches: Iterator[tuple[np.ndarray, np.ndarray]], *,
    mean: Sequence[float], std: Sequence[float], device: str = "cpu", batch: int | None = None,
    channels_last: bool = False,
) -> Iterator[tuple[np.ndarray, Any]]:
    """Run `model` on each batch of uint8 tiles (scaled to [0, 1], then (x - mean) / std per channel).

    Yields (indices, output) with output a float32 CPU tensor of the batch's rows. When `batch` is given and
    the device is CUDA, a shorter batch is padded with zeros to that many rows (one input shape for the whole
    slide: a new shape costs CUDA kernel selection); on the CPU the padding would cost whole forward passes
    (96 rows for 71 patches at batch 32), so a short batch runs as it is. `channels_last`: hand the model
    NHWC memory (the tiles' own layout, so no transposing copy) for a network prepared that way.
    """
    import torch

    cuda = device.startswith("cuda")
    mean_t = torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(list(std), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    with torch.inference_mode():
        for index, tiles in batches:
            n = len(index)
            if channels_last:   # an NCHW view of the NHWC tiles: channels-last memory as it is
                x = torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2)
            else:
                x = torch.from_numpy(np.ascontiguousarray(tiles.transpose(0, 3, 1, 2)))  # NCHW for small networks
            if cuda and batch is not None and n < batch:
                x = torch.cat([x, x.new_zeros((batch - n, *x.shape[1:]))])
            if cuda:
                x = x.pin_memory()
            x = x.to(device, non_blocking=True).float().div_(255.0)
            with torch.autocast("cuda", enabled=cuda):
                out = model((x - mean_t) / std_t)
            yield index, out[:n].float().cpu()
