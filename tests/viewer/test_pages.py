"""What the viewer's pages show (#25 §3): percentile ordinals over the included patients, each cohort's own
tables, every pathology feature of a patient by stage with its definition, and the stored exclusion reason."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.report.conftest import report_db, study_db  # noqa: F401  (fixtures: a warehouse with every analysis)

from radpath.numbers import ordinal
from radpath.viewer.app import ViewerConfig, create_app
from radpath.warehouse import open_warehouse

from .conftest import PATHOLOGY_FEATURES, RUN, ViewerStudy, build_warehouse, viewer_client


def _text(page: str) -> str:
    """What a reader sees: the page's text without tags (and without the pictures' hover titles)."""
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def client(study: ViewerStudy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with viewer_client(create_app(ViewerConfig(db=study.db, work_dir=tmp_path_factory.mktemp("pages")))) as c:
        yield c


# (n, as English writes it): hand-written
@pytest.mark.parametrize(("n", "text"), [(0, "0th"), (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                         (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"), (23, "23rd"),
                                         (93, "93rd"), (100, "100th"), (101, "101st"), (111, "111th"),
                                         (112, "112th"), (113, "113th"), (50.4, "50th"), (99.6, "100th")])
def test_ordinal(n: float, text: str) -> None:
    assert ordinal(n) == text


def test_percentiles_are_ordinals_among_the_included_patients(tmp_path: Path) -> None:
    """101 included patients with FTV 0, 1, ..., 100 and 10 excluded ones with FTV 1000: the patient with FTV k
    is above k of the other 100 included patients, the k-th percentile; the excluded values change nothing.
    An excluded patient with FTV 50.5 is above 51 of the 101 included patients: 51/101 = 50.5 % -> 50th."""
    own = build_warehouse(tmp_path / "big")
    with open_warehouse(own.db) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('big', 'validation', NULL, 'm', 'h', ?)", [RUN])
        rows = [(f"B-{k:03d}", True, None, None, k) for k in range(101)]
        rows += [(f"X-{k:02d}", False, 1, "no pre-treatment DCE-MRI", 1000.0) for k in range(10)]
        rows.append(("X-50", False, 1, "no pre-treatment DCE-MRI", 50.5))
        for pid, included, step, reason, _ in rows:
            con.execute("INSERT INTO patient_registry VALUES ('big', ?, ?, ?, ?, ?)",
                        [pid, included, step, reason, RUN])
        con.executemany("INSERT INTO feature_values VALUES ('big', ?, 'mri', 'FTV', ?, 'p', ?, true)",
                        [[pid, float(value), RUN] for pid, *_, value in rows])
    with viewer_client(create_app(ViewerConfig(db=own.db, work_dir=tmp_path / "work"))) as c:
        for k, shown in ((2, "2nd"), (23, "23rd"), (93, "93rd"), (11, "11th"), (12, "12th"), (13, "13th"),
                         (1, "1st"), (21, "21st"), (0, "0th"), (100, "100th")):
            text = _text(c.get(f"/patients/B-{k:03d}").text)
            assert f"FTV {k} cm3 {shown} (101)" in text, (k, text[-300:])
            assert "not included" not in text
        text = _text(c.get("/patients/X-50").text)
        assert "FTV 50.5 cm3 50th (101) this patient is not included" in text
        excluded = _text(c.get("/patients/X-00").text)      # FTV 1000: above all 101 included patients
        assert "FTV 1000 cm3 100th (101) this patient is not included" in excluded
        assert "excluded: no pre-treatment DCE-MRI" in excluded


def test_an_unreported_reading_and_a_stored_exclusion_reason(client: TestClient) -> None:
    text = _text(client.get("/patients/P-004").text)
    assert "pathologist stromal TIL % not reported" in text
    assert "excluded: no MRI" in text                     # patients.exclusion_reason as stored
    assert "no MRI" in _text(client.get("/cohorts/tcga_brca").text)


def test_the_patient_page_shows_every_pathology_feature_by_stage(client: TestClient) -> None:
    page = client.get("/patients/P-001").text
    table = page[page.index('<table class="features pathology">'):]
    table = table[:table.index("</table>")]
    stages = re.findall(r'<th scope="rowgroup" rowspan="(\d+)">([^<]+)</th>', table)
    expected: dict[str, dict[str, float]] = {}
    for stage, _, _, values in PATHOLOGY_FEATURES:
        expected.setdefault(stage, {}).update(values)
    assert [(stage, int(n)) for n, stage in stages] == [(s, len(v)) for s, v in expected.items()]
    # each feature: its code with the registry's name and formula on hover, and its value
    from radpath.pathology.cells.scoring import FEATURE_DEFS as CELLS
    from radpath.pathology.cells.scoring import HE_FEATURE_DEFS
    from radpath.pathology.segmentation.features import FEATURE_DEFS as SEG
    from radpath.pathology.til.scores import FEATURE_DEFS as WSI

    definitions = {d["code"]: d for d in [*WSI, *SEG, *CELLS, *HE_FEATURE_DEFS]}
    cells = re.findall(r'<abbr title="([^"]*)">([A-Z0-9_]+)</abbr></td>\s*<td>([^<]*)</td>', table)
    assert {code for _, code, _ in cells} == {code for values in expected.values() for code in values}
    for title, code, value in cells:
        d = definitions[code]
        assert html.unescape(title) == f"{d['name']}: {d['formula']}"
        shown = next(v[code] for v in expected.values() if code in v)
        assert float(value) == pytest.approx(shown, rel=1e-3)
    for code in ("STROMAL_TIL", "STROMAL_TIL_PATCH", "STROMA_AREA", "TUMOR_AREA_SEG", "HE_LYMPHOCYTE_DENSITY",
                 "KI67_INDEX", "TIL_SCORE"):
        assert f">{code}</abbr>" in table


def _section(page: str, name: str) -> str:
    part = page[page.index(f'<details id="{name}"'):]
    return _text(part[:part.index("</details>")])


def test_each_cohort_page_shows_its_own_tables(study_db: Path, tmp_path: Path) -> None:   # noqa: F811
    """The fixture associates and fits the composite on tcga_brca and validates survival on ispy1."""
    with viewer_client(create_app(ViewerConfig(db=study_db, work_dir=tmp_path / "work"))) as c:
        training, validation = c.get("/cohorts/tcga_brca").text, c.get("/cohorts/ispy1").text
    assoc = _section(training, "table_associations")
    assert "M1" in assoc and "BPE1" in assoc and "Not run" not in assoc
    assert "in tcga_brca (composite v1)" in _section(training, "table4_multivariable")
    assert "Not run on tcga_brca" in _section(training, "table_survival")
    assoc = _section(validation, "table_associations")
    assert "(0 rows" in assoc and "Not run on ispy1" in assoc and "M1" not in assoc
    table4 = _section(validation, "table4_multivariable")
    assert "(0 rows" in table4 and "Not run on ispy1" in table4 and "tcga_brca" not in table4
    survival = _section(validation, "table_survival")
    assert "Not run" not in survival and "on ispy1" in survival


def test_the_inclusion_flow_shows_the_stored_exclusion_reasons(table_study, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A real ingest of the synthetic cohorts: the flow says why patients left at a step (the reason the
    warehouse stores, 'not invasive carcinoma'), not the criterion they failed; so does an excluded patient's page
    and the cohort's patient list."""
    from radpath.ingest import ingest_manifest

    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        for manifest in table_study.manifests.values():
            ingest_manifest(con, manifest)
        flow = con.execute("SELECT criterion, n_before, n_excluded, n_after FROM inclusion_flow "
                           "WHERE cohort = 'tcga_brca' AND criterion = 'invasive carcinoma'").fetchone()
        excluded = con.execute("SELECT patient_id FROM patients WHERE cohort = 'tcga_brca' AND NOT included "
                               "ORDER BY patient_id").fetchall()
    assert flow is not None and flow[2] > 0 and excluded
    with viewer_client(create_app(ViewerConfig(db=db, work_dir=tmp_path / "work"))) as c:
        cohort = _text(c.get("/cohorts/tcga_brca").text)
        patient = _text(c.get(f"/patients/{excluded[0][0]}").text)
    # hand-written: the criterion 'invasive carcinoma' turned round
    assert f"invasive carcinoma : {flow[1]} → {flow[3]} ({flow[2]} excluded: not invasive carcinoma)" in cohort
    assert "excluded: not invasive carcinoma" in patient
    assert "excluded: invasive carcinoma" not in cohort + patient
