"""Clinical attribute normalisation from GDC, BCR biotab and TCIA vocabularies."""

from __future__ import annotations

import pytest

from radpath import attributes as a


@pytest.mark.parametrize(
    ("normaliser", "raw", "expected"),
    [
        (a.stage, "Stage IIA", "II"), (a.stage, "Stage IV", "IV"), (a.stage, "Stage X", None), (a.stage, "IIIC", "III"),
        (a.NORMALISERS["t_stage"], "T1c", "T1"), (a.NORMALISERS["t_stage"], "pT2", "T2"),
        (a.NORMALISERS["n_stage"], "N1a", "N1"), (a.NORMALISERS["n_stage"], "N0 (i-)", "N0"),
        (a.NORMALISERS["m_stage"], "cM0 (i+)", "M0"), (a.NORMALISERS["m_stage"], "MX", "MX"),
        (a.receptor, "Positive", "positive"), (a.receptor, "Equivocal", "equivocal"), (a.receptor, "unknown", None),
        (a.histology, "Infiltrating duct carcinoma, NOS", "IDC"), (a.histology, "Lobular carcinoma, NOS", "ILC"),
        (a.histology, "Infiltrating duct and lobular carcinoma", "IDC"),
        (a.histology, "Intraductal carcinoma, noninfiltrating, NOS", "DCIS"),
        (a.histology, "Medullary carcinoma, NOS", "other"),
        (a.pam50, "BRCA.LumA", "LumA"), (a.pam50, "Basal-like", "Basal"),
        (a.subtype, "TNBC", "TNBC"), (a.subtype, "HR+/HER2-", "HR+/HER2-"),
    ],
)
def test_normalisers(normaliser, raw: str, expected) -> None:
    assert normaliser(raw) == expected


@pytest.mark.parametrize(
    ("normaliser", "raw", "message"),
    [(a.receptor, "maybe", "receptor status"), (a.stage, "Stage 5", "AJCC stage"), (a.age, "-3", "between 0 and 120"),
     (a.pam50, "Claudin", "PAM50"), (a.NORMALISERS["t_stage"], "big", "AJCC T")],
)
def test_bad_values_say_what_was_expected(normaliser, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normaliser(raw)


@pytest.mark.parametrize(
    ("er", "pr", "her2", "hr", "subtype"),
    [("positive", "negative", "negative", "positive", "HR+/HER2-"),
     ("negative", "negative", "negative", "negative", "TNBC"),
     ("negative", "negative", "positive", "negative", "HER2+"),
     ("positive", "positive", "equivocal", "positive", "HR+/HER2-"),
     ("negative", "negative", "equivocal", "negative", None),
     (None, "negative", "negative", None, None)],
)
def test_derived_hr_and_subtype(er, pr, her2, hr, subtype) -> None:
    assert a.derive_hr(er, pr) == hr
    assert a.derive_subtype(hr, her2) == subtype
