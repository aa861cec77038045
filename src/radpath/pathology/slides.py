"""Opening whole-slide images through openslide, with errors that name the case and the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import PathologyError


@dataclass(frozen=True)
class SlideInfo:
    """Geometry of one slide: level dimensions (width, height), downsamples and level-0 microns per pixel."""

    path: str
    vendor: str
    dimensions: tuple[tuple[int, int], ...]
    downsamples: tuple[float, ...]
    mpp: float
    mpp_source: str   # "slide" (from its tags), "override", or "missing" (mpp is NaN; only describing allowed)

    @property
    def width(self) -> int:
        return self.dimensions[0][0]

    @property
    def height(self) -> int:
        return self.dimensions[0][1]


MPP_HINT = "give --mpp or the manifest's slides.mpp"


def open_slide(
    path: str | Path, case_id: str, mpp: float | None = None, *, require_mpp: bool = True
) -> tuple[Any, SlideInfo]:
    """Open `path` with openslide; `mpp` overrides (or supplies) the level-0 microns per pixel. A slide without
    mpp is an error unless `require_mpp` is False (inspecting): then `info.mpp` is NaN, source 'missing'."""
    import openslide

    path = Path(path)
    if not path.is_file():
        raise PathologyError(case_id, "slide file does not exist", file=str(path))
    try:
        slide = openslide.OpenSlide(str(path))
    except openslide.OpenSlideUnsupportedFormatError as exc:
        raise PathologyError(case_id, f"not a whole-slide image openslide can read ({exc})", file=str(path)) from exc
    except openslide.OpenSlideError as exc:
        raise PathologyError(case_id, f"slide cannot be read, truncated or corrupt? ({exc})", file=str(path)) from exc
    props = slide.properties
    source = "override"
    if mpp is None:
        try:
            mpp = float(props.get(openslide.PROPERTY_NAME_MPP_X, ""))
            source = "slide"
        except ValueError:
            if require_mpp:
                slide.close()
                raise PathologyError(
                    case_id, f"slide has no microns-per-pixel (openslide.mpp-x); {MPP_HINT}", file=str(path),
                ) from None
            mpp, source = float("nan"), "missing"
    if source != "missing" and not mpp > 0:
        slide.close()
        raise PathologyError(case_id, f"microns per pixel must be positive, found {mpp}", file=str(path))
    info = SlideInfo(
        path=str(path),
        vendor=str(props.get(openslide.PROPERTY_NAME_VENDOR, "unknown")),
        dimensions=tuple((int(w), int(h)) for w, h in slide.level_dimensions),
        downsamples=tuple(float(d) for d in slide.level_downsamples),
        mpp=float(mpp),
        mpp_source=source,
    )
    return slide, info


def best_level(info: SlideInfo, downsample: float) -> int:
    """The coarsest level whose downsample does not exceed `downsample` (read, then shrink to size)."""
    candidates = [i for i, d in enumerate(info.downsamples) if d <= downsample * 1.01]
    return max(candidates, key=lambda i: info.downsamples[i]) if candidates else 0


def read_patch(slide: Any, info: SlideInfo, x0: int, y0: int, size0: int, out_px: int, case_id: str,
               *, via_px: int | None = None) -> np.ndarray:
    """The square region at level-0 (x0, y0) of side `size0` px, as an `out_px` x `out_px` RGB uint8 array.

    With `via_px` the region is read from the level nearest to (not coarser than) `size0 / via_px`,
    resampled to `via_px` pixels, then to `out_px` (a model's patch at its declared spacing, then its
    Resize transform); both resamplings are Pillow's bilinear, as torchvision's Resize on an image.
    """
    from PIL import Image

    px = via_px or out_px
    level = best_level(info, size0 / px)
    side = max(1, int(round(size0 / info.downsamples[level])))
    try:
        region = slide.read_region((int(x0), int(y0)), level, (side, side))
    except Exception as exc:
        raise PathologyError(case_id, f"reading tile at ({x0}, {y0}) failed: {exc}", file=info.path) from exc
    # transparent pixels (outside the scanned area) read as glass
    background = Image.new("RGBA", region.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(background, region).convert("RGB")
    for side_px in (px, out_px):
        if rgb.size != (side_px, side_px):
            rgb = rgb.resize((side_px, side_px), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def thumbnail(slide: Any, info: SlideInfo, max_side: int = 1024) -> np.ndarray:
    """An RGB thumbnail (uint8) whose longer side is at most `max_side`."""
    from PIL import Image

    image = slide.get_thumbnail((max_side, max_side))
    return np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)


def describe(path: str | Path, mpp: float | None = None) -> dict[str, Any]:
    """Vendor, levels (dimensions, downsamples), mpp (None when the slide lacks it and none is given) and every
    openslide property of a slide, for `radpath pathology inspect`; a slide without mpp can be described."""
    slide, info = open_slide(path, Path(path).stem, mpp, require_mpp=False)
    try:
        properties = {str(k): str(v) for k, v in sorted(slide.properties.items())}
    finally:
        slide.close()
    missing = info.mpp_source == "missing"
    return {
        "path": info.path, "vendor": info.vendor, "mpp": None if missing else info.mpp, "mpp_source": info.mpp_source,
        "levels": [
            {"level": i, "width": w, "height": h, "downsample": d}
            for i, ((w, h), d) in enumerate(zip(info.dimensions, info.downsamples, strict=True))
        ],
        "properties": properties,
    }
