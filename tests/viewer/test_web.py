"""The viewer's web surface (#23 §4): Host check, security headers, no paths in errors, corrupt overlays,
idle connections and figures drawn off the request threads, once per warehouse state."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from radpath.cli.serve import network_warning
from radpath.viewer.app import ViewerConfig, create_app
from radpath.viewer.hosts import canonical_host
from radpath.viewer.web import CSP, HostGuard, hide_paths

from .conftest import ViewerStudy, build_warehouse, serving, viewer_client


@pytest.fixture(scope="module")
def client(study: ViewerStudy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with viewer_client(create_app(ViewerConfig(db=study.db, work_dir=tmp_path_factory.mktemp("web")))) as c:
        yield c


# ---------------------------------------------------------------------------------------------- Host header
@pytest.mark.parametrize(("bound", "header", "ok"), [
    ("127.0.0.1", "127.0.0.1:8000", True), ("127.0.0.1", "localhost:8000", True), ("127.0.0.1", "LOCALHOST.", True),
    ("127.0.0.1", "localhost", True), ("127.0.0.1", "evil.example:8000", False), ("127.0.0.1", "127.0.0.2:8000", False),
    ("127.0.0.1", "localhost.evil.example", False), ("127.0.0.1", "", False), ("127.0.0.1", None, False),
    ("127.1", "127.0.0.1:8000", True),                   # a browser sends 127.1 as 127.0.0.1
    ("::1", "[::1]:8000", True), ("::1", "[::2]:8000", False),
    ("0.0.0.0", "192.168.1.20:8000", True), ("0.0.0.0", "[fe80::1]:8000", True),     # any IP literal ...
    ("0.0.0.0", "attacker.example:8000", False),                                     # ... but no other name
])
def test_host_guard(bound: str, header: str | None, ok: bool) -> None:
    assert HostGuard(app=None, bound=bound).allows(header) is ok   # type: ignore[arg-type]


def test_allow_host_names_another_name() -> None:
    guard = HostGuard(app=None, bound="127.0.0.1", extra=["Workstation.Lab"])   # type: ignore[arg-type]
    assert guard.allows("workstation.lab:8000") and not guard.allows("other.lab:8000")


def test_a_foreign_host_is_refused(study: ViewerStudy, client: TestClient) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example."""
    for url in ("/", "/patients/P-001", f"/slides/{study.slide_id}_files/11/0_0.jpeg", "/static/viewer.css"):
        refused = client.get(url, headers={"Host": "evil.example:8000"})
        assert refused.status_code == 400, url
        assert "P-001" not in refused.text and "Host header" in refused.text
        assert refused.headers["content-security-policy"] == CSP
        assert client.get(url, headers={"Host": "127.0.0.1:8000"}).status_code == 200


@pytest.mark.parametrize(("host", "canonical"), [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
                                                ("0x7f.0.0.1", "127.0.0.1"), ("[::1]", "::1"),
                                                ("LocalHost.", "localhost")])
def test_canonical_host(host: str, canonical: str) -> None:
    assert canonical_host(host) == canonical


@pytest.mark.parametrize("host", ["127.1", "127.0.0.1", "localhost", "::1", "2130706433"])
def test_loopback_in_any_form_is_not_warned_about(host: str) -> None:
    assert network_warning(host) is None


