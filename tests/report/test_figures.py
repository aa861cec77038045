"""Every figure renders from a tiny warehouse into non-trivial PNG and SVG files; the HTML page embeds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from radpath.report.cards import write_model_cards
from radpath.report.figures import FIGURES, draw_figures
from radpath.report.html import write_report
from radpath.report.tables import build_tables
from radpath.warehouse import open_warehouse


def test_every_figure_renders(study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    with open_warehouse(study_db, read_only=True) as con:
        drawn, skipped = draw_figures(con, out)
        skipped_expected = {name for name in FIGURES if name not in drawn}
        assert set(skipped) == skipped_expected
        assert set(drawn) == set(FIGURES) and not skipped
        for name, paths in drawn.items():
            pngs = [p for p in paths if p.suffix == ".png"]
            assert pngs and all(p.with_suffix(".svg").stat().st_size > 5_000 for p in pngs), name
            for png in pngs:
                pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
                assert min(pixels.shape) > 200 and pixels.std() > 10, f"{png.name} looks blank"
        # KM: one figure for all patients and one per subtype present
        subtypes = con.execute("SELECT count(DISTINCT subtype) FROM survival_groups").fetchone()[0]
        assert len([p for p in drawn["km_curves"] if p.suffix == ".png"]) == 1 + subtypes
        cards = write_model_cards(con, tmp_path / "models")
        page = write_report(con, tmp_path, build_tables(con), drawn, skipped, cards)
        assert [p.name for p in cards] == ["composite_v1.md", "published_wu2020_signature_v1.md", "sig_v1.md",
                                           "sig_v2.md"]
        card = cards[0].read_text(encoding="utf-8")
        below = con.execute("SELECT count(*) FROM model_predictions WHERE model = 'composite' AND cohort = 'tcga_brca' "
                            "AND predicted < 0").fetchone()[0]
        assert "flagged, not clipped" in card and f"- tcga_brca: {below} of " in card and below > 0
    html = page.read_text(encoding="utf-8")
    n_png = sum(len([p for p in v if p.suffix == ".png"]) for v in drawn.values())
    assert html.count("data:image/png;base64,") == n_png
    assert "test-fixture" in html and "Table 2. Patient characteristics" in html
    # a caption under every figure, the KM ones naming their subgroup
    assert html.count("<figcaption>") == n_png
    assert "Kaplan–Meier estimates of survival by predicted TIL group, TNBC patients" in html
    assert "Kaplan–Meier estimates of survival by predicted TIL group, HR+/HER2− patients" in html
    assert "HER2-" not in html   # one spelling of the subtype: the minus sign
    assert 'href="models/composite_v1.md"' in html


def test_model_cards_say_what_each_model_is(study_db: Path, tmp_path: Path) -> None:
    """The published model's card says it was not fitted here, how it is standardised (with the means and SDs
    used on each cohort) and that its groups are the paper's fixed boundaries; a fitted model's card gives its
    apparent and cross-validated r."""
    import pandas as pd

    with open_warehouse(study_db, read_only=True) as con:
        cards = {p.name: p.read_text(encoding="utf-8") for p in write_model_cards(con, tmp_path)}
        feats = con.execute("SELECT f.patient_id, f.value FROM features f JOIN model_predictions m "
                            "USING (cohort, patient_id) WHERE f.code = 'TEX2' AND f.cohort = 'tcga_brca' "
                            "AND m.model = 'published:wu2020_signature'").df()
    assert all(":" not in name for name in cards)
    published = cards["published_wu2020_signature_v1.md"]
    assert published.startswith("# Model card: Wu et al. 2020 signature (published)\n")
    for wrong in ("Youden J", "trained on published", "sha256", "| training mean |", "| – |"):
        assert wrong not in published, wrong
    assert "**not fitted by radpath**" in published
    assert "standardised within the cohort the model is applied to" in published
    assert "low ≤ 10 %, intermediate > 10 % to 40 %, high > 40 %" in published
    tex2 = pd.Series(feats["value"])
    assert (f"| tcga_brca | TEX2 | {len(tex2)} | {tex2.mean():.3f} | {tex2.std(ddof=1):.3f} |"
            .replace("-", "\u2212") in published)
    fitted = cards["composite_v1.md"]
    assert "# Model card: Imaging signature (sig) + cytolytic activity" in fitted
    assert "- apparent (in-sample, the model's own fit): r = " in fitted
    assert "- cross-validated (out-of-fold predictions, mean of 4 repeats of 5-fold CV): r = " in fitted
    assert "no fold predictions" in cards["sig_v1.md"]   # the hand-written v1 has none
