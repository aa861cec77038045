"""The viewer's Starlette app: pages, Deep Zoom tiles and overlays of one read-only warehouse.

Addresses (a contract): `/` (cohorts and study figures), `/cohorts/{name}`, `/patients/{patient_id}`,
`/slides/{slide_id}` (viewer page), `/slides/{slide_id}.dzi`, `/slides/{slide_id}_files/{level}/{col}_{row}.jpeg`
(openslide's deep-zoom server convention), `/slides/{slide_id}/thumbnail.jpeg`,
`/slides/{slide_id}/overlays/{layer}.png` (image layers), `/slides/{slide_id}/overlays/{layer}.dzi` and
`…/overlays/{layer}_files/{level}/{col}_{row}.png` (Deep Zoom layers), `/figures`, `/search?q=`,
`/healthz` (answers `ok`) and `/static/…`.

Every id and coordinate is checked before anything is opened; unknown ids and out-of-range tiles are
404 (an HTML page for pages, one line of text for tiles). Endpoints are plain functions, which Starlette
runs in its thread pool, so slow reads never block the event loop; slide tiles found in the cache are
answered on the event loop itself.
"""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from radpath import __version__
from radpath.errors import RadpathError
from radpath.viewer.deepzoom import LRUBytes, SlideTiles, TileNotFound, cached
from radpath.viewer.figures import Drawings
from radpath.viewer.overlays import OVERLAY_NAMES, Overlay, OverlayNotFound, make_overlays
from radpath.viewer.store import PATIENT_ID, SlideRecord, Study

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
NUMBER = re.compile(r"^[0-9]{1,6}$")
TILE_CACHE = "public, max-age=86400"
PAGE_CACHE = "no-cache"
DATA_SUFFIXES = (".jpeg", ".png", ".dzi", ".json")


@dataclass
class ViewerConfig:
    """Settings of one app: the warehouse and the memory bounds of its caches."""

    db: Path
    tile_cache_mb: int = 128
    max_open_slides: int = 8
    work_dir: Path | None = None      # where drawn figures go (a temporary folder by default)


@dataclass
class State:
    study: Study
    slides: SlideTiles
    cache: LRUBytes
    overlays: dict[str, Overlay]
    drawings: Drawings
    tables: dict[str, Any] = field(default_factory=dict)


def _number(text: str) -> int:
    if not NUMBER.match(text):
        raise HTTPException(404, f"not a tile coordinate: {text!r}")
    return int(text)


def _state(request: Request) -> State:
    state: State = request.app.state.viewer
    return state


def _slide(request: Request, sid: str, *, need_file: bool = True) -> SlideRecord:
    record = _state(request).study.slide(sid)
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
def _render(request: Request, template: str, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, template, {"version": __version__, **context})
    response.headers["Cache-Control"] = PAGE_CACHE
    return response


def index(request: Request) -> Response:
    study = _state(request).study
    return _render(request, "index.html", cohorts=study.cohorts(), n_slides=len(study.slides))


def cohort_page(request: Request) -> Response:
    name = request.path_params["name"]
    state = _state(request)
    cohort = state.study.cohort(name)
    if cohort is None:
        raise HTTPException(404, f"no cohort {name!r} in the warehouse")
    if name not in state.tables:
        from radpath.viewer.tables import cohort_tables

        with state.study.cursor() as con:
            state.tables[name] = cohort_tables(con, name)
    patients = state.study.cohort_patients(name)
    slides = {(s.patient_id): s.id for s in state.study.slides.values() if s.cohort == name}
    return _render(request, "cohort.html", cohort=cohort, flow=state.study.inclusion_flow(name),
                   patients=patients, slides=slides, tables=state.tables[name])


def patient_page(request: Request) -> Response:
    pid = request.path_params["patient_id"]
    study = _state(request).study
    registry = study.patient(pid)
    if not registry:
        raise HTTPException(404, f"no patient {pid!r} in the warehouse")
    sections = []
    for row in registry:
        cohort = row["cohort"]
        sections.append({
            "cohort": cohort, "registry": row, "clinical": study.clinical(cohort, pid),
            "outcomes": study.outcomes(cohort, pid), "mri": study.mri_features(cohort, pid),
            "til": study.til(cohort, pid), "genomics": study.genomics(cohort, pid),
            "predictions": study.predictions(cohort, pid), "slides": study.patient_slides(cohort, pid),
            "has_mri": study.has_mri(cohort, pid),
        })
    return _render(request, "patient.html", patient_id=pid, sections=sections)