# ---------------------------------------------------------------------------------------------- headers
def test_every_response_carries_the_security_headers(study: ViewerStudy, client: TestClient) -> None:
    for url, status in (("/", 200), ("/cohorts/tcga_brca", 200), ("/patients/P-001", 200),
                        (f"/slides/{study.slide_id}", 200), (f"/slides/{study.slide_id}.dzi", 200),
                        (f"/slides/{study.slide_id}_files/11/0_0.jpeg", 200),
                        (f"/slides/{study.slide_id}/overlays/tumor_til.png", 200), ("/static/viewer.css", 200),
                        ("/static/vendor/openseadragon/openseadragon.min.js", 200), ("/healthz", 200),
                        ("/patients/nobody", 404), ("/slides/0123456789abcdef_files/0/0_0.jpeg", 404),
                        ("/static/nothing.js", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        assert response.headers["x-content-type-options"] == "nosniff", url
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


# ---------------------------------------------------------------------------------------------- paths
def test_a_missing_slide_file_is_a_404_without_its_path(study: ViewerStudy, client: TestClient) -> None:
    folder = str(study.db.parent)
    for url in (f"/slides/{study.missing_id}", f"/slides/{study.missing_id}.dzi",
                f"/slides/{study.missing_id}_files/0/0_0.jpeg", f"/slides/{study.missing_id}/thumbnail.jpeg"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "slide file does not exist" in response.text and "gone.tiff" in response.text
        assert folder not in response.text and "/tmp" not in response.text, response.text


@pytest.mark.parametrize(("text", "shown"), [
    ("case x, file /data/study/slides/A-1.svs: slide file does not exist",
     "case x, file A-1.svs: slide file does not exist"),
    ("cannot read '/home/me/my study/cells.parquet' (corrupt)", "cannot read 'cells.parquet' (corrupt)"),
    (r"no such file C:\Users\me\slide.ndpi here", "no such file slide.ndpi here"),
    ("no slide '0123456789abcdef' is registered", "no slide '0123456789abcdef' is registered"),
    ("levels 0-11, not 40/2", "levels 0-11, not 40/2"),
])
def test_hide_paths(text: str, shown: str) -> None:
    assert hide_paths(text) == shown


# ---------------------------------------------------------------------------------------------- corrupt overlays
def test_a_corrupt_overlay_fails_alone(tmp_path: Path) -> None:
    broken = build_warehouse(tmp_path / "broken")
    (broken.db.parent / "tumor_til.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png" * 10)
    with viewer_client(create_app(ViewerConfig(db=broken.db, work_dir=tmp_path / "work"))) as c:
        page = c.get(f"/slides/{broken.slide_id}")
        assert page.status_code == 200
        assert 'id="toggle-compartments"' in page.text and 'id="toggle-cells"' in page.text   # the others work
        assert 'id="toggle-tumor_til"' not in page.text
        assert "Tumour–TIL map: cannot be read" in page.text and str(tmp_path) not in page.text
        assert f"/slides/{broken.slide_id}/thumbnail.jpeg" in page.text      # the small map falls back
        image = c.get(f"/slides/{broken.slide_id}/overlays/tumor_til.png")
        assert image.status_code == 500 and "cannot be read" in image.text and str(tmp_path) not in image.text
        assert c.get(f"/slides/{broken.slide_id}/overlays/compartments.png").status_code == 200
        # a truncated label mask and a cell file that is not Parquet fail their layers the same way
        mask = broken.db.parent / "mask.tiff"
        mask.write_bytes(mask.read_bytes()[:64])
        (broken.db.parent / "cells" / "cells.parquet").write_bytes(b"PAR1 garbage")
        page = c.get(f"/slides/{broken.slide_id}")
        assert page.status_code == 200 and page.text.count("cannot be read") == 3
        assert "Tissue compartments: cannot be read" in page.text and "Detected cells: cannot be read" in page.text
        assert c.get(f"/slides/{broken.slide_id}_files/11/0_0.jpeg").status_code == 200


def test_the_cell_legend_lists_the_classes_of_the_slide(study: ViewerStudy, client: TestClient) -> None:
    """The fixture's cell file holds lymphocytes, a Ki-67 positive cell, a plasma cell and another cell, but no
    Ki-67 negative one: the legend lists those four."""
    import re

    page = client.get(f"/slides/{study.slide_id}").text
    legend = page[page.index('data-layer="cells"'):]
    legend = legend[legend.index('<ul class="legend">'):legend.index("</ul>")]
    assert re.findall(r"</svg>([^<]+)</li>", legend) == ["Ki-67 positive", "lymphocyte", "plasma cell", "other"]


# ---------------------------------------------------------------------------------------------- connections
def test_idle_and_half_sent_connections_are_closed(study: ViewerStudy, tmp_path: Path) -> None:
    """Connections that send nothing, or a request head that never ends, are closed after the head deadline
    (0.5 s here); a complete request on another connection is answered meanwhile."""
    app = create_app(ViewerConfig(db=study.db, work_dir=tmp_path))
    with serving(app, head_timeout=0.5) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        partial = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for sock in partial:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        assert httpx.get(url + "/healthz", headers={"Host": "localhost"}).text == "ok"
        for sock in idle + partial:
            sock.settimeout(20)
            assert sock.recv(1024) == b""        # closed by the server (recv would block on an open one)
            sock.close()
        # a keep-alive connection that sent a whole request gets its answer
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock.settimeout(20)
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")


# ---------------------------------------------------------------------------------------------- figures
def test_drawing_the_figures_blocks_no_other_request(study: ViewerStudy, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """60 simultaneous first visits to /figures while the drawing cannot finish: each is answered at once
    ("being drawn"), and so is every other route; the figures are drawn once, and again only when the
    warehouse changes."""
    import radpath.report.figures as report_figures

    release = threading.Event()
    calls: list[int] = []
    real = report_figures.draw_figures

    def held_drawing(con, out, cohort=None):   # type: ignore[no-untyped-def]
        calls.append(1)
        assert release.wait(120)
        return real(con, out, cohort)

    monkeypatch.setattr(report_figures, "draw_figures", held_drawing)
    own = build_warehouse(tmp_path / "own")
    app = create_app(ViewerConfig(db=own.db, work_dir=tmp_path / "work", check_every=0.0))
    with serving(app) as url:
        headers = {"Host": "localhost"}

        def visit(path: str) -> tuple[int, str]:
            response = httpx.get(url + path, headers=headers, timeout=60)
            return response.status_code, response.text

        with ThreadPoolExecutor(64) as pool:
            figures = [pool.submit(visit, "/figures") for _ in range(60)]
            others = [pool.submit(visit, path) for path in ("/healthz", "/patients/P-001", "/cohorts/tcga_brca",
                                                            f"/slides/{own.slide_id}_files/11/0_0.jpeg")]
            answers = [f.result(timeout=60) for f in others]
            drawing = [f.result(timeout=60) for f in figures]
        assert [status for status, _ in answers] == [200, 200, 200, 200]
        assert all(status == 200 and 'id="drawing"' in text for status, text in drawing)
        assert not release.is_set() and len(calls) == 1
        release.set()
        deadline = time.monotonic() + 300
        while 'id="drawing"' in visit("/figures")[1] and time.monotonic() < deadline:
            time.sleep(0.2)
        page = visit("/figures")[1]
        assert 'src="/figures/feature_heatmap/0.png?v=' in page
        for _ in range(3):
            visit("/figures")
        assert len(calls) == 1                              # once per warehouse state
        from radpath.warehouse import open_warehouse

        with open_warehouse(own.db) as con:                 # a new state of the warehouse: drawn again
            con.execute("INSERT INTO til_readings VALUES ('tcga_brca', 'P-004', 12.0, 'reader 1', 'r2')")
        while 'id="drawing"' in visit("/figures")[1] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(calls) == 2
