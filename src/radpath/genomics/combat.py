"""ComBat harmonisation (Johnson, Li & Rabinovic, Biostatistics 2007): parametric empirical Bayes.

The algorithm is neuroCombat's (Fortin et al.; version 0.2.12), re-implemented in float64 so that the
reference-batch path works on current numpy (neuroCombat's uses the removed `np.int`). For gene g,
sample j of batch i: ``x = alpha_g + X beta_g + gamma_ig + sqrt(delta_ig) eps``. Steps:

1. Least squares on the design [batch one-hots | covariates] gives B_hat. The grand mean alpha_g is the
   batch-size-weighted mean of the batch coefficients, or with a reference batch that batch's coefficient
   (its one-hot column is set to all ones, so the other batches' coefficients are differences from it).
   var_pooled is the mean squared residual over all samples (reference: over the reference samples).
2. Standardise: z = (x - alpha_g - X beta_g) / sqrt(var_pooled_g).
3. gamma_hat, delta_hat per batch and gene; priors gamma ~ N(gamma_bar, t2), delta ~ InvGamma(a, b) by
   moments across genes; posterior gamma*, delta* by the iterative solution (relative change < 1e-4).
   With a reference batch its gamma* = 0 and delta* = 1 and its data are returned unchanged.
4. Adjusted = (z - gamma*) / sqrt(delta*) * sqrt(var_pooled) + alpha_g + X beta_g.

`CombatFit` keeps every parameter (per batch and gene gamma*/delta*, alpha, var_pooled, beta) so new
samples of a known batch can be adjusted later with `CombatFit.apply` (stored in `combat_parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radpath.errors import GenomicsError

CONVERGENCE = 1e-4
MAX_ITERATIONS = 10_000


@dataclass
class CombatFit:
    """Fitted ComBat parameters (frames indexed by gene; gamma/delta have one column per batch)."""

    batches: list[str]
    reference_batch: str | None
    grand_mean: pd.Series                      # alpha_g
    var_pooled: pd.Series                      # sigma_g^2
    beta: pd.DataFrame                         # genes x covariate design columns
    gamma_star: pd.DataFrame                   # genes x batches
    delta_star: pd.DataFrame                   # genes x batches
    gamma_hat: pd.DataFrame
    delta_hat: pd.DataFrame
    covariate_columns: list[str] = field(default_factory=list)
    covariate_levels: dict[str, list[str]] = field(default_factory=dict)

    def parameters(self) -> pd.DataFrame:
        """Long table: batch, gene, gamma_hat, delta_hat, gamma_star, delta_star, grand_mean, var_pooled."""
        rows = []
        for batch in self.batches:
            rows.append(pd.DataFrame({
                "batch": batch, "gene": self.grand_mean.index,
                "gamma_hat": self.gamma_hat[batch].to_numpy(), "delta_hat": self.delta_hat[batch].to_numpy(),
                "gamma_star": self.gamma_star[batch].to_numpy(), "delta_star": self.delta_star[batch].to_numpy(),
                "grand_mean": self.grand_mean.to_numpy(), "var_pooled": self.var_pooled.to_numpy(),
            }))
        return pd.concat(rows, ignore_index=True)

    def apply(self, data: pd.DataFrame, batch: str, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Adjust new samples (genes x samples, same genes) of a batch seen in the fit."""
        if batch not in self.batches:
            raise GenomicsError(f"ComBat was not fitted on batch {batch!r}; known batches {self.batches}")
        missing = self.grand_mean.index.difference(data.index)
        if len(missing):
            raise GenomicsError(f"ComBat apply: gene {missing[0]} of the fit is missing ({len(missing)} genes)")
        x = data.loc[self.grand_mean.index].to_numpy(dtype=float)
        design, _ = _covariate_design(covariates, data.columns, self.covariate_levels)
        mod = (design @ self.beta.to_numpy().T).T if design.shape[1] else 0.0
        alpha = self.grand_mean.to_numpy()[:, None]
        sd = np.sqrt(self.var_pooled.to_numpy())[:, None]
        z = (x - alpha - mod) / sd
        gamma = self.gamma_star[batch].to_numpy()[:, None]
        adjusted = (z - gamma) / np.sqrt(self.delta_star[batch].to_numpy())[:, None]
        out = adjusted * sd + alpha + mod
        if batch == self.reference_batch:
            out = x
        return pd.DataFrame(out, index=self.grand_mean.index, columns=data.columns)


