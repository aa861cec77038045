"""Normalise clinical attributes from the vocabularies of source tables to the warehouse's.

Each normaliser takes one source value (already passed through the manifest's `codes`) and returns
the warehouse value, None for missing, or raises `ValueError` with what it expected; the ingest
turns that into an error naming file, row and column. Free-text attributes (histology) never fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable

RECEPTOR = {
    "positive": "positive", "pos": "positive", "+": "positive", "1": "positive", "yes": "positive",
    "negative": "negative", "neg": "negative", "-": "negative", "0": "negative", "no": "negative",
    "equivocal": "equivocal", "borderline": "equivocal",
    "indeterminate": "indeterminate", "unknown": None,
}
SUBTYPES = {
    "hr+/her2-": "HR+/HER2-", "hr+her2-": "HR+/HER2-", "luminal": "HR+/HER2-", "hr+": "HR+/HER2-",
    "her2+": "HER2+", "her2": "HER2+", "her2-enriched": "HER2+",
    "tnbc": "TNBC", "triple negative": "TNBC", "triple-negative": "TNBC", "hr-/her2-": "TNBC",
}
PAM50 = {
    "luma": "LumA", "luminal a": "LumA", "lumb": "LumB", "luminal b": "LumB",
    "her2": "Her2", "her2-enriched": "Her2", "basal": "Basal", "basal-like": "Basal",
    "normal": "Normal", "normal-like": "Normal",
}
STAGE_GROUPS = {"0": "0", "I": "I", "II": "II", "III": "III", "IV": "IV"}
_STAGE = re.compile(r"^(?:stage\s*)?(IV|III|II|I|0)[ABC]?\d?$", re.IGNORECASE)
_TNM = {
    "t_stage": re.compile(r"^[cpy]*(T[0-4]|TX|Tis)", re.IGNORECASE),
    "n_stage": re.compile(r"^[cpy]*(N[0-3]|NX)", re.IGNORECASE),
    "m_stage": re.compile(r"^[cpy]*(M[01]|MX)", re.IGNORECASE),
}


def _text(value: str) -> str:
    return value.strip()


def receptor(value: str) -> str | None:
    key = _text(value).lower()
    if key in RECEPTOR:
        return RECEPTOR[key]
    raise ValueError(f"expected a receptor status (positive, negative, equivocal, indeterminate), found {value!r}")


def subtype(value: str) -> str | None:
    key = _text(value).lower()
    if key in SUBTYPES:
        return SUBTYPES[key]
    raise ValueError(f"expected a subtype (HR+/HER2-, HER2+, TNBC), found {value!r}")


def pam50(value: str) -> str | None:
    key = _text(value).lower().removeprefix("brca.")
    if key in PAM50:
        return PAM50[key]
    raise ValueError(f"expected a PAM50 call (LumA, LumB, Her2, Basal, Normal), found {value!r}")


def stage(value: str) -> str | None:
    text = _text(value)
    if text.lower() in {"stage x", "x"}:
        return None
    match = _STAGE.match(text)
    if not match:
        raise ValueError(f"expected an AJCC stage such as 'Stage IIA' or 'II', found {value!r}")
    return STAGE_GROUPS[match.group(1).upper()]


def _tnm(attribute: str) -> Callable[[str], str | None]:
    pattern = _TNM[attribute]

    def normalise(value: str) -> str | None:
        match = pattern.match(_text(value))
        if not match:
            raise ValueError(f"expected an AJCC {attribute[0].upper()} category, found {value!r}")
        found = match.group(1)
        return "Tis" if found.lower() == "tis" else found.upper()

    return normalise


def histology(value: str) -> str | None:
    """IDC, ILC, DCIS (in situ only) or other, from ICD-O-3 / GDC `primary_diagnosis` wording."""
    text = _text(value).lower()
    if text in {"idc", "ilc", "dcis", "other"}:
        return text.upper() if text != "other" else "other"
    if "in situ" in text or "noninfiltrating" in text or "non-infiltrating" in text:
        return "DCIS"
    if "lobular" in text and "duct" not in text:
        return "ILC"
    if "duct" in text:
        return "IDC"
    return "other"


def age(value: str) -> float | None:
    try:
        number = float(_text(value))
    except ValueError:
        raise ValueError(f"expected an age in years, found {value!r}") from None
    if not 0 <= number <= 120:
        raise ValueError(f"expected an age between 0 and 120 years, found {number}")
    return number


NORMALISERS: dict[str, Callable[[str], object]] = {
    "age": age,
    "er": receptor,
    "pr": receptor,
    "her2": receptor,
    "hr": receptor,
    "subtype": subtype,
    "t_stage": _tnm("t_stage"),
    "n_stage": _tnm("n_stage"),
    "m_stage": _tnm("m_stage"),
    "stage": stage,
    "histology": histology,
    "pam50": pam50,
}
ATTRIBUTES = tuple(NORMALISERS)


def derive_hr(er: str | None, pr: str | None) -> str | None:
    """Hormone-receptor status: positive when ER or PR is positive, negative when both are negative."""
    if "positive" in (er, pr):
        return "positive"
    if er == "negative" and pr == "negative":
        return "negative"
    return None


def derive_subtype(hr: str | None, her2: str | None) -> str | None:
    """HER2+ when HER2 is positive; else HR+/HER2- or TNBC by hormone-receptor status."""
    if her2 == "positive":
        return "HER2+"
    if her2 in {"negative", "equivocal"}:
        if hr == "positive":
            return "HR+/HER2-"
        if hr == "negative" and her2 == "negative":
            return "TNBC"
    return None
