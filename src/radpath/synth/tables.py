"""Renderer of the clinical, TIL and outcome tables, in the layouts users download.

* training (TCGA-like): GDC `clinical.tsv` (one row per case and treatment, "'--" for missing),
  the BCR biotab `nationwidechildrens.org_clinical_patient_brca.txt` (two CDE rows under the header),
  a PAM50 call table and a CSV of pathologist stromal TIL readings;
* validation (I-SPY-like): the TCIA I-SPY 1 spreadsheet layout (sheets `predictors` and `outcomes`
  with the real column names and codes), so `cohorts/ispy1.yaml` reads both the real and the synthetic file.
Both also carry columns a manifest does not map (names, dates), as real files do.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radpath.synth.truth import TRAIN, VALID

NA = "'--"
HISTOLOGY_TEXT = {
    "IDC": "Infiltrating duct carcinoma, NOS",
    "ILC": "Lobular carcinoma, NOS",
    "other": "Metaplastic carcinoma, NOS",
    "DCIS": "Intraductal carcinoma, noninfiltrating, NOS",
}
STAGE_SUFFIX = {"I": ["A", "B", ""], "II": ["A", "B"], "III": ["A", "B", "C"], "IV": [""]}
ISPY_CATEGORY = {"HR+/HER2-": 1, "HER2+": 2, "TNBC": 3}
ISPY_STATUS = {"HR+/HER2-": "HRposHER2neg", "HER2+": "HER2pos", "TNBC": "TripleNeg"}
SPREADSHEET = "I-SPY_1_All_Patient_Clinical_and_Outcome_Data.xlsx"


def _receptor_text(value: str) -> str:
    return {"positive": "Positive", "negative": "Negative", "equivocal": "Equivocal"}.get(value, "Indeterminate")


def _gdc_clinical(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for row in truth.itertuples(index=False):
        stage = f"Stage {row.stage}{rng.choice(STAGE_SUFFIX[row.stage])}"
        t = row.t_stage + (str(rng.choice(["", "a", "b", "c"])) if row.t_stage in {"T1", "T4"} else "")
        base = {
            "case_id": str(uuid.UUID(int=int(rng.integers(0, 2**63)))),
            "case_submitter_id": row.patient_id,
            "project_id": "TCGA-BRCA",
            "age_at_index": int(row.age),
            "days_to_birth": -int(row.age * 365.25),
            "gender": "female",
            "vital_status": "Alive",
            "ajcc_pathologic_t": t,
            "ajcc_pathologic_n": row.n_stage if row.n_stage == "NX" else row.n_stage + str(rng.choice(["", "a"])),
            "ajcc_pathologic_m": row.m_stage if rng.random() > 0.05 else "cM0 (i+)",
            "ajcc_pathologic_stage": stage,
            "primary_diagnosis": HISTOLOGY_TEXT[row.histology],
        }
        # GDC lists a case once per treatment; the clinical columns repeat unchanged
        for treatment in ("Pharmaceutical Therapy, NOS", "Radiation Therapy, NOS")[: int(rng.integers(1, 3))]:
            rows.append({**base, "treatment_type": treatment, "treatment_or_therapy": NA})
    return pd.DataFrame(rows)


def _biotab(truth: pd.DataFrame) -> pd.DataFrame:
    header = ["bcr_patient_uuid", "bcr_patient_barcode", "form_completion_date", "er_status_by_ihc",
              "pr_status_by_ihc", "her2_status_by_ihc", "birth_days_to"]
    cde = [
        ["bcr_patient_uuid", "bcr_patient_barcode", "form_completion_date", "breast_carcinoma_estrogen_receptor_status",
         "breast_carcinoma_progesterone_receptor_status", "lab_proc_her2_neu_immunohistochemistry_receptor_status",
         "days_to_birth"],
        ["CDE_ID:", "CDE_ID:2003301", "CDE_ID:", "CDE_ID:2957359", "CDE_ID:2957357", "CDE_ID:2957563",
         "CDE_ID:3008233"],
    ]
    body = [
        [str(uuid.uuid5(uuid.NAMESPACE_OID, r.patient_id)), r.patient_id, "2013-1-7", _receptor_text(r.er),
         _receptor_text(r.pr), _receptor_text(r.her2), str(-int(r.age * 365.25))]
        for r in truth.itertuples(index=False)
    ]
    return pd.DataFrame(cde + body, columns=header)


def _training(truth: pd.DataFrame, out: Path, rng: np.random.Generator) -> dict[str, Any]:
    clinical = out / "clinical"
    clinical.mkdir(parents=True, exist_ok=True)
    _gdc_clinical(truth, rng).to_csv(clinical / "clinical.tsv", sep="\t", index=False)
    _biotab(truth).to_csv(clinical / "nationwidechildrens.org_clinical_patient_brca.txt", sep="\t", index=False)
    pd.DataFrame({"patient": truth["patient_id"], "pam50": truth["pam50"]}).to_csv(
        clinical / "pam50.tsv", sep="\t", index=False
    )
    pathology = out / "pathology"
    pathology.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"patient_id": truth["patient_id"], "stromal_til_pct": truth["til_pct"], "reader": "pathologist_1"}
    ).to_csv(pathology / "til_readings.csv", index=False)
    return {}


def _ispy(truth: pd.DataFrame, out: Path, rng: np.random.Generator) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    n = len(truth)
    ids = truth["patient_id"].str.removeprefix("ISPY1_").astype(int)
    receptor = {"positive": 1.0, "negative": 0.0, "equivocal": 2.0, "indeterminate": 2.0}
    extract = pd.Timestamp("2009-09-03")
    hr_pos = ((truth["er"] == "positive") | (truth["pr"] == "positive")).astype(float)
    predictors = pd.DataFrame(
        {
            "SUBJECTID": ids,
            "DataExtractDt": extract,
            "age": truth["age"],
            "race_id": rng.choice([1, 3, 4], size=n, p=[0.75, 0.2, 0.05]),
            "ERpos": truth["er"].map(receptor),
            "PgRpos": truth["pr"].map(receptor),
            "HR Pos": hr_pos,
            "Her2MostPos": (truth["her2"] == "positive").astype(float),
            "HR_HER2_CATEGORY": truth["subtype"].map(ISPY_CATEGORY).astype(float),
            "HR_HER2_STATUS": truth["subtype"].map(ISPY_STATUS),
            "BilateralCa": 0,
            "Laterality": rng.choice([1, 2], size=n),
            "MRI LD Baseline": (10 * np.cbrt(truth["tumour_volume_cc"] * 6 / np.pi)).round(0),
        }
    )
    has = truth["has_outcome"].to_numpy()
    died = (truth["rfs_event"].to_numpy() == 1) & (rng.random(n) < 0.6)
    os_days = truth["rfs_days"].to_numpy() + np.where(truth["rfs_event"] == 1, rng.integers(30, 900, n), 0)
    outcomes = pd.DataFrame(
        {
            "SUBJECTID": ids,
            "DataExtractDt": extract,
            "sstat": np.where(died, 8, 7),
            "survDtD2 (tx)": os_days.astype(int),
            "RFS": pd.array(np.where(has, truth["rfs_days"], np.nan)).astype("Int64"),
            "rfs_ind": pd.array(np.where(has, truth["rfs_event"], np.nan)).astype("Int64"),
            "PCR": (rng.random(n) < 0.25).astype(float),
            "RCBClass": rng.choice([0.0, 1.0, 2.0, 3.0], size=n),
        }
    )
    dictionary = pd.DataFrame({"Variable": ["SUBJECTID", "RFS", "rfs_ind"],
                               "Description": ["I-SPY subject id", "recurrence-free survival, days",
                                               "1 = recurrence or death"]})
    with pd.ExcelWriter(out / SPREADSHEET, engine="openpyxl") as writer:
        dictionary.to_excel(writer, sheet_name="Clinical Data Dictionary", index=False)
        predictors.to_excel(writer, sheet_name="predictors", index=False)
        outcomes.to_excel(writer, sheet_name="outcomes", index=False)
        dictionary.to_excel(writer, sheet_name="Outcome Data Dictionary", index=False)
    return {}


def render_tables(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """Write the clinical, TIL and outcome tables of both cohorts (paths match the shipped manifests)."""
    rng = np.random.default_rng([seed, 101])
    _training(truth[truth["cohort"] == TRAIN], out / TRAIN, rng)
    _ispy(truth[truth["cohort"] == VALID], out / VALID, rng)
    # the shipped manifests' clinical/outcome/til sections already point at these files
    return {TRAIN: {}, VALID: {}}
