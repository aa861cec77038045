"""ComBat against neuroCombat 0.2.12 (an independent implementation, computed here on the same data),
plus hand-checkable properties: matched moments after harmonisation, covariate effects kept."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from radpath.errors import GenomicsError
from radpath.genomics.combat import combat


def simulated(seed: int = 0, genes: int = 60) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    batch = np.array(["a"] * 25 + ["b"] * 20 + ["c"] * 15)
    group = np.where(rng.random(len(batch)) < np.where(batch == "b", 0.7, 0.3), "y", "x")
    x = rng.normal(6.0, 1.0, (genes, len(batch))) + rng.normal(0, 2, (genes, 1))
    x[:, batch == "b"] = x[:, batch == "b"] * 1.6 - 1.0 + rng.normal(0, 0.5, (genes, 1))
    x[:, batch == "c"] += 2.0
    x += 1.0 * (group == "y")
    samples = [f"s{i:02d}" for i in range(len(batch))]
    data = pd.DataFrame(x, index=[f"g{i}" for i in range(genes)], columns=samples)
    return data, pd.Series(batch, index=samples), pd.DataFrame({"group": group}, index=samples)


def neurocombat(data: pd.DataFrame, batch: pd.Series, covars: pd.DataFrame | None, ref: str | None) -> np.ndarray:
    from neuroCombat import neuroCombat

    frame = pd.DataFrame({"batch": batch.to_numpy()})
    categorical = []
    if covars is not None:
        frame["group"] = covars["group"].to_numpy()
        categorical = ["group"]
    with contextlib.redirect_stdout(io.StringIO()):
        out = neuroCombat(data.to_numpy(dtype=float).copy(), frame, "batch", categorical_cols=categorical,
                          ref_batch=ref)
    return np.asarray(out["data"])


@pytest.mark.parametrize("with_covariate", [False, True])
def test_matches_neurocombat_without_reference(with_covariate: bool) -> None:
    data, batch, covars = simulated()
    cov = covars if with_covariate else None
    adjusted, fit = combat(data, batch, cov)
    np.testing.assert_allclose(adjusted.to_numpy(), neurocombat(data, batch, cov, None), rtol=0, atol=1e-9)
    assert fit.batches == ["a", "b", "c"]


def test_matches_neurocombat_with_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # neuroCombat's reference path calls the removed np.int; restore it for the comparison only
    monkeypatch.setattr(np, "int", int, raising=False)
    data, batch, covars = simulated(seed=1)
    adjusted, fit = combat(data, batch, covars, reference_batch="b")
    np.testing.assert_allclose(adjusted.to_numpy(), neurocombat(data, batch, covars, "b"), rtol=0, atol=1e-9)
    reference = batch == "b"
    np.testing.assert_array_equal(adjusted.loc[:, reference].to_numpy(), data.loc[:, reference].to_numpy())
    assert (fit.gamma_star["b"] == 0).all() and (fit.delta_star["b"] == 1).all()


def test_batches_take_the_reference_moments() -> None:
    rng = np.random.default_rng(5)
    genes, n = 200, 150
    ref = rng.normal(5, 1, (genes, n)) * rng.uniform(0.5, 1.5, (genes, 1)) + rng.normal(0, 2, (genes, 1))
    other = ref[:, rng.permutation(n)] + rng.normal(0, 0.05, (genes, n))
    other = (other - 3.0) * 0.6  # another platform: shifted and compressed
    data = pd.DataFrame(np.hstack([ref, other]), columns=[f"s{i}" for i in range(2 * n)])
    batch = pd.Series(["ref"] * n + ["new"] * n, index=data.columns)
    adjusted, _ = combat(data, batch, reference_batch="ref")
    a, b = adjusted.iloc[:, :n], adjusted.iloc[:, n:]
    np.testing.assert_allclose(b.mean(axis=1), a.mean(axis=1), atol=0.05)
    np.testing.assert_allclose(b.var(axis=1), a.var(axis=1), rtol=0.1)


def test_covariate_effect_is_kept() -> None:
    data, batch, covars = simulated(seed=2)
    adjusted, fit = combat(data, batch, covars)
    y = (covars["group"] == "y").to_numpy()
    for name in ("a", "b", "c"):
        inside = (batch == name).to_numpy()
        effect = adjusted.loc[:, inside & y].mean(axis=1) - adjusted.loc[:, inside & ~y].mean(axis=1)
        assert effect.mean() == pytest.approx(1.0, abs=0.15)
    assert fit.beta.columns.tolist() == ["group=y"]
    assert fit.beta["group=y"].mean() == pytest.approx(1.0, abs=0.1)


def test_parameters_apply_to_new_samples_and_fit_is_deterministic() -> None:
    data, batch, covars = simulated(seed=3)
    adjusted, fit = combat(data, batch, covars, reference_batch="a")
    again, _ = combat(data, batch, covars, reference_batch="a")
    pd.testing.assert_frame_equal(adjusted, again)
    new = data.loc[:, batch == "c"]
    applied = fit.apply(new, "c", covars)
    np.testing.assert_allclose(applied.to_numpy(), adjusted.loc[:, new.columns].to_numpy(), atol=1e-10)
    params = fit.parameters()
    assert len(params) == 3 * len(data) and set(params["batch"]) == {"a", "b", "c"}
    with pytest.raises(GenomicsError, match="ComBat was not fitted on batch 'z'"):
        fit.apply(new, "z")


def test_bad_input() -> None:
    data, batch, covars = simulated()
    single = batch.copy()
    single.iloc[0] = "lonely"
    with pytest.raises(GenomicsError, match="batch 'lonely' has a single sample"):
        combat(data, single)
    with pytest.raises(GenomicsError, match="at least two batches"):
        combat(data, pd.Series("a", index=data.columns))
    nan = data.copy()
    nan.iloc[3, 4] = np.nan
    with pytest.raises(GenomicsError, match="gene g3 has missing values"):
        combat(nan, batch)
    with pytest.raises(GenomicsError, match="reference batch 'q' is not among"):
        combat(data, batch, reference_batch="q")
    confounded = pd.DataFrame({"group": batch.to_numpy()}, index=data.columns)
    with pytest.raises(GenomicsError, match="confounded with batch"):
        combat(data, batch, confounded)
    constant = data.copy()
    constant.iloc[0] = 1.0
    with pytest.raises(GenomicsError, match="gene g0 has no residual variance"):
        combat(constant, batch)
