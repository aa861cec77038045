"""The report page in a real browser (Debian's chromium through Playwright, as the viewer's browser tests): every
table fits its column, no horizontal overflow anywhere, at a laptop width. Skipped without chromium unless
RADPATH_REQUIRE_BROWSER=1 (set by `make test`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from radpath.report.cards import write_model_cards
from radpath.report.figures import draw_figures
from radpath.report.formats import write_table
from radpath.report.html import write_report
from radpath.report.tables import build_tables
from radpath.warehouse import open_warehouse, register_feature_defs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const out = [];
  document.querySelectorAll('table').forEach((t, k) => {
    const box = t.closest('div.scroll') || t.parentElement;
    const name = (t.closest('section') || {}).id || t.closest('div') && t.closest('div').id || String(k);
    out.push([name, t.getBoundingClientRect().width, box.clientWidth, document.body.clientWidth]);
  });
  return {tables: out, page: [document.documentElement.scrollWidth, window.innerWidth]};
}"""


def test_no_table_overflows_the_report_page(study_db: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("RADPATH_REQUIRE_BROWSER") == "1":
            pytest.fail("RADPATH_REQUIRE_BROWSER=1 but no chromium on PATH: run `make browser`")
        pytest.skip("no chromium on PATH (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    # what the demo's 403 MRI features bring: codes and formulas without a space to break at
    code = "X_TUM_SER_glszm_LargeAreaHighGrayLevelEmphasis"
    with open_warehouse(study_db) as con:
        register_feature_defs(con, "mri", [{"code": code, "family": "glszm", "name": code, "unit": "1",
                                            "formula": "sum_{i,j}(P(i,j)*i^2*j^2)/N_z_over_every_zone_size_j"}])
        con.execute("INSERT INTO feature_associations SELECT cohort, modality, ?, target, n, r, ci_low, ci_high, "
                    "p_value, fdr, significant, run_id FROM feature_associations LIMIT 1", [code])
    with open_warehouse(study_db, read_only=True) as con:
        tables = build_tables(con)
        for name, table in tables.items():
            write_table(table, tmp_path / "tables" / name, ["csv"])
        drawn, skipped = draw_figures(con, tmp_path / "figures")
        page_path = write_report(con, tmp_path, tables, drawn, skipped, write_model_cards(con, tmp_path / "models"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        found = page.evaluate(WIDTHS)
        shot = Path(os.environ.get("RADPATH_SCREENSHOTS") or tmp_path) / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    names = [t[0] for t in found["tables"]]
    assert "table3_classification" in names and len(found["tables"]) >= len(tables)
    wide = [f"{name}: table {width:.0f} px in a {box} px column" for name, width, box, _ in found["tables"]
            if width > box + 0.5]
    assert not wide, "\n".join(wide)
    scroll, inner = found["page"]
    assert scroll <= inner, f"the page scrolls sideways: {scroll} px in a {inner} px window"
