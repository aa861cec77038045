"""The viewer's Starlette app: pages, Deep Zoom tiles and overlays of a snapshot of the warehouse.

Addresses (a contract): `/` (cohorts and study figures), `/cohorts/{name}`, `/patients/{patient_id}`,
`/slides/{slide_id}` (viewer page), `/slides/{slide_id}.dzi`, `/slides/{slide_id}_files/{level}/{col}_{row}.jpeg`
(openslide's deep-zoom server convention), `/slides/{slide_id}/thumbnail.jpeg`,
`/slides/{slide_id}/overlays/{layer}.png` (image layers), `/slides/{slide_id}/overlays/{layer}.dzi` and
`…/overlays/{layer}_files/{level}/{col}_{row}.png` (Deep Zoom layers), `/figures`, `/figures/{name}/{i}.png`,
`/search?q=`, `/healthz` (answers `ok`) and `/static/…`. A `?v=` query names the warehouse state an overlay or
figure was drawn from (so a browser never shows one cached from an older state); it is otherwise ignored.

Every id and coordinate is checked before anything is opened; unknown ids and out-of-range tiles are
404 (an HTML page for pages, one line of text for tiles); no error body shows a file-system path. A layer
whose file cannot be read fails alone: the slide page lists it as unreadable and shows the others.
Endpoints are plain functions, which Starlette runs in its thread pool, so slow reads never block the event
loop; slide tiles found in the cache are answered on the event loop itself, and drawings (figures, MRI
montages) run on a thread of their own that no request waits on while holding a worker
(`radpath.viewer.figures`). What every response goes through is in `radpath.viewer.web`; how the warehouse is
read while stages write it, in `radpath.viewer.snapshots`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from radpath import __version__
from radpath.errors import RadpathError
from radpath.numbers import ordinal
from radpath.viewer.deepzoom import LRUBytes, SlideTiles, TileNotFound, cached
from radpath.viewer.figures import Drawings
from radpath.viewer.overlays import OVERLAY_NAMES, Overlay, OverlayNotFound, make_overlays
from radpath.viewer.snapshots import Snapshot, Snapshots
from radpath.viewer.store import PATIENT_ID, SlideRecord, Study
from radpath.viewer.web import HostGuard, SecurityHeaders, SnapshotLease, hide_paths

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
NUMBER = re.compile(r"^[0-9]{1,6}$")
TILE_CACHE = "public, max-age=86400"
DRAWN_CACHE = "public, max-age=3600"
PAGE_CACHE = "no-cache"
DATA_SUFFIXES = (".jpeg", ".png", ".dzi", ".json")
FIGURES_WAIT_S = 1.0       # the figures page waits this long for a drawing before it says "being drawn"
FIGURES_RELOAD_S = 3       # ... and reloads itself after this many seconds


@dataclass
class ViewerConfig:
    """Settings of one app: the warehouse, the address it is served on and the memory bounds of its caches."""

    db: Path
    tile_cache_mb: int = 128
    max_open_slides: int = 8
    work_dir: Path | None = None      # snapshots and drawn figures (a temporary folder by default)
    host: str = "127.0.0.1"           # the bound address: requests must name it (or localhost) as Host
    allowed_hosts: tuple[str, ...] = ()
    check_every: float = 1.0          # seconds between looks at the warehouse for a newer state


@dataclass
class State:
    snapshots: Snapshots
    slides: SlideTiles
    cache: LRUBytes
    overlays: dict[str, Overlay]
    drawings: Drawings
    folder: Any = field(default=None)    # the temporary folder the app owns (None when work_dir was given)


def _number(text: str) -> int:
    if not NUMBER.match(text):
        raise HTTPException(404, f"not a tile coordinate: {text!r}")
    return int(text)


def _state(request: Request) -> State:
    state: State = request.app.state.viewer
    return state


def _snapshot(request: Request) -> Snapshot:
    snapshot: Snapshot = request.state.snapshot
    return snapshot


def _study(request: Request) -> Study:
    return _snapshot(request).study


def _slide(request: Request, sid: str, *, need_file: bool = True) -> SlideRecord:
    record = _study(request).slide(sid)
    if record is None:
        raise HTTPException(404, f"no slide {sid!r} is registered in the warehouse")
    if need_file and not record.is_slide:
        raise HTTPException(404, f"slide {sid} was registered as an imported map without its slide file")
    return record


def _geometry(request: Request, record: SlideRecord) -> dict[str, Any]:
    try:
        return _state(request).slides.geometry(record.id, record.path)
    except (TileNotFound, RadpathError) as exc:
        raise HTTPException(404, str(exc)) from exc


def _bytes(content: bytes | str, media: str, cache: str = TILE_CACHE) -> Response:
    return Response(content, media_type=media, headers={"Cache-Control": cache})


# ---------------------------------------------------------------------------------------------- pages
def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, template, {"version": __version__, **context}, status_code=status)
    response.headers["Cache-Control"] = PAGE_CACHE
    return response


def index(request: Request) -> Response:
    study = _study(request)
    return _render(request, "index.html", cohorts=study.cohorts(), n_slides=len(study.slides))


def cohort_page(request: Request) -> Response:
    name = request.path_params["name"]
    snapshot = _snapshot(request)
    study = snapshot.study
    cohort = study.cohort(name)
    if cohort is None:
        raise HTTPException(404, f"no cohort {name!r} in the warehouse")
    if name not in snapshot.tables:
        from radpath.viewer.tables import cohort_tables

        with study.cursor() as con:
            snapshot.tables[name] = cohort_tables(con, name)
    patients = study.cohort_patients(name)
    slides = {(s.patient_id): s.id for s in study.slides.values() if s.cohort == name}
    return _render(request, "cohort.html", cohort=cohort, flow=study.inclusion_flow(name),
                   patients=patients, slides=slides, tables=snapshot.tables[name])


def patient_page(request: Request) -> Response:
    pid = request.path_params["patient_id"]
    study = _study(request)
    registry = study.patient(pid)
    if not registry:
        raise HTTPException(404, f"no patient {pid!r} in the warehouse")
    sections = []
    for row in registry:
        cohort = row["cohort"]
        sections.append({
            "cohort": cohort, "registry": row, "clinical": study.clinical(cohort, pid),
            "outcomes": study.outcomes(cohort, pid), "mri": study.mri_features(cohort, pid),
            "til": study.til(cohort, pid),
            "pathology": [(stage, list(rows)) for stage, rows in
                          itertools.groupby(study.pathology_features(cohort, pid), key=lambda r: r["stage"])],
            "genomics": study.genomics(cohort, pid),
            "predictions": study.predictions(cohort, pid), "slides": study.patient_slides(cohort, pid),
            "has_mri": study.has_mri(cohort, pid),
        })
    return _render(request, "patient.html", patient_id=pid, sections=sections)


async def mri_montage(request: Request) -> Response:
    pid, cohort = request.path_params["patient_id"], request.path_params["cohort"]
    study = _study(request)
    manifest = await run_in_threadpool(
        lambda: study.manifest(cohort) if PATIENT_ID.match(pid) and study.cohort(cohort) else None)
    if manifest is None or not await run_in_threadpool(study.has_mri, cohort, pid):
        raise HTTPException(404, f"no MRI of patient {pid!r} in cohort {cohort!r}")
    found = await asyncio.wrap_future(_state(request).drawings.mri_montage(cohort, pid, manifest))
    if isinstance(found, str):
        raise HTTPException(404, found)
    return FileResponse(found, media_type="image/png", headers={"Cache-Control": DRAWN_CACHE})


def search(request: Request) -> Response:
    text = request.query_params.get("q", "").strip()[:128]
    found = _study(request).search(text) if text else []
    if len(found) == 1 or (found and found[0]["patient_id"] == text):
        return RedirectResponse(f"/patients/{found[0]['patient_id']}", status_code=303)
    return _render(request, "search.html", query=text, found=found)


async def figures_page(request: Request) -> Response:
    """The figures of the current warehouse state; while they are drawn (in the background, once per state)
    a page that says so and reloads itself."""
    state, snapshot = _state(request), _snapshot(request)
    future = state.drawings.figures(state.snapshots, snapshot)
    try:
        figures = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), FIGURES_WAIT_S)
    except TimeoutError:
        return _render(request, "figures.html", figures=None, reload=FIGURES_RELOAD_S)
    except Exception as exc:   # drawing failed: say why (the next warehouse state draws again)
        log.warning("drawing the figures failed: %s", exc, exc_info=not isinstance(exc, RadpathError))
        reason = str(exc) if isinstance(exc, RadpathError) else f"{type(exc).__name__} (see the server log)"
        return _render(request, "figures.html", figures=None, failed=hide_paths(reason))
    return _render(request, "figures.html", figures=figures)


def figure_file(request: Request) -> Response:
    drawings = _state(request).drawings
    figures = drawings.drawn_figures(request.query_params.get("v") or _snapshot(request).key)
    files = figures.drawn.get(request.path_params["name"], []) if figures else []
    index = _number(request.path_params["index"])
    if index >= len(files):
        raise HTTPException(404, f"no figure {request.path_params['name']!r} number {index} is drawn")
    return FileResponse(files[index], media_type="image/png", headers={"Cache-Control": DRAWN_CACHE})


def slide_page(request: Request) -> Response:
    record = _slide(request, request.path_params["slide_id"])
    geometry = _geometry(request, record)
    state, key = _state(request), _snapshot(request).key
    layers, unreadable = [], []
    for name in OVERLAY_NAMES:
        layer = state.overlays[name]
        try:
            if not layer.available(record):
                continue
            layer.check(record)
            place = layer.placement(record, geometry["mpp"], geometry["width"], geometry["height"])
            legend = layer.legend_for(record, geometry["mpp"])
        except Exception as exc:   # a corrupt or unreadable overlay file fails that layer, not the page
            log.warning("overlay %s of slide %s cannot be read: %s", name, record.id, exc)
            unreadable.append({"title": layer.title, "reason": hide_paths(str(exc))})
            continue
        suffix = "png" if layer.kind == "image" else "dzi"
        layers.append({"name": name, "title": layer.title, "kind": layer.kind, "legend": legend,
                       "url": f"/slides/{record.id}/overlays/{name}.{suffix}?v={key}",
                       "width": place.width_px / geometry["width"], "height": place.height_px / geometry["width"]})
    tumor_til = next((layer for layer in layers if layer["name"] == "tumor_til"), None)
    minimap = ({"url": tumor_til["url"], "width": tumor_til["width"], "height": tumor_til["height"]} if tumor_til
               else {"url": f"/slides/{record.id}/thumbnail.jpeg", "width": 1.0,
                     "height": geometry["height"] / geometry["width"]})
    config = {"id": record.id, "dzi": f"/slides/{record.id}.dzi", "layers": layers, "minimap": minimap,
              "mpp": geometry["mpp"], "width": geometry["width"], "height": geometry["height"]}
    return _render(request, "slide.html", slide=record, geometry=geometry, layers=layers, unreadable=unreadable,
                   config=config, name=Path(record.path).name)


# ---------------------------------------------------------------------------------------------- tiles
def slide_dzi(request: Request) -> Response:
    record = _slide(request, request.path_params["slide_id"])
    try:
        xml = _state(request).slides.dzi(record.id, record.path)
    except (TileNotFound, RadpathError) as exc:
        raise HTTPException(404, str(exc)) from exc
    return _bytes(xml, "application/xml")


async def slide_tile(request: Request) -> Response:
    """A cached tile is answered on the event loop; only a miss (read and encode) goes to the thread pool."""
    p = request.path_params
    record = _slide(request, p["slide_id"])
    level, col, row = _number(p["level"]), _number(p["col"]), _number(p["row"])
    slides = _state(request).slides
    tile = slides.cached_tile(record.id, level, col, row)
    if tile is None:
        try:
            tile = await run_in_threadpool(slides.tile, record.id, record.path, level, col, row)
        except (TileNotFound, RadpathError) as exc:
            raise HTTPException(404, str(exc)) from exc
    return _bytes(tile, "image/jpeg")


def slide_thumbnail(request: Request) -> Response:
    record = _slide(request, request.path_params["slide_id"])
    try:
        return _bytes(_state(request).slides.thumbnail(record.id, record.path), "image/jpeg")
    except (TileNotFound, RadpathError) as exc:
        raise HTTPException(404, str(exc)) from exc


def _layer(request: Request, kind: str) -> tuple[SlideRecord, Overlay]:
    record = _slide(request, request.path_params["slide_id"], need_file=kind == "dzi")
    layer = _state(request).overlays.get(request.path_params["layer"])
    if layer is None or layer.kind != kind or not layer.available(record):
        raise HTTPException(404, f"slide {record.id} has no {kind} overlay {request.path_params['layer']!r}")
    return record, layer


def _drawn(request: Request, record: SlideRecord, layer: Overlay, key: tuple[Any, ...], draw: Any) -> bytes:
    """An overlay image or tile from the cache (per warehouse state), drawn on a miss; a file that cannot be
    read is a 500 for this layer alone."""
    state = _state(request)
    try:
        return cached(state.cache, ("overlay", _snapshot(request).key, record.id, layer.name, *key), draw)
    except OverlayNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Exception as exc:
        log.warning("overlay %s of slide %s cannot be read: %s", layer.name, record.id, exc)
        raise HTTPException(500, f"the {layer.title} layer of slide {record.id} cannot be read: {exc}") from exc


def overlay_image(request: Request) -> Response:
    record, layer = _layer(request, "image")
    return _bytes(_drawn(request, record, layer, (), lambda: layer.image(record)), "image/png", DRAWN_CACHE)


def overlay_dzi(request: Request) -> Response:
    record, layer = _layer(request, "dzi")
    geometry = _geometry(request, record)
    return _bytes(layer.dzi(record, geometry["width"], geometry["height"]), "application/xml", DRAWN_CACHE)


def overlay_tile(request: Request) -> Response:
    p = request.path_params
    record, layer = _layer(request, "dzi")
    level, col, row = _number(p["level"]), _number(p["col"]), _number(p["row"])
    geometry = _geometry(request, record)
    data = _drawn(request, record, layer, (level, col, row),
                  lambda: layer.tile(record, geometry["mpp"], geometry["width"], geometry["height"], level, col, row))
    return _bytes(data, "image/png", DRAWN_CACHE)


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------------- errors
def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error (see the server log)"
    detail = hide_paths(str(detail))
    if status >= 500:
        log.error("error serving %s", request.url.path, exc_info=exc)
    if request.url.path.endswith(DATA_SUFFIXES):
        return PlainTextResponse(f"{status}: {detail}\n", status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {"status": status, "detail": detail,
                                                              "version": __version__}, status_code=status)


class ViewerApp(Starlette):
    """Starlette with the security headers outside everything, the 500 page of its error middleware included."""

    def build_middleware_stack(self):  # type: ignore[no-untyped-def]
        return SecurityHeaders(super().build_middleware_stack())


def create_app(config: ViewerConfig) -> Starlette:
    """The web app on a snapshot of the warehouse `config.db` (taken when the app is created; WarehouseBusy
    while a writer has the warehouse open)."""
    folder = None if config.work_dir is not None else tempfile.TemporaryDirectory(prefix="radpath-viewer-")
    root = Path(config.work_dir) if config.work_dir is not None else Path(folder.name)   # type: ignore[union-attr]
    try:
        snapshots = Snapshots(config.db, root / "snapshots", config.check_every)
    except BaseException:
        if folder is not None:
            folder.cleanup()
        raise
    cache = LRUBytes(config.tile_cache_mb * 1024 * 1024)
    state = State(snapshots=snapshots, slides=SlideTiles(cache, config.max_open_slides), cache=cache,
                  overlays=make_overlays(), drawings=Drawings(root / "drawings"), folder=folder)

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        state.drawings.close()
        state.slides.close()
        snapshots.close()
        if folder is not None:
            folder.cleanup()

    slide = "/slides/{slide_id}"
    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/search", search),
        Route("/figures", figures_page),
        Route("/figures/{name}/{index}.png", figure_file),
        Route("/cohorts/{name}", cohort_page),
        Route("/patients/{patient_id}", patient_page),
        Route("/patients/{patient_id}/mri/{cohort}.png", mri_montage),
        Route(slide + ".dzi", slide_dzi),
        Route(slide + "_files/{level}/{col}_{row}.jpeg", slide_tile),
        Route(slide + "/thumbnail.jpeg", slide_thumbnail),
        Route(slide + "/overlays/{layer}.png", overlay_image),
        Route(slide + "/overlays/{layer}.dzi", overlay_dzi),
        Route(slide + "/overlays/{layer}_files/{level}/{col}_{row}.png", overlay_tile),
        Route(slide, slide_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(HostGuard, bound=config.host, extra=config.allowed_hosts),   # type: ignore[arg-type]
                  Middleware(SnapshotLease, snapshots=snapshots)]                          # type: ignore[arg-type]
    app = ViewerApp(routes=routes, lifespan=lifespan, middleware=middleware,
                    exception_handlers={HTTPException: _error, Exception: _error})
    app.state.viewer = state
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["ordinal"] = ordinal
    app.state.templates = templates
    return app
