"""Per-patient latent truth of the synthetic study (one row per patient of both cohorts).

Generative model (all draws from one seeded numpy Generator, so a seed fixes the study):

* Two independent latent axes per patient: `z_img` (what DCE-MRI sees of the immune state) and
  `z_cyt` (what expression sees). Stromal TILs depend on both, so an imaging signature and the
  cytolytic score each explain part of TIL and the composite explains more than either:
  ``z_til = (0.75 z_img + 0.75 z_cyt + 0.5 e + s_subtype) / sd`` and
  ``til_pct = clip(exp(1.25 + 1.75 z_til), 0, 90)``, calibrated so that about 73 % / 20 % / 7 % of
  the training cohort are low (<= 10 %) / intermediate (10-40 %) / high (> 40 %), as in the paper's Table 2.
* Clinical attributes follow the proportions of the paper's Table 2 (training) and of I-SPY 1
  (validation: more HER2+ and triple-negative tumours).
* Imaging latents (used by the MRI renderer): tumour volume rises with TILs; tumour-surrounding
  BPE SER, BPE fraction and SER-map skewness fall with TILs (the directions the paper reports).
* Molecular latents: `cyt_log2` (log2 cytolytic activity, tied to z_cyt) and `tmb` (nonsynonymous
  mutation count, weakly tied to z_cyt and higher in TNBC).
* Validation outcomes: recurrence-free survival whose hazard depends on TILs within TNBC only
  (low-TIL TNBC: hazard x 5), administrative censoring between 1,000 and 3,000 days.
* Presence flags (`has_*`) and histology decide who passes the cohort's inclusion criteria:
  `n_train` / `n_valid` patients pass, and about 15 % more are listed but fail one criterion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN, VALID = "tcga_brca", "ispy1"
TIL_LOW, TIL_INTERMEDIATE = 10.0, 40.0

SUBTYPES = ("HR+/HER2-", "HER2+", "TNBC")
SUBTYPE_P = {TRAIN: (0.69, 0.18, 0.13), VALID: (0.40, 0.28, 0.32)}
SUBTYPE_SHIFT = {"HR+/HER2-": -0.1, "HER2+": 0.15, "TNBC": 0.3}
PAM50_BY_SUBTYPE = {
    "HR+/HER2-": (("LumA", "LumB"), (0.7, 0.3)),
    "HER2+": (("Her2", "LumB", "Basal", "LumA"), (0.4, 0.4, 0.1, 0.1)),
    "TNBC": (("Basal", "Normal", "Her2"), (0.85, 0.10, 0.05)),
}
EXCLUDED_FRACTION = 0.15


def til_category(til_pct: float) -> str:
    """The paper's categories: low <= 10 %, intermediate > 10-40 %, high > 40 %."""
    if til_pct <= TIL_LOW:
        return "low"
    return "intermediate" if til_pct <= TIL_INTERMEDIATE else "high"


def _stage(t: str, n: str, m: str) -> str:
    """AJCC anatomic stage group, simplified to I-IV from T, N and M."""
    if m == "M1":
        return "IV"
    if t == "T4" or n in {"N2", "N3"} or (t == "T3" and n == "N1"):
        return "III"
    if t in {"T2", "T3"} or n == "N1":
        return "II"
    return "I"


