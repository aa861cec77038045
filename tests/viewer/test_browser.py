"""The viewer in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright through its
executable path) against uvicorn on a free loopback port, on the tiny study of conftest.py.

Skipped when no `chromium` is on PATH, unless RADPATH_REQUIRE_BROWSER=1 (set by `make test`, whose `browser`
target installs it). Screenshots go to $RADPATH_SCREENSHOTS when set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ViewerStudy

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RADPATH_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(live_server: str) -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("RADPATH_REQUIRE_BROWSER") == "1":
            pytest.fail("RADPATH_REQUIRE_BROWSER=1 but no chromium on PATH: run `make browser`")
        pytest.skip("no chromium on PATH (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def _center(page: Any) -> tuple[float, float]:
    point = page.evaluate("() => { const c = window.radpathViewer.viewport.getCenter(true); return [c.x, c.y]; }")
    return float(point[0]), float(point[1])


def test_browse_study(page: Any, live_server: str, study: ViewerStudy, shots: Path) -> None:
    console_errors: list[str] = []
    failed: list[str] = []
    bad_status: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("response", lambda r: bad_status.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    # search by patient id from the header, then cohorts -> cohort page
    page.goto(live_server + "/")
    page.fill("input[name=q]", "P-003")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/patients/P-003")
    assert page.inner_text("h1") == "Patient P-003"
    page.click("a[href='/']")
    page.click("a[href='/cohorts/tcga_brca']")
    page.wait_for_url("**/cohorts/tcga_brca")
    assert page.locator("ol.flow li").count() == 2
    # sort the patients by stromal TIL %: P-002 (5 %) first, P-004 (no reading) last; again: descending
    header = page.locator("#patients thead th", has_text="stromal TIL %")
    header.click()
    first = page.locator("#patients tbody tr td:first-child")
    assert first.all_inner_texts() == ["P-002", "P-001", "P-003", "P-004"]
    header.click()
    assert first.all_inner_texts() == ["P-003", "P-001", "P-002", "P-004"]
    page.screenshot(path=str(shots / "cohort.png"), full_page=True)

    # patient page, then its slide
    page.click("#patients a[href='/patients/P-001']")
    page.wait_for_url("**/patients/P-001")
    assert "31.25 % → intermediate" in page.inner_text("body")
    page.screenshot(path=str(shots / "patient.png"), full_page=True)
    page.click(f"a[href='/slides/{study.slide_id}']")
    page.wait_for_url(f"**/slides/{study.slide_id}")

    # the slide and its three overlay layers open; the slide's tiles load
    page.wait_for_function("() => window.radpathViewer && window.radpathViewer.world.getItemCount() === 4 "
                           "&& Object.keys(window.radpathLayers).length === 3", timeout=20000)
    page.wait_for_function("() => window.radpathViewer.world.getItemAt(0).getFullyLoaded()", timeout=20000)
    home = _center(page)
    zoom0 = page.evaluate("() => window.radpathViewer.viewport.getZoom(true)")

    # zoom with the mouse wheel, pan by dragging
    box = page.locator("#osd").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    for _ in range(5):   # OpenSeadragon zooms x1.2 per wheel event
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(150)
    page.wait_for_timeout(800)
    zoom1 = page.evaluate("() => window.radpathViewer.viewport.getZoom(true)")
    assert zoom1 > zoom0 * 1.5
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 200, cy - 120, steps=10)
    page.mouse.up()
    page.wait_for_timeout(800)
    panned = _center(page)
    assert panned[0] > home[0] + 0.01 and panned[1] > home[1] + 0.005     # dragged left/up: view moved right/down

    # overlays toggle and fade
    opacity = "(name) => window.radpathLayers[name].getOpacity()"
    assert page.evaluate(opacity, "tumor_til") == 0
    page.check("#toggle-tumor_til")
    assert page.evaluate(opacity, "tumor_til") == pytest.approx(0.5)
    page.locator("#fade-tumor_til").fill("0.9")
    assert page.evaluate(opacity, "tumor_til") == pytest.approx(0.9)
    page.check("#toggle-cells")
    page.check("#toggle-compartments")
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "slide_overlays.png"))
    page.uncheck("#toggle-compartments")
    assert page.evaluate(opacity, "compartments") == 0

    # click the low-resolution map at (3/4, 1/4): the slide is centred there (map covers the slide: 1 x 0.75)
    minimap = page.locator("#minimap").bounding_box()
    page.mouse.click(minimap["x"] + 0.75 * minimap["width"], minimap["y"] + 0.25 * minimap["height"])
    page.wait_for_timeout(800)
    moved = _center(page)
    assert moved[0] == pytest.approx(0.75, abs=0.02) and moved[1] == pytest.approx(0.25 * 0.75, abs=0.02)
    page.screenshot(path=str(shots / "slide_after_map_click.png"))

    # a tile and a 404 fetched from the page
    fetched = page.evaluate("""async (id) => {
        const ok = await fetch(`/slides/${id}_files/11/0_0.jpeg`);
        const bad = await fetch(`/slides/${id}_files/40/0_0.jpeg`);
        return [ok.status, ok.headers.get('content-type'), bad.status]; }""", study.slide_id)
    assert fetched == [200, "image/jpeg", 404]

    bad_status = [s for s in bad_status if "_files/40/0_0.jpeg" not in s]
    console_errors = [e for e in console_errors if "_files/40/0_0.jpeg" not in e and "404" not in e]
    assert failed == [] and bad_status == [] and console_errors == []
    assert all((shots / f).stat().st_size > 10_000 for f in ("cohort.png", "patient.png", "slide_overlays.png"))


def test_not_found_page_in_browser(page: Any, live_server: str, shots: Path) -> None:
    response = page.goto(live_server + "/patients/nobody")
    assert response.status == 404
    assert page.inner_text("h1") == "404: not found"
    page.screenshot(path=str(shots / "not_found.png"))