def mri_montage(request: Request) -> Response:
    pid, cohort = request.path_params["patient_id"], request.path_params["cohort"]
    study = _state(request).study
    manifest = study.manifest(cohort) if PATIENT_ID.match(pid) and study.cohort(cohort) else None
    if manifest is None or not study.has_mri(cohort, pid):
        raise HTTPException(404, f"no MRI of patient {pid!r} in cohort {cohort!r}")
    try:
        path = _state(request).drawings.mri_montage(cohort, pid, manifest)
    except RadpathError as exc:
        raise HTTPException(404, str(exc)) from exc
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


def search(request: Request) -> Response:
    text = request.query_params.get("q", "").strip()[:128]
    found = _state(request).study.search(text) if text else []
    if len(found) == 1 or (found and found[0]["patient_id"] == text):
        return RedirectResponse(f"/patients/{found[0]['patient_id']}", status_code=303)
    return _render(request, "search.html", query=text, found=found)


def figures_page(request: Request) -> Response:
    state = _state(request)
    with state.study.cursor() as con:
        drawn, skipped = state.drawings.figures(con)
    return _render(request, "figures.html", drawn={k: len(v) for k, v in drawn.items()}, skipped=skipped)


def figure_file(request: Request) -> Response:
    state = _state(request)
    with state.study.cursor() as con:
        drawn, _ = state.drawings.figures(con)
    files = drawn.get(request.path_params["name"], [])
    index = _number(request.path_params["index"])
    if index >= len(files):
        raise HTTPException(404, f"no figure {request.path_params['name']!r} number {index}")
    return FileResponse(files[index], media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


def slide_page(request: Request) -> Response:
    record = _slide(request, request.path_params["slide_id"])
    geometry = _geometry(request, record)
    state = _state(request)
    layers = []
    for name in OVERLAY_NAMES:
        layer = state.overlays[name]
        if not layer.available(record):
            continue
        place = layer.placement(record, geometry["mpp"], geometry["width"], geometry["height"])
        suffix = "png" if layer.kind == "image" else "dzi"
        layers.append({"name": name, "title": layer.title, "kind": layer.kind, "legend": layer.legend,
                       "url": f"/slides/{record.id}/overlays/{name}.{suffix}",
                       "width": place.width_px / geometry["width"], "height": place.height_px / geometry["width"]})
    tumor_til = next((layer for layer in layers if layer["name"] == "tumor_til"), None)
    minimap = ({"url": tumor_til["url"], "width": tumor_til["width"], "height": tumor_til["height"]} if tumor_til
               else {"url": f"/slides/{record.id}/thumbnail.jpeg", "width": 1.0,
                     "height": geometry["height"] / geometry["width"]})
    config = {"id": record.id, "dzi": f"/slides/{record.id}.dzi", "layers": layers, "minimap": minimap,
              "mpp": geometry["mpp"], "width": geometry["width"], "height": geometry["height"]}
    return _render(request, "slide.html", slide=record, geometry=geometry, layers=layers, config=config,
                   name=Path(record.path).name)


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


def overlay_image(request: Request) -> Response:
    record, layer = _layer(request, "image")
    state = _state(request)
    data = cached(state.cache, ("overlay", record.id, layer.name), lambda: layer.image(record))
    return _bytes(data, "image/png", "public, max-age=3600")


def overlay_dzi(request: Request) -> Response:
    record, layer = _layer(request, "dzi")
    geometry = _geometry(request, record)
    return _bytes(layer.dzi(record, geometry["width"], geometry["height"]), "application/xml", "public, max-age=3600")


def overlay_tile(request: Request) -> Response:
    p = request.path_params
    record, layer = _layer(request, "dzi")
    level, col, row = _number(p["level"]), _number(p["col"]), _number(p["row"])
    geometry = _geometry(request, record)
    state = _state(request)
    try:
        data = cached(state.cache, ("overlay", record.id, layer.name, level, col, row),
                      lambda: layer.tile(record, geometry["mpp"], geometry["width"], geometry["height"],
                                         level, col, row))
    except OverlayNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return _bytes(data, "image/png", "public, max-age=3600")


def healthz(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------------- errors
def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error (see the server log)"
    if status >= 500:
        log.error("error serving %s", request.url.path, exc_info=exc)
    if request.url.path.endswith(DATA_SUFFIXES):
        return PlainTextResponse(f"{status}: {detail}\n", status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {"status": status, "detail": detail,
                                                              "version": __version__}, status_code=status)


def create_app(config: ViewerConfig) -> Starlette:
    """The web app on the warehouse `config.db` (opened read-only when the app is created)."""
    study = Study(config.db)
    cache = LRUBytes(config.tile_cache_mb * 1024 * 1024)
    state = State(study=study, slides=SlideTiles(cache, config.max_open_slides), cache=cache,
                  overlays=make_overlays(), drawings=Drawings(config.work_dir))

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        state.slides.close()
        state.drawings.close()
        study.close()

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
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _error, Exception: _error})
    app.state.viewer = state
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    return app