def _cohort(rng: np.random.Generator, cohort: str, n_included: int) -> pd.DataFrame:
    n_excluded = int(round(n_included * EXCLUDED_FRACTION))
    n = n_included + n_excluded
    prefix = "TCGA-S" if cohort == TRAIN else "ISPY1_"
    if cohort == TRAIN:
        ids = [f"TCGA-S{i // 10000 % 10}-{i:04d}" for i in range(1, n + 1)]
    else:
        ids = [f"{prefix}{1000 + i}" for i in range(1, n + 1)]

    subtype = rng.choice(SUBTYPES, size=n, p=SUBTYPE_P[cohort])
    z_img = rng.standard_normal(n)
    z_cyt = rng.standard_normal(n)
    shift = np.array([SUBTYPE_SHIFT[s] for s in subtype])
    z_til = 0.75 * z_img + 0.75 * z_cyt + 0.5 * rng.standard_normal(n) + shift
    z_til = z_til / np.sqrt(0.75**2 * 2 + 0.5**2)
    til = np.clip(np.exp(1.25 + 1.75 * z_til), 0.0, 90.0).round(0)

    er, pr, her2 = [], [], []
    for s in subtype:
        if s == "HR+/HER2-":
            er.append("positive")
            pr.append("positive" if rng.random() < 0.85 else "negative")
            her2.append("equivocal" if (cohort == TRAIN and rng.random() < 0.03) else "negative")
        elif s == "HER2+":
            e = rng.random() < 0.5
            er.append("positive" if e else "negative")
            pr.append("positive" if e and rng.random() < 0.7 else "negative")
            her2.append("positive")
        else:
            er.append("negative")
            pr.append("negative")
            her2.append("negative")

    t = rng.choice(["T1", "T2", "T3", "T4"], size=n, p=[0.40, 0.50, 0.08, 0.02])
    nst = rng.choice(["N0", "N1", "N2", "N3", "NX"], size=n, p=[0.50, 0.34, 0.09, 0.05, 0.02])
    m = rng.choice(["M0", "MX", "M1"], size=n, p=[0.83, 0.16, 0.01])
    histology = rng.choice(["IDC", "ILC", "other"], size=n, p=[0.84, 0.13, 0.03])
    pam50 = [rng.choice(PAM50_BY_SUBTYPE[s][0], p=PAM50_BY_SUBTYPE[s][1]) for s in subtype]
    age = np.clip(rng.normal(54.0, 11.0, n), 29, 85).round(2)

    # imaging latents (MRI renderer): directions as reported by the paper
    t_scale = np.array([{"T1": 0.6, "T2": 1.0, "T3": 1.8, "T4": 2.2}[x] for x in t])
    volume_cc = np.exp(np.log(6.0) + 0.45 * z_img + 0.35 * rng.standard_normal(n)) * t_scale
    ts_bpe_ser = np.clip(1.05 - 0.12 * z_img + 0.06 * rng.standard_normal(n), 0.5, 1.6)
    bpe_fraction = 1.0 / (1.0 + np.exp(-(-1.0 - 0.5 * z_img + 0.4 * rng.standard_normal(n))))
    ser_skew = -0.5 * z_img + 0.5 * rng.standard_normal(n)
    tumour_ser_mean = np.clip(1.25 + 0.10 * rng.standard_normal(n), 0.9, 1.8)
    tumour_pe_mean = np.clip(1.2 + 0.25 * rng.standard_normal(n), 0.5, 2.5)
    parenchyma_fraction = np.clip(rng.beta(2.0, 3.0, n), 0.1, 0.8)
    lobulation = np.clip(rng.beta(2.0, 5.0, n), 0.0, 1.0)

    # molecular latents (genomics renderer)
    cyt_log2 = 5.0 + 1.2 * z_cyt
    tnbc = subtype == "TNBC"
    tmb = rng.poisson(np.exp(np.log(35) + 0.25 * z_cyt + 0.5 * tnbc + 0.4 * rng.standard_normal(n)))

    frame = pd.DataFrame(
        {
            "patient_id": ids,
            "cohort": cohort,
            "age": age,
            "er": er,
            "pr": pr,
            "her2": her2,
            "subtype": subtype,
            "t_stage": t,
            "n_stage": nst,
            "m_stage": m,
            "stage": [_stage(a, b, c) for a, b, c in zip(t, nst, m, strict=True)],
            "histology": histology,
            "pam50": pam50,
            "z_img": z_img,
            "z_cyt": z_cyt,
            "til_pct": til,
            "til_category": [til_category(x) for x in til],
            "tumour_volume_cc": volume_cc,
            "tumour_lobulation": lobulation,
            "tumour_ser_mean": tumour_ser_mean,
            "tumour_pe_mean": tumour_pe_mean,
            "ser_skew": ser_skew,
            "ts_bpe_ser": ts_bpe_ser,
            "bpe_fraction": bpe_fraction,
            "parenchyma_fraction": parenchyma_fraction,
            "cyt_log2": cyt_log2,
            "tmb": tmb.astype(int),
        }
    )

    # presence flags; the last n_excluded patients each fail exactly one criterion
    for flag in ("has_mri", "has_slide", "has_expression", "has_mutations", "has_outcome", "invasive"):
        frame[flag] = True
    reasons = (
        ["invasive", "has_mri", "has_slide", "has_expression"]
        if cohort == TRAIN
        else ["has_mri", "has_expression", "has_outcome"]
    )
    for k, row in enumerate(range(n_included, n)):
        flag = reasons[k % len(reasons)]
        frame.loc[row, flag] = False
    frame.loc[~frame["invasive"], "histology"] = "DCIS"
    frame["included"] = np.arange(n) < n_included

    # recurrence-free survival: hazard depends on TILs within TNBC only
    base = 1.0 / 9000.0
    low = frame["til_category"].to_numpy() == "low"
    hazard = base * np.where(tnbc & low, 5.0, 1.0) * np.where(tnbc, 1.3, 1.0)
    event_time = rng.exponential(1.0 / hazard)
    censor = rng.uniform(1000.0, 3000.0, n)
    frame["rfs_days"] = np.minimum(event_time, censor).round(0).clip(min=1)
    frame["rfs_event"] = (event_time <= censor).astype(int)
    return frame


def draw_truth(seed: int = 1, n_train: int = 126, n_valid: int = 105) -> pd.DataFrame:
    """Latent truth for the training (TCGA-like) and validation (I-SPY-like) cohorts."""
    rng = np.random.default_rng(seed)
    return pd.concat([_cohort(rng, TRAIN, n_train), _cohort(rng, VALID, n_valid)], ignore_index=True)