def _covariate_design(
    covariates: pd.DataFrame | None, samples: pd.Index, levels: dict[str, list[str]] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Covariate design columns and their names: categorical -> one-hot without the first (sorted) level
    (named covariate=level); numeric as is."""
    if covariates is None or covariates.shape[1] == 0:
        return np.zeros((len(samples), 0)), []
    missing = pd.Index(samples).difference(covariates.index)
    if len(missing):
        raise GenomicsError(f"ComBat: sample {missing[0]} has no covariate values")
    frame = covariates.loc[samples]
    columns = []
    names: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if column.isna().any():
            raise GenomicsError(f"ComBat covariate {name!r} is missing for sample {column[column.isna()].index[0]}")
        if levels is not None and name in levels or not pd.api.types.is_numeric_dtype(column):
            known = (levels or {}).get(name) or sorted(column.astype(str).unique())
            for level in known[1:]:
                columns.append((column.astype(str) == level).to_numpy(dtype=float))
                names.append(f"{name}={level}")
        else:
            columns.append(column.to_numpy(dtype=float))
            names.append(str(name))
    return (np.column_stack(columns) if columns else np.zeros((len(samples), 0))), names


def _aprior(delta_hat: np.ndarray) -> float:
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    return float((2 * s2 + m**2) / s2)


def _bprior(delta_hat: np.ndarray) -> float:
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    return float((m * s2 + m**3) / s2)


def _iterate(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float, a: float, b: float,
             batch: str) -> tuple[np.ndarray, np.ndarray]:
    n = sdat.shape[1]
    g_old, d_old = g_hat.copy(), d_hat.copy()
    for _ in range(MAX_ITERATIONS):
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        sum2 = ((sdat - g_new[:, None]) ** 2).sum(axis=1)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        # relative change divided by the signed old value, as in sva's R ComBat and neuroCombat
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.nanmax(np.abs(g_new - g_old) / g_old), np.nanmax(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if change <= CONVERGENCE:
            return g_new, d_new
    raise GenomicsError(f"ComBat: the empirical Bayes estimates of batch {batch!r} did not converge")


def combat(
    data: pd.DataFrame,
    batch: pd.Series,
    covariates: pd.DataFrame | None = None,
    reference_batch: str | None = None,
) -> tuple[pd.DataFrame, CombatFit]:
    """Harmonise `data` (genes x samples, log scale) across `batch` (sample -> batch label).

    `covariates` (samples x columns; strings are categorical) are biological effects ComBat keeps.
    With `reference_batch` that batch is left unchanged and the others are mapped onto it.
    Returns the adjusted genes x samples frame and the fitted parameters.
    """
    if data.isna().to_numpy().any():
        gene = data.index[data.isna().any(axis=1)][0]
        raise GenomicsError(f"ComBat: gene {gene} has missing values; remove or impute them first")
    labels = batch.reindex(data.columns)
    if labels.isna().any():
        raise GenomicsError(f"ComBat: sample {labels[labels.isna()].index[0]} has no batch label")
    labels = labels.astype(str)
    batches = sorted(labels.unique())
    if len(batches) < 2:
        raise GenomicsError(f"ComBat needs at least two batches; found {batches}")
    counts = labels.value_counts()
    if (counts < 2).any():
        single = counts[counts < 2].index[0]
        raise GenomicsError(f"ComBat: batch {single!r} has a single sample; its variance cannot be estimated")
    if data.shape[0] < 2:
        raise GenomicsError("ComBat needs at least two genes to estimate its priors")
    if reference_batch is not None and reference_batch not in batches:
        raise GenomicsError(f"ComBat: reference batch {reference_batch!r} is not among the batches {batches}")
    x = data.to_numpy(dtype=float)
    n_genes, n_samples = x.shape
    n_batch = len(batches)
    index = [np.flatnonzero(labels.to_numpy() == b) for b in batches]
    ref = batches.index(reference_batch) if reference_batch is not None else None

    onehot = np.zeros((n_samples, n_batch))
    for i, idx in enumerate(index):
        onehot[idx, i] = 1.0
    if ref is not None:
        onehot[:, ref] = 1.0
    levels = {}
    if covariates is not None:
        for name in covariates.columns:
            if not pd.api.types.is_numeric_dtype(covariates[name]):
                levels[name] = sorted(covariates.loc[data.columns, name].astype(str).unique())
    cov, covariate_columns = _covariate_design(covariates, data.columns, levels)
    design = np.hstack([onehot, cov])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise GenomicsError("ComBat: covariates are confounded with batch (the design matrix is singular)")

    b_hat = np.linalg.solve(design.T @ design, design.T @ x.T)          # (p, genes)
    sizes = np.array([len(i) for i in index], dtype=float)
    grand_mean = b_hat[ref] if ref is not None else (sizes / n_samples) @ b_hat[:n_batch]
    fitted = design @ b_hat                                               # samples x genes
    if ref is not None:
        var_pooled = ((x[:, index[ref]] - fitted[index[ref]].T) ** 2).mean(axis=1)
    else:
        var_pooled = ((x - fitted.T) ** 2).mean(axis=1)
    if (var_pooled == 0).any():
        gene = data.index[var_pooled == 0][0]
        raise GenomicsError(f"ComBat: gene {gene} has no residual variance; drop constant genes first")
    mod_mean = (cov @ b_hat[n_batch:]).T if cov.shape[1] else np.zeros_like(x)
    sd = np.sqrt(var_pooled)[:, None]
    s_data = (x - grand_mean[:, None] - mod_mean) / sd

    gamma_hat = np.linalg.solve(onehot.T @ onehot, onehot.T @ s_data.T)   # (batches, genes)
    delta_hat = np.array([s_data[:, idx].var(axis=1, ddof=1) for idx in index])
    delta_hat[delta_hat == 0] = 1.0
    gamma_bar = gamma_hat.mean(axis=1)
    t2 = gamma_hat.var(axis=1, ddof=1)
    gamma_star = np.empty_like(gamma_hat)
    delta_star = np.empty_like(delta_hat)
    for i, idx in enumerate(index):
        gamma_star[i], delta_star[i] = _iterate(
            s_data[:, idx], gamma_hat[i], delta_hat[i], float(gamma_bar[i]), float(t2[i]),
            _aprior(delta_hat[i]), _bprior(delta_hat[i]), batches[i],
        )
    if ref is not None:
        gamma_star[ref] = 0.0
        delta_star[ref] = 1.0

    adjusted = s_data.copy()
    for i, idx in enumerate(index):
        shift = onehot[idx] @ gamma_star                                  # (n_i, genes)
        adjusted[:, idx] = (s_data[:, idx] - shift.T) / np.sqrt(delta_star[i])[:, None]
    adjusted = adjusted * sd + grand_mean[:, None] + mod_mean
    if ref is not None:
        adjusted[:, index[ref]] = x[:, index[ref]]
    if not np.isfinite(adjusted).all():
        raise GenomicsError("ComBat produced non-finite values; check for genes with tiny variance")

    genes = data.index
    fit = CombatFit(
        batches=batches,
        reference_batch=reference_batch,
        grand_mean=pd.Series(grand_mean, index=genes),
        var_pooled=pd.Series(var_pooled, index=genes),
        beta=pd.DataFrame(b_hat[n_batch:].T, index=genes, columns=covariate_columns),
        gamma_star=pd.DataFrame(gamma_star.T, index=genes, columns=batches),
        delta_star=pd.DataFrame(delta_star.T, index=genes, columns=batches),
        gamma_hat=pd.DataFrame(gamma_hat.T, index=genes, columns=batches),
        delta_hat=pd.DataFrame(delta_hat.T, index=genes, columns=batches),
        covariate_columns=covariate_columns,
        covariate_levels=levels,
    )
    return pd.DataFrame(adjusted, index=genes, columns=data.columns), fit
