"""The stats commands as library functions: each reads the warehouse, computes, and writes its result
tables with provenance in one transaction. The CLI (`radpath.cli.stats`) only parses and prints."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import StatsError
from radpath.stats import data
from radpath.stats.association import associate, pearson
from radpath.stats.composite import CompositeModel
from radpath.stats.crossval import (
    count_repeats,
    out_of_fold,
    read_cv_predictions,
    refit_within_folds,
    write_cv_predictions,
)
from radpath.stats.feature_sets import candidate_matrix
from radpath.stats.flow import Flow, write_flow
from radpath.stats.models import (
    PAIRS,
    ModelRecord,
    default_label,
    learn_thresholds,
    load_model,
    model_inputs,
    predict,
    save_model,
    til_category,
    write_predictions,
)
from radpath.stats.published import is_published, published_model, register_published
from radpath.stats.roc import auc_ci, delong_test, mann_whitney_p, operating_point, youden_threshold
from radpath.stats.signature import LassoSettings, LassoSignature
from radpath.warehouse import Run, finish_run, replace_rows, start_run, transaction
from radpath.warehouse.cohorts import require_cohort

PREVIEW_ROWS = 10


@dataclass
class Outcome:
    """What a command produced: its run, tables (in full), notes (dropped patients, skipped pairs), and for a
    long table the rows a terminal shows (`previews`) with where the rest is (`where`)."""

    run_id: str
    tables: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    previews: dict[str, pd.DataFrame] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)


def _run(con: duckdb.DuckDBPyConnection, command: str, params: dict[str, Any]) -> Run:
    if "cohort" in params:  # an unknown cohort is named as unknown, not as one lacking features or TILs
        require_cohort(con, params["cohort"])
    with transaction(con):
        return start_run(con, command, params)


def _notes_from(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught]


def run_associate(
    con: duckdb.DuckDBPyConnection, cohort: str, *, target: str = "til", modalities: Sequence[str] = (),
    alpha: float = 0.05, fdr: float = 0.2, features: Sequence[str] = (),
) -> Outcome:
    """Pearson r of each feature with the target and with TMB and CYT (Fig. 3 data), BH-FDR per target.

    Candidates: every feature of `modalities` (default mri), or the `features` codes / named sets."""
    params: dict[str, Any] = {"cohort": cohort, "target": target, "modalities": list(modalities), "alpha": alpha,
                              "fdr": fdr}
    if features:
        params["features"] = list(features)
    for option, value in (("--alpha", alpha), ("--fdr", fdr)):
        if not 0 < value <= 1:
            raise StatsError(f"{option} must be above 0 and at most 1, got {value:g}")
    require_cohort(con, cohort)
    data.require_target(con, cohort, target)  # a bad --target or --features fails before a run is recorded
    matrix, owner, _ = candidate_matrix(con, cohort, modalities, features)
    run = _run(con, "associate", params)
    try:
        targets = {target: data.target(con, cohort, target)}
        for extra in ("TMB", "CYT"):
            if extra.lower() != target.lower():
                with contextlib.suppress(StatsError):
                    targets[extra] = data.target(con, cohort, extra)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = associate(matrix, pd.DataFrame(targets), alpha=alpha, fdr=fdr)
        table.insert(0, "modality", table["code"].map(owner))
        table.insert(0, "cohort", cohort)
        table["run_id"] = run.run_id
        with transaction(con):
            for (modality, tgt), _ in table.groupby(["modality", "target"]):
                con.execute("DELETE FROM feature_associations WHERE cohort = ? AND modality = ? AND target = ?",
                            [cohort, modality, tgt])
            replace_rows(con, "feature_associations", table, {"run_id": run.run_id})
            finish_run(con, run, "ok")
    except BaseException:
        finish_run(con, run, "failed")
        raise
    shown = table.drop(columns=["cohort", "run_id"]).sort_values(["target", "p_value"], ignore_index=True)
    notes = _notes_from(caught)
    for tgt, part in shown.groupby("target", sort=True):
        notes.append(f"{tgt}: {len(part)} features, {int(part['significant'].sum())} significant "
                     f"(P < {alpha:g} and FDR q < {fdr:g})")
    preview = shown.groupby("target", sort=True).head(PREVIEW_ROWS).reset_index(drop=True)
    where = (f"the {PREVIEW_ROWS} smallest P per target of {len(shown)} rows; all of them: --csv FILE, or "
             f"radpath sql \"SELECT * FROM table_associations WHERE cohort = '{cohort}'\"")
    return Outcome(run.run_id, {"associations": shown}, notes,
                   previews={"associations": preview} if len(preview) < len(shown) else {},
                   where={"associations": where} if len(preview) < len(shown) else {})


def _training(con: duckdb.DuckDBPyConnection, cohort: str, frame: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    til = data.til_target(con, cohort)
    joined = frame.join(til, how="inner")
    complete, dropped = data.complete_cases(joined, what)
    note = f"{what}: {dropped} patients with missing values left out (complete cases: {len(complete)})"
    return complete, note if dropped else ""


def run_fit_signature(
    con: duckdb.DuckDBPyConnection, cohort: str, *, name: str = "signature", modalities: Sequence[str] = (),
    folds: int = 10, repeats: int = 100, min_frequency: float = 0.9, seed: int = 0, n_jobs: int = 1,
    full_path: bool = False, features: Sequence[str] = (), label: str | None = None,
) -> Outcome:
    """Repeated-CV LASSO selection + final OLS; saves the signature, its training predictions and the fold
    predictions of its LASSO fits (`cv_predictions`).

    Candidates: every feature of `modalities` (default mri), or the `features` codes / named sets. `label` is
    the readable name tables and figures print [default: 'Imaging signature (NAME)']."""
    params: dict[str, Any] = {"cohort": cohort, "name": name, "modalities": list(modalities), "folds": folds,
                              "repeats": repeats, "min_frequency": min_frequency, "seed": seed, "full_path": full_path}
    if features:
        params["features"] = list(features)
    if label:
        params["label"] = label
    require_cohort(con, cohort)
    matrix, owner, _ = candidate_matrix(con, cohort, modalities, features)  # bad input: no run recorded
    complete, note = _training(con, cohort, matrix, f"fit-signature on {cohort}")
    if len(complete) < max(folds, 10):  # checked again by LassoSignature.fit; here before a run is recorded
        raise StatsError(f"too few patients for {folds}-fold LASSO on {cohort}: {len(complete)} with a TIL reading "
                         f"and every feature (needs at least {max(folds, 10)})")
    run = _run(con, "fit-signature", params)
    try:
        X, y = complete.drop(columns=["til"]), complete["til"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            sig = LassoSignature(folds, repeats, min_frequency, seed, n_jobs,
                                 LassoSettings(full_path=full_path)).fit(X, y)
        predicted = sig.predict(X)
        artifact = {
            "label": label or default_label(name, modalities=[owner[c] for c in sig.selected_]),
            "features": [{"modality": owner[c], "code": c} for c in sig.selected_],
            "coefficients": sig.coef_.to_dict(), "intercept": sig.intercept_,
            "means": {c: float(sig.means_[c]) for c in sig.selected_},
            "sds": {c: float(sig.sds_[c]) for c in sig.selected_},
            "thresholds": learn_thresholds(predicted, y), "n": len(y), "params": params,
            "selection": sig.summary[["code", "frequency", "mean_coef", "selected"]].to_dict("records"),
            "r2": float(sig.ols_.rsquared),
        }
        with transaction(con):
            version = save_model(con, run, name=name, kind="signature", cohort=cohort, target="til",
                                 artifact=artifact, data_hash=data.data_hash(complete))
            record = load_model(con, name, version)
            sel = sig.summary.rename(columns={"ols_coef": "_ols"}).drop(columns="_ols")
            sel.insert(0, "modality", sel["code"].map(owner))
            sel.insert(0, "version", version)
            sel.insert(0, "model", name)
            sel["run_id"] = run.run_id
            replace_rows(con, "signature_selection", sel, {"model": name, "version": version})
            terms = _ols_rows(sig.ols_, name, version, run, "final")
            replace_rows(con, "model_terms", terms, {"model": name, "version": version})
            write_predictions(con, run, record, cohort, predicted)
            write_cv_predictions(con, run, name, version, cohort, sig.cv_predictions_)
            finish_run(con, run, "ok")
    except BaseException:
        finish_run(con, run, "failed")
        raise
    notes = [n for n in [note, *_notes_from(caught)] if n]
    r = pearson(predicted.to_numpy(), y.to_numpy())
    oof = sig.oof_.reindex(y.index.astype(str))
    r_cv = pearson(oof.to_numpy(), y.to_numpy())
    notes.append(f"saved model {name} v{version} ({artifact['label']}): {len(sig.selected_)} features, n = {len(y)}, "
                 f"r = {r.r:.3f} apparent (in-sample), {r_cv.r:.3f} cross-validated (out-of-fold LASSO predictions, "
                 f"mean of {repeats} repeats of {folds}-fold CV)")
    return Outcome(run.run_id, {"selection": sig.summary.head(30), "terms": terms[["term", "coef", "se", "p_value"]]},
                   notes)


def _ols_rows(res: Any, name: str, version: int, run: Run, fit: str) -> pd.DataFrame:
    ci = np.asarray(res.conf_int())
    return pd.DataFrame({
        "model": name, "version": version, "fit": fit,
        "term": ["intercept" if t == "const" else str(t) for t in res.params.index],
        "coef": np.asarray(res.params), "se": np.asarray(res.bse), "t_value": np.asarray(res.tvalues),
        "p_value": np.asarray(res.pvalues), "ci_low": ci[:, 0], "ci_high": ci[:, 1], "n": int(res.nobs),
        "r2": float(res.rsquared), "run_id": run.run_id,
    })


def run_fit_composite(
    con: duckdb.DuckDBPyConnection, cohort: str, *, signature: str, with_: Sequence[str] = ("cyt",),
    adjust: Sequence[str] = (), name: str = "composite", log_molecular: bool = True, label: str | None = None,
) -> Outcome:
    """Table 4 (univariate r, adjusted OLS) and the refitted composite saved as a model; when the signature has
    fold predictions, the composite refitted within the same folds (`cv_predictions`). `label` is the readable
    name [default: the signature's label + the molecular terms]."""
    params: dict[str, Any] = {"cohort": cohort, "signature": signature, "with": list(with_), "adjust": list(adjust),
                              "name": name, "log_molecular": log_molecular}
    if label:
        params["label"] = label
    require_cohort(con, cohort)
    codes = [data.MOLECULAR.get(w.lower(), w) for w in with_]
    for term, code in zip(with_, codes, strict=True):  # a bad --with fails before a run is recorded
        if not con.execute("SELECT count(*) FROM features WHERE cohort = ? AND modality = 'genomics' AND code = ?",
                           [cohort, code]).fetchone()[0]:  # type: ignore[index]
            raise StatsError(f"--with {term}: cohort {cohort} has no genomics feature {code}; molecular terms are "
                             f"cyt, tmb or a genomics feature code of the cohort (radpath cytolytic writes CYT; "
                             f"{data.features_it_has(con, cohort, ['genomics'])})")
    if len(set(codes)) < len(codes):
        raise StatsError(f"--with {', '.join(with_)}: a term is named twice")
    data.check_adjustments(adjust, codes)
    data.require_target(con, cohort, "til")
    sig = load_model(con, signature)
    if sig.cohort != cohort:
        raise StatsError(f"signature {signature} was trained on {sig.cohort}, not {cohort}")
    run = _run(con, "fit-composite", params)
    try:
        adjust_mol = [data.MOLECULAR[a.lower()] for a in adjust if a.lower() in data.MOLECULAR]
        clinical = [a for a in adjust if a.lower() not in data.MOLECULAR]
        features = [{"modality": "model", "code": sig.name}] + [{"modality": "genomics", "code": c} for c in codes]
        transforms = {c: "log2p1" for c in codes} if log_molecular else {}
        probe = ModelRecord(name, 0, "composite", cohort, "til", {"features": features, "transforms": transforms,
                            "components": {sig.name: {"name": sig.name, "version": sig.version}}}, "", run.run_id)
        terms = model_inputs(con, probe, cohort)
        extra = pd.DataFrame(index=terms.index)
        if adjust_mol:
            mol, _ = data.feature_matrix(con, cohort, modalities=["genomics"], codes=adjust_mol)
            for c in adjust_mol:
                extra[c] = np.log2(1 + mol[c].clip(lower=0)) if log_molecular else mol[c]
        if clinical:
            extra = extra.join(data.covariates(con, cohort, clinical), how="left")
        # the final model uses every patient with its terms; only the adjusted fit needs the covariates too
        til_all = data.til_target(con, cohort)
        flow = Flow(cohort, "fit-composite", name, data.included_ids(con, cohort))
        flow.keep("with a TIL reading", til_all.dropna().index)
        ids = sorted(flow.keep(f"with every term of the model ({', '.join(map(str, terms.columns))})",
                               terms.dropna().index))
        if not ids:
            raise StatsError(f"fit-composite on {cohort}: no patient has a TIL reading and all of "
                             f"{list(terms.columns)}")
        complete = terms.reindex(ids).join(extra.reindex(ids), how="left")
        til = til_all.reindex(ids).rename("til")
        if len(extra.columns):
            flow.keep("with every adjustment covariate (adjusted fit only)", complete.dropna().index)
        note = "; ".join(flow.notes())
        model = CompositeModel().fit(complete[terms.columns], til, complete[extra.columns] if len(extra.columns)
                                     else None)
        z = (complete[terms.columns] - model.means_) / model.sds_
        predicted = pd.Series(model.intercept_ + z.to_numpy() @ model.coef_[list(terms.columns)].to_numpy(),
                              index=complete.index)
        cv = refit_within_folds(read_cv_predictions(con, sig.name, sig.version, cohort), sig.name,
                                complete[terms.columns], til)
        artifact = {
            "label": label or default_label(name, parts=[sig.label, *codes]),
            "features": features, "transforms": transforms,
            "components": {sig.name: {"name": sig.name, "version": sig.version}},
            "coefficients": model.coef_.to_dict(), "intercept": model.intercept_,
            "means": model.means_.to_dict(), "sds": model.sds_.to_dict(),
            "thresholds": learn_thresholds(predicted, til), "n": len(til), "params": params,
        }
        with transaction(con):
            version = save_model(con, run, name=name, kind="composite", cohort=cohort, target="til",
                                 artifact=artifact, data_hash=data.data_hash(complete.join(til)))
            table = model.summary.copy()
            table.insert(0, "version", version)
            table.insert(0, "model", name)
            table["run_id"] = run.run_id
            replace_rows(con, "model_terms", table, {"model": name, "version": version})
            write_predictions(con, run, load_model(con, name, version), cohort, predicted)
            if len(cv):
                write_cv_predictions(con, run, name, version, cohort, cv)
            write_flow(con, run, flow)
            finish_run(con, run, "ok")
    except BaseException:
        finish_run(con, run, "failed")
        raise
    r = pearson(predicted.to_numpy(), til.to_numpy())
    notes = [n for n in [note] if n]
    formula = " + ".join(f"{model.coef_[c]:.3g} x z({c})" for c in terms.columns) + f" + {model.intercept_:.3g}"
    notes.append(f"saved model {name} v{version} ({artifact['label']}): TIL = {formula}; r = {r.r:.3f} apparent "
                 f"(in-sample, n = {len(til)})")
    if len(cv):
        oof = out_of_fold(cv)
        r_cv = pearson(oof.to_numpy(), til.reindex(oof.index).to_numpy())
        notes.append(f"cross-validated r = {r_cv.r:.3f} (n = {r_cv.n}): refitted within the {count_repeats(cv)} x "
                     f"{cv['fold'].nunique()} folds of {sig.name}'s LASSO on its fold predictions")
    else:
        notes.append(f"no cross-validated estimate: {sig.name} v{sig.version} has no fold predictions "
                     "(fitted before radpath stored them; refit it)")
    return Outcome(run.run_id, {"table4": table[["fit", "term", "coef", "se", "p_value", "ci_low", "ci_high"]]},
                   notes)


def run_apply(con: duckdb.DuckDBPyConnection, model_name: str, cohort: str, version: int | None = None) -> Outcome:
    """Score a cohort with a frozen model (training means/SDs and thresholds) and store the predictions.

    ``published:NAME`` applies a published model (radpath.stats.published), registering it first."""
    if is_published(model_name):
        published_model(model_name)  # unknown names fail before a run is recorded
        run = _run(con, "apply", {"model": model_name, "version": version, "cohort": cohort})
        try:
            with transaction(con):
                model = register_published(con, run, model_name)
        except BaseException:
            finish_run(con, run, "failed")
            raise
        inputs = None
    else:
        model = load_model(con, model_name, version)
        require_cohort(con, cohort)
        inputs = model_inputs(con, model, cohort)  # a cohort without the model's inputs: no run recorded
        run = _run(con, "apply", {"model": model.name, "version": model.version, "cohort": cohort})
    try:
        if inputs is None:
            inputs = model_inputs(con, model, cohort)
        predicted = predict(con, model, cohort)
        with transaction(con):
            frame = write_predictions(con, run, model, cohort, predicted)
            finish_run(con, run, "ok")
    except BaseException:
        finish_run(con, run, "failed")
        raise
    dropped = len(inputs) - len(predicted)
    notes = [f"{dropped} patients of {cohort} lack an input of {model.name} and were left out"] if dropped else []
    counts = frame["til_group"].value_counts().reindex(["low", "intermediate", "high"], fill_value=0)
    notes.append(f"{model.name} v{model.version} on {cohort}: {len(frame)} patients; groups " +
                 ", ".join(f"{k} {v}" for k, v in counts.items()))
    if "card" in model.artifact:
        notes.append(f"model card: {model.artifact['card']}")
    shown = frame.drop(columns=["run_id"])
    long = len(shown) > PREVIEW_ROWS
    where = (f"the first {PREVIEW_ROWS} of {len(shown)} patients; all of them: --csv FILE, or radpath sql "
             f"\"SELECT * FROM model_predictions WHERE model = '{model.name}' AND version = {model.version} "
             f"AND cohort = '{cohort}'\"")
    return Outcome(run.run_id, {"predictions": shown}, notes,
                   previews={"predictions": shown.head(PREVIEW_ROWS)} if long else {},
                   where={"predictions": where} if long else {})


def _evaluation_rows(cohort: str, models: Sequence[ModelRecord], common: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The stored predictions of an evaluation: every model on the same patients (`evaluation_predictions`)."""
    cats = til_category(common["til"])
    return pd.concat([pd.DataFrame({
        "cohort": cohort, "evaluation": models[0].name, "model": m.name, "version": m.version,
        "patient_id": common.index.astype(str), "observed_til": common["til"].to_numpy(dtype=float),
        "til_category": cats.to_numpy(), "predicted": common[m.name].to_numpy(dtype=float),
        "below_zero": common[m.name].to_numpy(dtype=float) < 0, "run_id": run_id}) for m in models],
        ignore_index=True)


def _out_of_fold(con: duckdb.DuckDBPyConnection, model: ModelRecord, cohort: str,
                 ids: Sequence[str]) -> tuple[pd.Series, int]:
    """A model's out-of-fold predictions on `ids` and the repeats averaged (empty for a model not fitted on
    `cohort` or without stored fold predictions)."""
    if model.cohort != cohort:
        return pd.Series(dtype=float), 0
    folds = read_cv_predictions(con, model.name, model.version, cohort)
    return out_of_fold(folds).reindex(list(ids)).dropna(), count_repeats(folds)


def _cv_auc(oof: tuple[pd.Series, int], cats: pd.Series, lower: str, upper: str,
            min_per_class: int) -> dict[str, Any]:
    """The cross-validated AUC (DeLong CI) of one category pair from out-of-fold predictions, or NULLs."""
    predicted, n_repeats = oof
    pair = cats.reindex(predicted.index)
    keep = pair.isin([lower, upper])
    y = (pair[keep] == upper).astype(int).to_numpy()
    if not len(y) or min(int(y.sum()), int(len(y) - y.sum())) < min_per_class:
        return {"cv_auc": None, "cv_auc_ci_low": None, "cv_auc_ci_high": None, "cv_n": None, "cv_repeats": None}
    ci = auc_ci(y, predicted[keep].to_numpy(), min_per_class=min_per_class)
    return {"cv_auc": ci.auc, "cv_auc_ci_low": ci.ci_low, "cv_auc_ci_high": ci.ci_high, "cv_n": len(y),
            "cv_repeats": n_repeats}


def run_evaluate(
    con: duckdb.DuckDBPyConnection, cohort: str, model_name: str, compare: Sequence[str] = (), *,
    min_per_class: int = 2,
) -> Outcome:
    """Correlation with TIL, Table 3 metrics per category pair, DeLong comparisons with other models."""
    for i, given in enumerate(compare):
        if given == model_name or given in compare[:i]:
            raise StatsError(f"--compare {given}: model {given} is evaluated already "
                             f"({'--model' if given == model_name else 'named twice'})")
    models = [load_model(con, m) for m in [model_name, *compare]]
    require_cohort(con, cohort)
    data.require_target(con, cohort, "til")  # no TIL readings: no run recorded
    run = _run(con, "evaluate", {"cohort": cohort, "models": [f"{m.name}:v{m.version}" for m in models],
                                 "min_per_class": min_per_class})
    notes: list[str] = []
    try:
        til = data.til_target(con, cohort)
        preds = {m.name: predict(con, m, cohort) for m in models}
        # one set of patients for every number of the evaluation: those with a TIL reading and every prediction
        flow = Flow(cohort, "evaluate", models[0].name, data.included_ids(con, cohort))
        ids = flow.keep("with a TIL reading", til.dropna().index)
        for m in models:
            ids = flow.keep(f"with a prediction of {m.label}", preds[m.name].dropna().index)
        notes += flow.notes()
        order = sorted(ids)
        common = pd.concat([preds[m.name].reindex(order) for m in models] + [til.reindex(order)], axis=1)
        stored = _evaluation_rows(cohort, models, common, run.run_id)
        below = stored.groupby("model")["below_zero"].sum()
        notes += [f"{m}: {int(k)} predictions below 0 % (flagged, not clipped)" for m, k in below.items() if k]
        corr_rows, metric_rows, cmp_rows = [], [], []
        for m in models:
            c = pearson(common[m.name].to_numpy(), common["til"].to_numpy())
            corr_rows.append({"model": m.name, "version": m.version, "cohort": cohort, "n": c.n, "r": c.r,
                              "ci_low": c.ci_low, "ci_high": c.ci_high, "p_value": c.p_value})
        cats = til_category(common["til"])
        oof = {m.name: _out_of_fold(con, m, cohort, order) for m in models}
        for pair, (lower, upper) in PAIRS.items():
            mask = cats.isin([lower, upper]).to_numpy()
            y = (cats[mask] == upper).astype(int).to_numpy()
            n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
            if min(n_pos, n_neg) < min_per_class:
                notes.append(f"{pair} skipped on {cohort}: {n_neg} {lower} and {n_pos} {upper} patients "
                             f"(need at least {min_per_class} of each)")
                continue
            for m in models:
                s = common.loc[mask, m.name].to_numpy()
                ci = auc_ci(y, s, min_per_class=min_per_class)
                if cohort == m.cohort:
                    op, source = youden_threshold(y, s), "youden"
                else:
                    op = operating_point(y, s, m.artifact["thresholds"][pair])
                    source = "fixed" if m.kind == "published" else "model"
                metric_rows.append({"model": m.name, "version": m.version, "cohort": cohort, "comparison": pair,
                                    "n_negative": n_neg, "n_positive": n_pos, "auc": ci.auc,
                                    "auc_ci_low": ci.ci_low, "auc_ci_high": ci.ci_high,
                                    "p_value": mann_whitney_p(y, s), "threshold": op.threshold,
                                    "threshold_source": source, "sensitivity": op.sensitivity,
                                    "specificity": op.specificity, "accuracy": op.accuracy,
                                    **_cv_auc(oof[m.name], cats, lower, upper, min_per_class)})
            for other in models[1:]:
                d = delong_test(y, common.loc[mask, models[0].name], common.loc[mask, other.name],
                                min_per_class=min_per_class)
                cmp_rows.append({"cohort": cohort, "comparison": pair, "model_a": models[0].name,
                                 "version_a": models[0].version, "model_b": other.name, "version_b": other.version,
                                 "n": len(y), "auc_a": d.auc_a.auc, "auc_b": d.auc_b.auc, "z": d.z,
                                 "p_value": d.p_value})
        corr, metrics, cmp_ = pd.DataFrame(corr_rows), pd.DataFrame(metric_rows), pd.DataFrame(cmp_rows)
        for frame in (corr, metrics, cmp_):
            frame["run_id"] = run.run_id
        with transaction(con):
            replace_rows(con, "evaluation_predictions", stored, {"cohort": cohort, "evaluation": models[0].name})
            write_flow(con, run, flow)
            for m in models:
                key = {"model": m.name, "version": m.version, "cohort": cohort}
                replace_rows(con, "model_correlation", corr[corr["model"] == m.name], key)
                part = metrics[metrics["model"] == m.name] if len(metrics) else metrics
                replace_rows(con, "classification_metrics", part, key)
            for other in models[1:]:
                key2 = {"cohort": cohort, "model_a": models[0].name, "version_a": models[0].version,
                        "model_b": other.name, "version_b": other.version}
                part = cmp_[cmp_["model_b"] == other.name] if len(cmp_) else cmp_
                replace_rows(con, "auc_comparisons", part, key2)
            finish_run(con, run, "ok")
    except BaseException:
        finish_run(con, run, "failed")
        raise
    tables = {"correlation": corr.drop(columns=["run_id", "cohort"]),
              "classification": metrics.drop(columns=["run_id", "cohort"], errors="ignore")}
    if len(cmp_):
        tables["delong"] = cmp_.drop(columns=["run_id", "cohort"])
    return Outcome(run.run_id, tables, notes)
