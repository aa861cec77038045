"""The viewer's pages, Deep Zoom tiles and overlays against the tiny real study of conftest.py."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image
from starlette.testclient import TestClient

from radpath.viewer.app import ViewerConfig, create_app
from radpath.viewer.deepzoom import LRUBytes
from radpath.viewer.overlays import CELL_COLOURS, COMPARTMENTS, dzi_levels

from .conftest import (
    CELL_COLUMNS,
    CELLS,
    GRID,
    HEIGHT,
    MPP,
    PATCH_UM,
    SEG_COLUMNS,
    WIDTH,
    ViewerStudy,
    build_warehouse,
    viewer_client,
)


@pytest.fixture(scope="module")
def client(study: ViewerStudy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(ViewerConfig(db=study.db, work_dir=tmp_path_factory.mktemp("drawings")))
    with viewer_client(app) as test_client:
        yield test_client


def _image(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)))


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"


def test_cohorts_cohort_and_search(client: TestClient, study: ViewerStudy) -> None:
    index = client.get("/")
    assert index.status_code == 200 and 'href="/cohorts/tcga_brca"' in index.text
    page = client.get("/cohorts/tcga_brca")
    assert page.status_code == 200
    assert "has MRI" in page.text and "(1 excluded: no MRI)" in page.text   # inclusion flow, stored reason
    for pid in ("P-001", "P-002", "P-003", "P-004"):
        assert f'href="/patients/{pid}"' in page.text
    assert f'href="/slides/{study.slide_id}"' in page.text
    assert 'class="sortable"' in page.text and "Table 1. Feature definitions" in page.text
    found = client.get("/search", params={"q": "p-00"})
    assert found.status_code == 200 and found.text.count('href="/patients/P-00') == 4
    exact = client.get("/search", params={"q": "P-003"}, follow_redirects=False)
    assert exact.status_code == 303 and exact.headers["location"] == "/patients/P-003"
    assert "no patient id contains" in client.get("/search", params={"q": "%_"}).text   # LIKE wildcards are literal


def test_patient_page(client: TestClient, study: ViewerStudy) -> None:
    page = client.get("/patients/P-001")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "TNBC" in text and "1234 days, event" in text
    assert "35 (intermediate, 1 reading)" in text           # pathologist reading
    assert "27.5" in text                                     # WSI TIL score
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    assert "31.25 % → intermediate survival group" in plain   # model prediction; composite was survival-validated
    assert "mri_signature v2 12 % → intermediate" in plain and "8 % → low" not in plain   # newest version only
    assert "42.5" in text and "1.75" in text                  # CYT, TMB
    assert f'href="/slides/{study.slide_id}"' in text
    # FTV 12.5 lies between 3.0 and 30.0: percent_rank 0.5 in the cohort; SER_mean 1.1 likewise
    assert text.count("50th (3)") == 2
    # P-003 holds the largest FTV and SER: 100th percentile
    assert re.sub(r"\s+", " ", client.get("/patients/P-003").text).count("100th (3)") == 2


@pytest.mark.parametrize("url", [
    "/patients/nobody", "/patients/..%2F..%2Fetc%2Fpasswd", "/patients/%00", "/cohorts/none",
    "/cohorts/..%2Fsecret", "/slides/0123456789abcdef", "/slides/..%2F..%2Fetc%2Fpasswd", "/slides/xyz",
])
def test_unknown_ids_are_404_pages(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>404: not found</h1>" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("url", [
    "/patients/P-001/mri/tcga_brca.png", "/patients/P-001/mri/..%2F..%2Fx.png", "/figures/nothing/0.png",
    "/slides/0123456789abcdef.dzi", "/slides/0123456789abcdef_files/0/0_0.jpeg", "/slides/..%2Fx.dzi",
])
def test_unknown_images_are_404_text(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain") and response.text.startswith("404: ")


def test_dzi_and_tiles_match_openslide(client: TestClient, study: ViewerStudy) -> None:
    dzi = client.get(f"/slides/{study.slide_id}.dzi")
    assert dzi.status_code == 200 and dzi.headers["content-type"].startswith("application/xml")
    assert f'Width="{WIDTH}"' in dzi.text and f'Height="{HEIGHT}"' in dzi.text and 'TileSize="254"' in dzi.text
    slide = openslide.OpenSlide(str(study.slide))
    generator = DeepZoomGenerator(slide, tile_size=254, overlap=1, limit_bounds=False)
    top = generator.level_count - 1
    assert top == 11                                           # ceil(log2(1600)) + 1 levels
    for level, col, row in ((top, 0, 0), (top, 6, 4), (top - 2, 1, 0), (0, 0, 0)):
        response = client.get(f"/slides/{study.slide_id}_files/{level}/{col}_{row}.jpeg")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert "max-age" in response.headers["cache-control"]
        served = _image(response.content).astype(float)
        expected = np.asarray(generator.get_tile(level, (col, row)).convert("RGB")).astype(float)
        assert served.shape == expected.shape
        assert np.abs(served - expected).mean() < 4.0           # JPEG quality 75 of the same pixels
    slide.close()


def test_tiles_are_cached(client: TestClient, study: ViewerStudy) -> None:
    cache = client.app.state.viewer.cache   # type: ignore[attr-defined]
    url = f"/slides/{study.slide_id}_files/10/1_1.jpeg"
    first = client.get(url).content
    hits = cache.hits
    assert client.get(url).content == first
    assert cache.hits == hits + 1


@pytest.mark.parametrize("tail", [
    "_files/12/0_0.jpeg", "_files/99999/0_0.jpeg", "_files/11/7_0.jpeg", "_files/11/0_5.jpeg",
    "_files/11/a_0.jpeg", "_files/-1/0_0.jpeg", "_files/11/0_0_0.jpeg", "_files/" + "9" * 5000 + "/0_0.jpeg",
    "_files/11/0_0.png", "_files/11/0_0.jpeg/../../../../etc/passwd",
])
def test_bad_tile_addresses(client: TestClient, study: ViewerStudy, tail: str) -> None:
    response = client.get(f"/slides/{study.slide_id}{tail}")
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text


def test_registered_slide_whose_file_is_gone(client: TestClient, study: ViewerStudy) -> None:
    page = client.get(f"/slides/{study.missing_id}")
    assert page.status_code == 404 and "slide file does not exist" in page.text
    assert client.get(f"/slides/{study.missing_id}_files/0/0_0.jpeg").status_code == 404


def test_slide_page_lists_layers(client: TestClient, study: ViewerStudy) -> None:
    page = client.get(f"/slides/{study.slide_id}")
    assert page.status_code == 200
    for name in ("tumor_til", "compartments", "cells"):
        assert f'id="toggle-{name}"' in page.text
    assert "/static/vendor/openseadragon/openseadragon.min.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    # the Tumour-TIL grid is 16 patches of 100 px: exactly the slide's width, 12/16 of it high
    assert '"width": 1.0' in page.text and '"height": 0.75' in page.text


def test_tumor_til_overlay(client: TestClient, study: ViewerStudy) -> None:
    response = client.get(f"/slides/{study.slide_id}/overlays/tumor_til.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = _image(response.content)
    k = 1024 // max(GRID)                                          # each patch enlarged to k x k pixels
    assert k == 64 and rgba.shape == (GRID[0] * k, GRID[1] * k, 4)
    assert (rgba == np.repeat(np.repeat(rgba[::k, ::k], k, 0), k, 1)).all()
    rgba = rgba[::k, ::k]
    tissue = study.rgb_map[..., 2] == 255
    assert (rgba[..., 3] == np.where(tissue, 255, 0)).all()           # glass transparent
    # drawn in the shared palette at the default thresholds: tumour yellow, TIL-positive red, other tissue grey
    from radpath.palettes import TUMOR_TIL

    lymph, tumour = study.rgb_map[..., 0] / 255, study.rgb_map[..., 1] / 255
    expected = np.where(lymph >= 0.5, 3, np.where(tumour >= 0.5, 2, 1))
    for label in (1, 2, 3):
        where = tissue & (expected == label)
        assert (rgba[..., :3][where] == TUMOR_TIL.colour(label)).all()
    assert GRID[1] * PATCH_UM / MPP == WIDTH


def test_compartments_overlay(client: TestClient, study: ViewerStudy) -> None:
    rgba = _image(client.get(f"/slides/{study.slide_id}/overlays/compartments.png").content)
    assert rgba.shape == (*study.labels.shape, 4)
    for (y, x) in ((50, 50), (50, 300), (200, 50), (200, 300), (5, 5)):
        assert tuple(rgba[y, x]) == COMPARTMENTS[int(study.labels[y, x])][1]


def test_cells_overlay_tiles(client: TestClient, study: ViewerStudy) -> None:
    dzi = client.get(f"/slides/{study.slide_id}/overlays/cells.dzi")
    assert dzi.status_code == 200 and f'Width="{WIDTH}"' in dzi.text
    top = dzi_levels(WIDTH, HEIGHT) - 1
    assert top == 11
    for x, y, cls in CELLS:
        col, row = int(x // 256), int(y // 256)
        tile = _image(client.get(f"/slides/{study.slide_id}/overlays/cells_files/{top}/{col}_{row}.png").content)
        assert tuple(tile[int(y - row * 256), int(x - col * 256)]) == CELL_COLOURS[cls]
    # tile (3, 3) at full resolution holds no cell: all transparent
    empty = _image(client.get(f"/slides/{study.slide_id}/overlays/cells_files/{top}/3_3.png").content)
    assert empty.shape == (256, 256, 4) and not empty[..., 3].any()
    # one level down the lymphocyte at (200, 300) is at (100, 150)
    half = _image(client.get(f"/slides/{study.slide_id}/overlays/cells_files/{top - 1}/0_0.png").content)
    assert tuple(half[150, 100]) == CELL_COLOURS["lymphocyte"]
    assert client.get(f"/slides/{study.slide_id}/overlays/cells_files/{top + 1}/0_0.png").status_code == 404
    assert client.get(f"/slides/{study.slide_id}/overlays/cells_files/{top}/7_0.png").status_code == 404
    assert client.get(f"/slides/{study.slide_id}/overlays/nothing.png").status_code == 404
    assert client.get(f"/slides/{study.slide_id}/overlays/cells.png").status_code == 404   # a dzi layer


def test_no_writes(study: ViewerStudy, tmp_path: Path) -> None:
    """Serving every kind of page leaves the warehouse file byte for byte as it was."""
    before = hashlib.sha256(study.db.read_bytes()).hexdigest()
    app = create_app(ViewerConfig(db=study.db, work_dir=tmp_path))
    with viewer_client(app) as c:
        for url in ("/", "/cohorts/tcga_brca", "/patients/P-001", f"/slides/{study.slide_id}",
                    f"/slides/{study.slide_id}_files/11/0_0.jpeg", "/search?q=P"):
            assert c.get(url).status_code in (200, 303)
    assert hashlib.sha256(study.db.read_bytes()).hexdigest() == before
    assert not list(study.db.parent.glob("*.wal"))


def test_warehouse_without_slides_or_stage_tables(tmp_path: Path) -> None:
    bare = build_warehouse(tmp_path / "bare", with_slides=False, with_stage_tables=False)
    with viewer_client(create_app(ViewerConfig(db=bare.db, work_dir=tmp_path))) as c:
        index = c.get("/")
        assert index.status_code == 200 and "0 slides registered" in index.text
        assert c.get("/cohorts/tcga_brca").status_code == 200
        patient = c.get("/patients/P-001")
        assert patient.status_code == 200 and "no slide registered" in patient.text
        assert c.get(f"/slides/{bare.slide_id}").status_code == 404
        assert c.get(f"/slides/{bare.slide_id}.dzi").status_code == 404


def test_slide_without_stage_tables_has_only_the_til_map(tmp_path: Path) -> None:
    partial = build_warehouse(tmp_path / "partial", with_stage_tables=False)
    with viewer_client(create_app(ViewerConfig(db=partial.db, work_dir=tmp_path))) as c:
        page = c.get(f"/slides/{partial.slide_id}")
        assert page.status_code == 200 and 'id="toggle-tumor_til"' in page.text
        assert 'id="toggle-compartments"' not in page.text and 'id="toggle-cells"' not in page.text


def test_lru_is_bounded() -> None:
    cache = LRUBytes(max_bytes=100)
    for key in range(10):
        cache.put(key, bytes(30))
    assert cache.size <= 100 and len(cache) == 3
    assert cache.get(9) is not None and cache.get(0) is None
    cache.put("big", bytes(101))                 # larger than the whole cache: not kept
    assert cache.get("big") is None and cache.size <= 100


def figures_when_drawn(client: TestClient, deadline_s: float = 300.0) -> str:
    """The figures page once its figures are drawn (it says they are being drawn until then)."""
    import time

    end = time.monotonic() + deadline_s
    while True:
        page = client.get("/figures")
        assert page.status_code == 200
        if 'id="drawing"' not in page.text or time.monotonic() > end:
            return page.text
        time.sleep(0.2)


def test_figures_page_draws_what_the_warehouse_allows(client: TestClient) -> None:
    text = figures_when_drawn(client)
    found = re.search(r'src="(/figures/feature_heatmap/0.png\?v=[0-9a-f]{12})"', text)
    assert found                                                         # MRI features and TIL readings exist
    assert "no associations stored" in text                              # `radpath associate` has not run
    png = client.get(found.group(1))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/figures/feature_heatmap/1.png").status_code == 404


def test_segmented_slide_without_til_scoring(tmp_path: Path) -> None:
    """A slide only `seg_slides` registers is served with its compartments; a cell file of a field of view of
    the same patient is not drawn on it (stage tables join slides by path, not by patient)."""
    from radpath.warehouse import open_warehouse

    seg_only = build_warehouse(tmp_path / "seg", with_slides=False)
    with open_warehouse(seg_only.db) as con:
        con.execute(f"INSERT INTO seg_slides ({SEG_COLUMNS}) VALUES ('tcga_brca', 'P-001', ?, ?, NULL, 2.0, 'r')",
                    [str(seg_only.slide), str(seg_only.slide.parent / "mask.tiff")])
        con.execute(f"INSERT INTO cell_files ({CELL_COLUMNS}) VALUES ('tcga_brca', 'P-001', ?, ?, 5, 0.5, 'r')",
                    [str(seg_only.slide.parent / "fov-1.png"), str(seg_only.slide.parent / "cells" / "cells.parquet")])
    with viewer_client(create_app(ViewerConfig(db=seg_only.db, work_dir=tmp_path))) as c:
        page = c.get(f"/slides/{seg_only.slide_id}")
        assert page.status_code == 200 and 'id="toggle-compartments"' in page.text
        assert 'id="toggle-tumor_til"' not in page.text and 'id="toggle-cells"' not in page.text
        assert f"/slides/{seg_only.slide_id}/thumbnail.jpeg" in page.text          # the small map is the thumbnail
        assert c.get(f"/slides/{seg_only.slide_id}/thumbnail.jpeg").content.startswith(b"\xff\xd8")
        assert f'href="/slides/{seg_only.slide_id}"' in c.get("/patients/P-001").text


def test_text_is_escaped(client: TestClient) -> None:
    page = client.get("/search", params={"q": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_bug_is_a_500_page_without_traceback(study: ViewerStudy, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from radpath.viewer.store import Study

    def broken(self: Study) -> list[dict[str, object]]:
        raise ValueError("secret internals")

    monkeypatch.setattr(Study, "cohorts", broken)
    with viewer_client(create_app(ViewerConfig(db=study.db, work_dir=tmp_path))) as c:
        response = c.get("/")
    assert response.status_code == 500
    assert "internal error" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text
    from radpath.viewer.web import CSP  # the 500 page too carries the security headers

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == CSP


def test_cells_as_pixels_when_a_tile_holds_many(study: ViewerStudy, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from radpath.viewer import overlays

    monkeypatch.setattr(overlays, "MAX_DISCS", 0)
    with viewer_client(create_app(ViewerConfig(db=study.db, work_dir=tmp_path))) as c:
        top = dzi_levels(WIDTH, HEIGHT) - 1
        tile = _image(c.get(f"/slides/{study.slide_id}/overlays/cells_files/{top - 2}/0_0.png").content)
    assert tile.shape == (HEIGHT // 4 if HEIGHT // 4 < 256 else 256, 256, 4)
    drawn = {(int(x // 4), int(y // 4)): cls for x, y, cls in CELLS if x < 1024 and y < 1024}
    for (px, py), cls in drawn.items():
        assert tuple(tile[py, px]) == CELL_COLOURS[cls]
    assert int((tile[..., 3] > 0).sum()) == len(drawn)         # one pixel per cell, nothing else
