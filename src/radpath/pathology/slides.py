"""Opening whole-slide images through openslide, with errors that name the case and the file.

Microns per pixel (µm/px) follow one rule for every command that reads slides (score-wsi, segment-wsi,
detect-cells, `pathology inspect`, the viewer): a slide's own value (openslide.mpp-x) is used whenever it
has one; a value given by the user (`--mpp`, a manifest's `slides.mpp`) only supplies it for slides that
lack it. A slide whose own value differs from a given one by more than MPP_TOLERANCE (relative to the
given value) keeps its own, and `SlideInfo.mpp_warning` says so: the stages print it and store it as the
slide's QC flag `mpp_mismatch` (radpath.pathology.qc).

A slide written by radpath's synthetic study carries SYNTHETIC_MARKER at the start of its TIFF
ImageDescription (openslide property `tiff.ImageDescription`); `SlideInfo.synthetic` says whether it does,
which is how a run knows it applies a model trained on synthetic data to a non-synthetic slide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import PathologyError

MPP_TOLERANCE = 0.05                     # relative difference between a slide's own and a given mpp that warns
SYNTHETIC_MARKER = "radpath synthetic"   # start of the TIFF ImageDescription of radpath's synthetic slides
DESCRIPTION_PROPERTY = "tiff.ImageDescription"


@dataclass(frozen=True)
class SlideInfo:
    """Geometry of one slide: level dimensions (width, height), downsamples and level-0 microns per pixel."""

    path: str
    vendor: str
    dimensions: tuple[tuple[int, int], ...]
    downsamples: tuple[float, ...]
    mpp: float
    mpp_source: str   # "slide" (from its tags), "given" (--mpp / slides.mpp for a slide without), or "missing" (NaN)
    mpp_given: float | None = None    # the value the user gave, whether used or not
    synthetic: bool = False           # written by radpath's synthetic study (SYNTHETIC_MARKER)

    @property
    def width(self) -> int:
        return self.dimensions[0][0]

    @property
    def height(self) -> int:
        return self.dimensions[0][1]

    @property
    def mpp_warning(self) -> str | None:
        """A one-line warning when the slide's own mpp differs from the given one by more than MPP_TOLERANCE."""
        if self.mpp_source != "slide" or self.mpp_given is None:
            return None
        if abs(self.mpp - self.mpp_given) <= MPP_TOLERANCE * self.mpp_given:
            return None
        return (f"the slide declares {self.mpp:g} um/px, {self.mpp_given:g} was given "
                f"({100 * (self.mpp / self.mpp_given - 1):+.0f} %); the slide's own value is used")


MPP_HINT = "give --mpp or the manifest's slides.mpp"


def slide_mpp(properties: Any) -> float | None:
    """The slide's own level-0 microns per pixel (openslide.mpp-x), or None when it has none."""
    import openslide

    try:
        value = float(properties.get(openslide.PROPERTY_NAME_MPP_X, ""))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def open_slide(
    path: str | Path, case_id: str, mpp: float | None = None, *, require_mpp: bool = True
) -> tuple[Any, SlideInfo]:
    """Open `path` with openslide. `mpp` supplies the level-0 microns per pixel of a slide without its own (a
    slide's own value always wins; see the module docstring). A slide without mpp is an error unless one is
    given or `require_mpp` is False (inspecting): then `info.mpp` is NaN, source 'missing'."""
    import openslide

    path = Path(path)
    if not path.is_file():
        raise PathologyError(case_id, "slide file does not exist", file=str(path))
    if mpp is not None and not mpp > 0:
        raise PathologyError(case_id, f"given microns per pixel must be positive, found {mpp}", file=str(path))
    try:
        slide = openslide.OpenSlide(str(path))
    except openslide.OpenSlideUnsupportedFormatError as exc:
        raise PathologyError(case_id, f"not a whole-slide image openslide can read ({exc})", file=str(path)) from exc
    except openslide.OpenSlideError as exc:
        raise PathologyError(case_id, f"slide cannot be read, truncated or corrupt? ({exc})", file=str(path)) from exc
    props = slide.properties
    own = slide_mpp(props)
    if own is not None:
        value, source = own, "slide"
        if not own > 0:
            slide.close()
            raise PathologyError(case_id, f"the slide declares microns per pixel {own}; it must be positive",
                                 file=str(path))
    elif mpp is not None:
        value, source = float(mpp), "given"
    elif require_mpp:
        slide.close()
        raise PathologyError(
            case_id, f"slide has no microns-per-pixel (openslide.mpp-x); {MPP_HINT}", file=str(path),
        )
    else:
        value, source = float("nan"), "missing"
    info = SlideInfo(
        path=str(path),
        vendor=str(props.get(openslide.PROPERTY_NAME_VENDOR, "unknown")),
        dimensions=tuple((int(w), int(h)) for w, h in slide.level_dimensions),
        downsamples=tuple(float(d) for d in slide.level_downsamples),
        mpp=float(value),
        mpp_source=source,
        mpp_given=None if mpp is None else float(mpp),
        synthetic=str(props.get(DESCRIPTION_PROPERTY, "")).startswith(SYNTHETIC_MARKER),
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


def read_thumbnail(path: str | Path, case_id: str, mpp: float | None, max_side: int) -> tuple[SlideInfo, np.ndarray]:
    """Open a slide to be analysed (failing, as `open_slide`, on one that cannot be: before any model loads), read
    its `thumbnail` and close it."""
    slide, info = open_slide(path, case_id, mpp)
    try:
        return info, thumbnail(slide, info, max_side)
    finally:
        slide.close()


def describe(path: str | Path, mpp: float | None = None) -> dict[str, Any]:
    """Vendor, levels (dimensions, downsamples), mpp (None when the slide lacks it and none is given), the µm/px
    rule's warning, whether it is synthetic, and every openslide property of a slide, for `radpath pathology
    inspect`; a slide without mpp can be described."""
    slide, info = open_slide(path, Path(path).stem, mpp, require_mpp=False)
    try:
        properties = {str(k): str(v) for k, v in sorted(slide.properties.items())}
    finally:
        slide.close()
    missing = info.mpp_source == "missing"
    return {
        "path": info.path, "vendor": info.vendor, "mpp": None if missing else info.mpp, "mpp_source": info.mpp_source,
        "mpp_given": info.mpp_given, "mpp_warning": info.mpp_warning, "synthetic": info.synthetic,
        "levels": [
            {"level": i, "width": w, "height": h, "downsample": d}
            for i, ((w, h), d) in enumerate(zip(info.dimensions, info.downsamples, strict=True))
        ],
        "properties": properties,
    }
