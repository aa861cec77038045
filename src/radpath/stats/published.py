"""Published models applied as frozen artifacts: `radpath apply --model published:NAME --cohort C`.

``wu2020_signature`` is the imaging signature of Wu et al., "Magnetic resonance imaging and molecular features
associated with tumor-infiltrating lymphocytes in breast cancer" (Breast Cancer Research; the paper radpath
reproduces), Results, "imaging signature for TILs":

    predicted stromal TIL (%) = 4.4 z(M1) - 3.14 z(TEX2) - 2.0 z(TSBPE2) - 2.62 z(BPE1) - 0.72 z(BPE3) + 13.02

on standardised features. The training means and SDs are in the paper's supplementary Table S3, not in its
text, so radpath standardises each feature within the cohort the model is applied to (mean and SD with
ddof = 1 over the cohort's included patients that have all five features); the model card says so.
Predicted TIL is grouped at the paper's category boundaries (low <= 10 %, high > 40 %), not at thresholds
learned on a training cohort, since none was available.

The registered model is stored in the warehouse as ``published:wu2020_signature`` (kind ``published``,
cohort ``published``) the first time it is applied, so `evaluate` and `validate-survival` read it like a
fitted model; applying it again reuses that version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from radpath.errors import StatsError
from radpath.stats.models import ModelRecord, load_model, save_model
from radpath.warehouse import Run

PREFIX = "published:"
WITHIN_COHORT = "within_cohort"


@dataclass(frozen=True)
class PublishedModel:
    """A published linear model of stromal TIL % on standardised features."""

    key: str
    label: str                              # what tables, figures and cards print
    coefficients: dict[str, float]          # code -> per-SD coefficient, in the paper's order
    intercept: float
    modality: str
    source: str
    developed_on: str                       # the data its authors fitted it on
    thresholds: dict[str, float]

    def formula(self) -> str:
        terms = list(self.coefficients.items())
        first = f"{'−' if terms[0][1] < 0 else ''}{abs(terms[0][1]):g} z({terms[0][0]})"
        rest = " ".join(f"{'−' if c < 0 else '+'} {abs(c):g} z({k})" for k, c in terms[1:])
        return f"predicted TIL (%) = {first} {rest} + {self.intercept:g}"

    def standardisation(self) -> str:
        return ("The paper's training means and SDs (its supplementary Table S3) are not in its text, so each "
                "feature is standardised within the cohort the model is applied to: z(x) = (x − cohort mean) / "
                "cohort SD, the mean and SD (ddof = 1) taken over that cohort's included patients having all "
                f"{len(self.coefficients)} features. Predictions are therefore relative to that cohort and not "
                "comparable across cohorts.")

    def grouping(self) -> str:
        low, high = self.thresholds["low_vs_intermediate"], self.thresholds["intermediate_vs_high"]
        return (f"TIL groups: the paper's fixed TIL category boundaries applied to predicted TIL (low ≤ {low:g} %, "
                f"intermediate > {low:g} % to {high:g} %, high > {high:g} %), not thresholds learned from data.")

    def artifact(self) -> dict[str, Any]:
        codes = list(self.coefficients)
        formula = self.formula()
        card = (f"{self.label}: the {self.source}. Developed by its authors on {self.developed_on}; not fitted by "
                f"radpath. {formula[0].upper()}{formula[1:]}. {self.standardisation()} {self.grouping()}")
        return {
            "label": self.label,
            "features": [{"modality": self.modality, "code": c} for c in codes],
            "coefficients": dict(self.coefficients), "intercept": self.intercept,
            "means": {}, "sds": {}, "standardise": WITHIN_COHORT,
            "thresholds": dict(self.thresholds), "source": self.source, "developed_on": self.developed_on,
            "card": card,
        }


PUBLISHED: dict[str, PublishedModel] = {
    "wu2020_signature": PublishedModel(
        key="wu2020_signature",
        label="Wu et al. 2020 signature (published)",
        coefficients={"M1": 4.4, "TEX2": -3.14, "TSBPE2": -2.0, "BPE1": -2.62, "BPE3": -0.72},
        intercept=13.02,
        modality="mri",
        source="imaging signature of Wu et al., Magnetic resonance imaging and molecular features associated "
               "with tumor-infiltrating lymphocytes in breast cancer (Breast Cancer Research, 2020), Results",
        developed_on="the DCE-MRI and stromal TIL readings of 126 TCGA-BRCA patients (the paper's training cohort)",
        thresholds={"low_vs_intermediate": 10.0, "low_vs_high": 10.0, "intermediate_vs_high": 40.0},
    ),
}


def is_published(name: str) -> bool:
    return name.startswith(PREFIX)


def published_model(name: str) -> PublishedModel:
    """The registry entry of ``published:KEY`` (or ``KEY``); an error lists the known ones."""
    key = name.removeprefix(PREFIX)
    if key not in PUBLISHED:
        known = ", ".join(PREFIX + k for k in sorted(PUBLISHED))
        raise StatsError(f"no published model {name!r}; known published models: {known}")
    return PUBLISHED[key]


def register_published(con: duckdb.DuckDBPyConnection, run: Run, name: str) -> ModelRecord:
    """The warehouse record of a published model, saving it (next version) unless an identical one exists.

    Call inside a transaction."""
    entry = published_model(name)
    full = PREFIX + entry.key
    artifact = entry.artifact()
    try:
        current = load_model(con, full)
    except StatsError:
        current = None
    if current is not None and json.dumps(current.artifact, sort_keys=True) == json.dumps(artifact, sort_keys=True):
        return current
    version = save_model(con, run, name=full, kind="published", cohort="published", target="til",
                         artifact=artifact, data_hash="")
    return load_model(con, full, version)
