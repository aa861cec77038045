"""What `radpath cytolytic` and `radpath genomics inspect` run.

`run_cytolytic(con, manifests, harmonize=, reference=, covariates=)` reads each cohort's expression and
MAF (cohorts must be ingested first: samples are matched to the cohort's patients, and samples that
match none are counted and reported), optionally harmonises the log2 expression of the genes all cohorts
share with ComBat (batch = cohort; `reference` keeps one cohort unchanged), scores CYT and TMB, and
writes everything in one transaction with its run record: `genomics_samples`, `cytolytic_scores`,
`mutation_burden`, `combat_parameters`, `combat_covariates` and `features` (modality 'genomics').
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from radpath.cohort import LoadedManifest, load_manifest
from radpath.errors import GenomicsError
from radpath.genomics.combat import CombatFit, combat
from radpath.genomics.cytolytic import OFFSET, cytolytic_score
from radpath.genomics.expression import SCORE_GENES, ExpressionSet, read_expression, sample_table
from radpath.genomics.tmb import NONSYNONYMOUS, maf_samples, mutation_burden, read_maf
from radpath.warehouse import (
    finish_run,
    hash_inputs,
    register_feature_defs,
    replace_rows,
    start_run,
    transaction,
    write_features,
)

MODALITY = "genomics"
FEATURE_DEFS = [
    {"code": "GZMA", "family": "cytolytic", "name": "Granzyme A expression", "unit": "TPM-like (2^log2 value)",
     "formula": "2^log2(GZMA + 0.01) for TPM; 2^value for log2 arrays; after ComBat when harmonised"},
    {"code": "PRF1", "family": "cytolytic", "name": "Perforin 1 expression", "unit": "TPM-like (2^log2 value)",
     "formula": "as GZMA"},
    {"code": "CYT", "family": "cytolytic", "name": "Cytolytic activity (Rooney 2015)", "unit": "TPM-like",
     "formula": "sqrt((GZMA + 0.01) (PRF1 + 0.01)) = 2^mean(log2 GZMA, log2 PRF1)"},
    {"code": "CYT_log2", "family": "cytolytic", "name": "Cytolytic activity, log2", "unit": "log2",
     "formula": "(log2(GZMA + 0.01) + log2(PRF1 + 0.01)) / 2"},
    {"code": "TMB", "family": "mutation burden", "name": "Nonsynonymous tumour mutation burden", "unit": "per Mb",
     "formula": "nonsynonymous somatic mutations / exome size (Mb); classes " + ", ".join(sorted(NONSYNONYMOUS))},
    {"code": "TMB_count", "family": "mutation burden", "name": "Nonsynonymous somatic mutations", "unit": "count",
     "formula": "count of MAF rows of the patient's tumour sample in the nonsynonymous classes"},
]


@dataclass
class CohortGenomics:
    """One cohort's inputs and results."""

    loaded: LoadedManifest
    expression: ExpressionSet | None = None
    burden: pd.DataFrame | None = None
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: pd.DataFrame | None = None
    unmatched_expression: int = 0
    unmatched_mutations: int = 0

    @property
    def name(self) -> str:
        return self.loaded.name


@dataclass
class CytolyticResult:
    run_id: str
    cohorts: list[CohortGenomics]
    fit: CombatFit | None
    genes_harmonized: int
    summary: pd.DataFrame


def _cohort_patients(con: duckdb.DuckDBPyConnection, cohort: str) -> set[str]:
    rows = con.execute("SELECT patient_id FROM patient_registry WHERE cohort = ?", [cohort]).fetchall()
    if not rows:
        raise GenomicsError(f"cohort {cohort} is not in the warehouse; run `radpath ingest` on its manifest first")
    return {r[0] for r in rows}


def _load(loaded: LoadedManifest, patients: set[str]) -> CohortGenomics:
    data = CohortGenomics(loaded)
    frames = []
    if loaded.manifest.expression is not None:
        expression = read_expression(loaded)
        samples = expression.samples.assign(source="expression")
        samples["in_cohort"] = samples["patient_id"].isin(patients)
        chosen = samples[samples["selected"]]
        matched = chosen[chosen["in_cohort"]]
        data.unmatched_expression = int((~chosen["in_cohort"]).sum())
        if matched.empty:
            raise GenomicsError(f"expression file {expression.source}: none of its {len(chosen)} samples match a "
                                f"patient of cohort {loaded.name} (e.g. {', '.join(chosen['patient_id'][:3])})")
        samples.loc[samples["selected"] & ~samples["in_cohort"], "note"] = "patient not in the cohort"
        expression.values = expression.values[list(matched["patient_id"])]
        data.expression = expression
        frames.append(samples)
    spec = loaded.manifest.mutations
    if spec is not None:
        path = loaded.resolve(spec.path)
        maf = read_maf(path)
        burden = mutation_burden(maf, spec.exome_size_mb)
        samples = maf_samples(maf).assign(source="mutations", file=str(path))
        samples["in_cohort"] = samples["patient_id"].isin(patients)
        data.unmatched_mutations = int((~burden["patient_id"].isin(patients)).sum())
        if data.unmatched_mutations == len(burden) and len(burden):
            raise GenomicsError(f"MAF {path}: none of its {len(burden)} tumour samples match a patient of "
                                f"cohort {loaded.name}")
        samples.loc[samples["selected"] & ~samples["in_cohort"], "note"] = "patient not in the cohort"
        data.burden = burden[burden["patient_id"].isin(patients)].reset_index(drop=True)
        frames.append(samples)
    if frames:
        data.samples = pd.concat(frames, ignore_index=True)
    return data


def harmonise(
    cohorts: Sequence[CohortGenomics], reference: str | None, covariates: pd.DataFrame | None
) -> tuple[dict[str, pd.DataFrame], CombatFit]:
    """ComBat on log2 expression of the genes every cohort has (genes with NaN or no variance in a cohort
    are left out; the score genes must survive). Returns log2 harmonised values per cohort."""
    with_expression = [c for c in cohorts if c.expression is not None]
    if len(with_expression) < 2:
        raise GenomicsError("--harmonize needs at least two cohorts with expression data")
    logs = {c.name: c.expression.log2(OFFSET) for c in with_expression if c.expression is not None}
    common = sorted(set.intersection(*(set(v.index) for v in logs.values())))
    usable = []
    for gene in common:
        rows = [v.loc[gene].to_numpy(dtype=float) for v in logs.values()]
        if all(np.isfinite(r).all() and r.std() > 0 for r in rows):
            usable.append(gene)
    for gene in SCORE_GENES:
        if gene not in usable:
            raise GenomicsError(f"gene {gene} cannot be harmonised: missing, NaN or constant in one of the cohorts")
    frame = pd.concat([v.loc[usable].add_prefix(f"{name}::") for name, v in logs.items()], axis=1)
    batch = pd.Series([c.split("::", 1)[0] for c in frame.columns], index=frame.columns)
    cov = None
    if covariates is not None and covariates.shape[1]:
        cov = covariates.copy()
        cov.index = [f"{c}::{p}" for c, p in zip(covariates["cohort"], covariates.index, strict=True)]
        cov = cov.drop(columns="cohort")
    adjusted, fit = combat(frame, batch, cov, reference)
    out = {}
    for name in logs:
        part = adjusted.loc[:, batch.to_numpy() == name]
        part.columns = [c.split("::", 1)[1] for c in part.columns]
        out[name] = part
    return out, fit


def _scores(data: CohortGenomics, harmonised: pd.DataFrame | None, reference: str | None) -> pd.DataFrame:
    expression = data.expression
    assert expression is not None
    chosen = expression.samples[expression.samples["selected"]].set_index("patient_id")["sample_id"]
    if harmonised is not None:
        g, p, scale = harmonised.loc["GZMA"], harmonised.loc["PRF1"], "log2"
    else:
        g, p, scale = expression.values.loc["GZMA"], expression.values.loc["PRF1"], expression.scale
    cyt = cytolytic_score(g.astype(float), p.astype(float), scale)  # type: ignore[arg-type]
    cyt_log2 = np.log2(cyt) if scale == "linear" else cyt
    frame = pd.DataFrame({
        "cohort": data.name, "patient_id": g.index, "sample_id": chosen.reindex(g.index).to_numpy(),
        "platform": expression.platform, "scale": scale, "gzma": g.to_numpy(), "prf1": p.to_numpy(),
        "cyt": np.asarray(cyt), "cyt_log2": np.asarray(cyt_log2),
    })
    frame["cyt_linear"] = 2.0 ** frame["cyt_log2"]
    frame["harmonized"] = harmonised is not None
    frame["reference_batch"] = reference if harmonised is not None else None
    return frame


def _features(data: CohortGenomics) -> pd.DataFrame:
    parts = []
    if data.scores is not None:
        s = data.scores
        linear = (lambda v: v + OFFSET) if (s["scale"] == "linear").all() else (lambda v: 2.0 ** v)
        for code, values in (("GZMA", linear(s["gzma"])), ("PRF1", linear(s["prf1"])),
                             ("CYT", s["cyt_linear"]), ("CYT_log2", s["cyt_log2"])):
            parts.append(pd.DataFrame({"patient_id": s["patient_id"], "code": code, "value": values}))
    if data.burden is not None:
        b = data.burden
        parts.append(pd.DataFrame({"patient_id": b["patient_id"], "code": "TMB", "value": b["tmb_per_mb"]}))
        parts.append(pd.DataFrame({"patient_id": b["patient_id"], "code": "TMB_count", "value": b["tmb_count"]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["patient_id", "code", "value"])


def _covariate_frame(con: duckdb.DuckDBPyConnection, cohorts: Sequence[CohortGenomics],
                     names: Sequence[str]) -> pd.DataFrame | None:
    if not names:
        return None
    known = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE clinical)").fetchall()}
    bad = [n for n in names if n not in known or n in {"cohort", "patient_id", "run_id"}]
    if bad:
        raise GenomicsError(f"unknown ComBat covariate {bad[0]!r}; clinical attributes: {sorted(known)}")
    columns = ", ".join(names)
    clinical = con.execute(f"SELECT cohort, patient_id, {columns} FROM clinical").df()
    frames = []
    for data in cohorts:
        if data.expression is None:
            continue
        rows = clinical[clinical["cohort"] == data.name].set_index("patient_id")
        rows = rows.reindex(data.expression.values.columns)
        missing = rows[rows[list(names)].isna().any(axis=1)]
        if not missing.empty:
            raise GenomicsError(f"cohort {data.name}: patient {missing.index[0]} has no value for covariate(s) "
                                f"{', '.join(names)}; ComBat needs them for every sample")
        frames.append(rows.assign(cohort=data.name))
    return pd.concat(frames)


def _inputs(loaded: LoadedManifest) -> list[Path]:
    paths = [loaded.path]
    spec = loaded.manifest.expression
    if spec is not None:
        paths.append(loaded.resolve(spec.path))
        if spec.root and spec.format == "gdc-star":
            paths.extend(Path(f) for f in sample_table(loaded).query("selected")["file"])
        if spec.annotation:
            paths.append(loaded.resolve(spec.annotation))
    if loaded.manifest.mutations is not None:
        paths.append(loaded.resolve(loaded.manifest.mutations.path))
    return paths


def run_cytolytic(
    con: duckdb.DuckDBPyConnection,
    manifests: Sequence[str | Path | LoadedManifest],
    *,
    harmonize: bool = False,
    reference: str | None = None,
    covariates: Sequence[str] = (),
) -> CytolyticResult:
    """Score CYT (and TMB where a MAF is given) for every cohort; write all results in one transaction."""
    loaded = [m if isinstance(m, LoadedManifest) else load_manifest(m) for m in manifests]
    names = [m.name for m in loaded]
    if len(set(names)) != len(names):
        raise GenomicsError(f"a cohort is named twice among the manifests: {names}")
    if reference is not None and reference not in names:
        raise GenomicsError(f"reference cohort {reference!r} is not among the manifests' cohorts {names}")
    if reference is not None and not harmonize:
        raise GenomicsError("--reference only applies with --harmonize")
    if covariates and not harmonize:
        raise GenomicsError("--covariate only applies with --harmonize")
    cohorts = [_load(m, _cohort_patients(con, m.name)) for m in loaded]
    if not any(c.expression is not None or c.burden is not None for c in cohorts):
        raise GenomicsError(f"no manifest among {names} has an expression or mutations section")
    fit: CombatFit | None = None
    harmonised: dict[str, pd.DataFrame] = {}
    if harmonize:
        harmonised, fit = harmonise(cohorts, reference, _covariate_frame(con, cohorts, covariates))
    for data in cohorts:
        if data.expression is not None:
            data.scores = _scores(data, harmonised.get(data.name), reference)

    params = {"manifests": [str(m.path) for m in loaded], "manifest_sha256": [m.sha256() for m in loaded],
              "harmonize": harmonize, "reference": reference, "covariates": list(covariates), "offset": OFFSET}
    inputs = hash_inputs(p for m in loaded for p in _inputs(m))
    with transaction(con):
        run = start_run(con, "cytolytic", params, inputs)
        register_feature_defs(con, MODALITY, FEATURE_DEFS)
        for data in cohorts:
            key = {"cohort": data.name}
            replace_rows(con, "genomics_samples", _sample_rows(data, run.run_id), key)
            if data.scores is not None:
                replace_rows(con, "cytolytic_scores", data.scores.assign(run_id=run.run_id), key)
            if data.burden is not None:
                burden = data.burden.assign(cohort=data.name, run_id=run.run_id)
                replace_rows(con, "mutation_burden", burden, key)
            write_features(con, run, data.name, MODALITY, _features(data))
        if fit is not None:
            replace_rows(con, "combat_parameters",
                         fit.parameters().assign(run_id=run.run_id, reference_batch=reference), {"run_id": run.run_id})
            betas = fit.beta.stack().rename("beta").reset_index()
            betas.columns = ["gene", "term", "beta"]
            replace_rows(con, "combat_covariates", betas.assign(run_id=run.run_id), {"run_id": run.run_id})
        finish_run(con, run, "ok")
    return CytolyticResult(run.run_id, cohorts, fit, 0 if fit is None else len(fit.grand_mean), summarise(cohorts))


def _sample_rows(data: CohortGenomics, run_id: str) -> pd.DataFrame:
    columns = ["cohort", "source", "sample_id", "patient_id", "file", "sample_type", "selected", "in_cohort",
               "note", "run_id"]
    if data.samples.empty:
        return pd.DataFrame(columns=columns)
    return data.samples.assign(cohort=data.name, run_id=run_id)[columns]


def summarise(cohorts: Sequence[CohortGenomics]) -> pd.DataFrame:
    """One row per cohort: samples, patients scored, unmatched and duplicate samples, scale, CYT/TMB medians."""
    rows = []
    for data in cohorts:
        s = data.samples
        expr = s[s["source"] == "expression"] if not s.empty else s
        rows.append({
            "cohort": data.name,
            "platform": data.expression.platform if data.expression else None,
            "scale": data.scores["scale"].iloc[0] if data.scores is not None else None,
            "harmonized": bool(data.scores["harmonized"].iloc[0]) if data.scores is not None else False,
            "expression_samples": len(expr),
            "samples_not_used": int((~expr["selected"]).sum()) if len(expr) else 0,
            "unmatched_patients": data.unmatched_expression,
            "cyt_patients": 0 if data.scores is None else len(data.scores),
            "median_cyt_log2": None if data.scores is None else float(data.scores["cyt_log2"].median()),
            "tmb_patients": 0 if data.burden is None else len(data.burden),
            "median_tmb_count": None if data.burden is None else float(data.burden["tmb_count"].median()),
        })
    return pd.DataFrame(rows)


def inspect(manifest: str | Path | LoadedManifest) -> pd.DataFrame:
    """What a cohort's genomics sources hold (no warehouse needed): samples, genes, platform, scale, MAF."""
    loaded = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest)
    rows: list[dict[str, object]] = [{"item": "cohort", "value": loaded.name}]
    if loaded.manifest.expression is not None:
        expression = read_expression(loaded)
        s = expression.samples
        values = expression.values.to_numpy(dtype=float)
        rows += [
            {"item": "expression file", "value": str(expression.source)},
            {"item": "format", "value": loaded.manifest.expression.format},
            {"item": "platform", "value": expression.platform},
            {"item": "value scale", "value": expression.scale + (" (inferred)" if expression.scale_inferred
                                                                  else " (declared)")},
            {"item": "value range", "value": f"{np.nanmin(values):.4g} .. {np.nanmax(values):.4g}"},
            {"item": "samples", "value": str(len(s))},
            {"item": "patients (one sample each)", "value": str(int(s["selected"].sum()))},
            {"item": "samples not used", "value": str(int((~s["selected"]).sum()))},
            {"item": "genes", "value": str(expression.values.shape[0])},
            {"item": "score genes", "value": ", ".join(g for g in SCORE_GENES if g in expression.values.index)},
        ]
    if loaded.manifest.mutations is not None:
        spec = loaded.manifest.mutations
        maf = read_maf(loaded.resolve(spec.path))
        burden = mutation_burden(maf, spec.exome_size_mb)
        rows += [
            {"item": "MAF", "value": str(loaded.resolve(spec.path))},
            {"item": "MAF rows", "value": str(len(maf))},
            {"item": "MAF patients", "value": str(len(burden))},
            {"item": "median nonsynonymous count", "value": f"{burden['tmb_count'].median():g}"},
            {"item": "exome size (Mb)", "value": f"{spec.exome_size_mb:g}"},
        ]
    if len(rows) == 1:
        raise GenomicsError(f"manifest {loaded.path} has no expression or mutations section")
    return pd.DataFrame(rows)
