"""Survival primitives against published R `survival` output and independent implementations.

Golden values (R output, to the digits R prints):

* Rossi recidivism data (lifelines `load_rossi`, the data of R's `carData::Rossi`):
  J. Fox & S. Weisberg, "Cox Proportional-Hazards Regression for Survival Data in R", appendix to
  An R Companion to Applied Regression, 2nd ed. (2011), `summary(coxph(Surv(week, arrest) ~ fin + age +
  race + wexp + mar + paro + prio, data = Rossi))`: n = 432, 114 events, likelihood-ratio test 33.27 on 7 df.
  R's factors are `raceother` and `marnot married`; lifelines codes race = 1 for black and mar = 1 for
  married, i.e. the opposite levels, so those two coefficients flip sign (same magnitude, SE and P).
* NCCTG lung cancer data (lifelines `load_lung`, R's `survival::lung`; status recoded 0/1):
  `survdiff(Surv(time, status) ~ sex, data = lung)`: O = 112 / 53, E = 91.6 / 73.4, Chisq = 10.3 on 1 df,
  p = 0.00131 (survival 2.x prints p to 3 significant digits);
  `coxph(Surv(time, status) ~ sex, data = lung)`: coef -0.5310, se 0.1672, z -3.176, p 0.00149,
  Concordance = 0.579; `coxph(... ~ age + sex)`: age 0.017045 (se 0.009223, p 0.0646), sex -0.513219
  (se 0.167458, p 0.00218);
  `survfit(Surv(time, status) ~ 1, data = lung)`: n 228, events 165, median 310, 0.95LCL 285, 0.95UCL 363;
  by sex: 270 (212, 310) and 426 (348, 550); `summary(fit, times = 365.25)`: n.risk 65, survival 0.409,
  std.err 0.0358, 95 % CI 0.345-0.486 (as printed in E. C. Zabor, "Survival analysis in R" tutorial,
  survival 3.x).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung, load_rossi
from scipy import stats as sps

from radpath.errors import StatsError
from radpath.stats import survival as sv
from radpath.stats.survival_validation import assign_groups


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


# ------------------------------------------------------------------------------------------ R goldens
def test_cox_rossi_matches_fox_weisberg_r_output() -> None:
    rossi = load_rossi()
    covariates = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    result = sv.cox(rossi, "week", "arrest", covariates)
    # covariate: (coef, se, z, p) as R prints them; race and mar with R's sign flipped (see module docstring)
    r = {
        "fin": (-0.37942, 0.19138, -1.983, 0.04742),
        "age": (-0.05744, 0.02200, -2.611, 0.00903),
        "race": (0.31390, 0.30799, 1.019, 0.30812),
        "wexp": (-0.14980, 0.21222, -0.706, 0.48029),
        "mar": (-0.43370, 0.38187, -1.136, 0.25606),
        "paro": (-0.08487, 0.19576, -0.434, 0.66461),
        "prio": (0.09150, 0.02865, 3.194, 0.00140),
    }
    assert (result.n, result.n_events) == (432, 114)
    for name, (coef, se, z, p) in r.items():
        row = result.row(name)
        assert row["coef"] == pytest.approx(coef, abs=5e-6), name
        assert row["se"] == pytest.approx(se, abs=5e-6), name
        assert row["z"] == pytest.approx(z, abs=5e-4), name
        assert row["p"] == pytest.approx(p, abs=5e-6), name
        assert row["hr"] == pytest.approx(math.exp(coef), rel=1e-4)
        assert row["hr_lower"] == pytest.approx(math.exp(coef - 1.959964 * se), rel=1e-4)
    assert result.log_likelihood_ratio == pytest.approx(33.27, abs=5e-3)
    assert result.lr_df == 7


def test_logrank_lung_sex_matches_r_survdiff(lung: pd.DataFrame) -> None:
    result = sv.logrank(lung["time"], lung["status"], lung["sex"])
    assert result.statistic == pytest.approx(10.3, abs=0.05)
    assert result.p == pytest.approx(0.00131, abs=5e-6)
    assert result.df == 1 and result.estimable and result.n == 228 and result.n_events == 165
    groups = result.groups.set_index("group")
    assert groups.loc[1, "observed"] == 112 and groups.loc[2, "observed"] == 53
    assert groups.loc[1, "expected"] == pytest.approx(91.6, abs=0.05)
    assert groups.loc[2, "expected"] == pytest.approx(73.4, abs=0.05)


def test_cox_lung_matches_r_coxph_and_concordance(lung: pd.DataFrame) -> None:
    one = sv.cox(lung, "time", "status", ["sex"]).row("sex")
    assert one["coef"] == pytest.approx(-0.5310, abs=5e-5)
    assert one["se"] == pytest.approx(0.1672, abs=5e-5)
    assert one["z"] == pytest.approx(-3.176, abs=5e-4)
    assert one["p"] == pytest.approx(0.00149, abs=5e-6)
    two = sv.cox(lung, "time", "status", ["age", "sex"])
    assert two.row("age")["coef"] == pytest.approx(0.017045, abs=5e-7)
    assert two.row("age")["se"] == pytest.approx(0.009223, abs=5e-7)
    assert two.row("age")["p"] == pytest.approx(0.0646, abs=5e-5)
    assert two.row("sex")["coef"] == pytest.approx(-0.513219, abs=5e-6)
    assert two.row("sex")["se"] == pytest.approx(0.167458, abs=5e-7)
    assert two.row("sex")["p"] == pytest.approx(0.00218, abs=5e-6)
    # R's concordance of the linear predictor; as a survival score (higher = longer) that is +sex
    c = sv.concordance(lung["time"], lung["status"], lung["sex"], n_boot=50, seed=1)
    assert c.c == pytest.approx(0.579, abs=5e-4)
    assert c.ci_lower < c.c < c.ci_upper


def test_km_lung_matches_r_survfit(lung: pd.DataFrame) -> None:
    fit = sv.km(lung["time"], lung["status"])
    m = fit.medians.iloc[0]
    assert (m["n"], m["n_events"], m["median"], m["median_lower"], m["median_upper"]) == (228, 165, 310, 285, 363)
    at_year = fit.table[fit.table["time"] <= 365.25].iloc[-1]
    assert at_year["survival"] == pytest.approx(0.409, abs=5e-4)
    assert at_year["std_err"] == pytest.approx(0.0358, abs=5e-5)
    assert at_year["ci_lower"] == pytest.approx(0.345, abs=5e-4)
    assert at_year["ci_upper"] == pytest.approx(0.486, abs=5e-4)
    assert int(fit.at_risk([365.25]).iloc[0, 0]) == 65
    by_sex = sv.km(lung["time"], lung["status"], lung["sex"]).medians.set_index("group")
    assert tuple(by_sex.loc[1, ["median", "median_lower", "median_upper"]]) == (270, 212, 310)
    assert tuple(by_sex.loc[2, ["median", "median_lower", "median_upper"]]) == (426, 348, 550)


# ------------------------------------------------------------------------------------------ independent references
def _logrank_reference(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> tuple[float, int]:
    """Textbook k-group log-rank: U = O - E, V = sum_t d (n-d)/(n-1) [diag(n_g/n) - n_g n_h / n^2]."""
    levels = sorted(set(group))
    k = len(levels)
    u, v = np.zeros(k), np.zeros((k, k))
    for t in np.unique(time[event == 1]):
        risk = time >= t
        n = risk.sum()
        d = event[time == t].sum()
        ng = np.array([(risk & (group == g)).sum() for g in levels], dtype=float)
        dg = np.array([event[(time == t) & (group == g)].sum() for g in levels], dtype=float)
        u += dg - d * ng / n
        if n > 1:
            v += d * (n - d) / (n - 1) * (np.diag(ng / n) - np.outer(ng, ng) / n**2)
    stat = float(u[:-1] @ np.linalg.solve(v[:-1, :-1], u[:-1]))
    return stat, k - 1


def test_k_group_logrank_matches_textbook_formula(lung: pd.DataFrame) -> None:
    data = lung.dropna(subset=["ph.ecog"])
    data = data[data["ph.ecog"] < 3]  # one patient with ECOG 3
    result = sv.logrank(data["time"], data["status"], data["ph.ecog"])
    stat, df = _logrank_reference(data["time"].to_numpy(), data["status"].to_numpy(), data["ph.ecog"].to_numpy())
    assert result.df == df == 2
    assert result.statistic == pytest.approx(stat, rel=1e-9)
    assert result.p == pytest.approx(sps.chi2.sf(stat, 2), rel=1e-9)
    assert result.groups["observed"].sum() == data["status"].sum()
    assert result.groups["expected"].sum() == pytest.approx(data["status"].sum())


def test_km_with_ties_and_zero_times_matches_hand_computation_and_lifelines() -> None:
    time = [0, 0, 1, 1, 1, 2, 3, 3, 5, 8]
    event = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0]
    fit = sv.km(time, event).table
    # by hand: t=0: 10 at risk, 1 event -> 0.9; t=1: 8 at risk, 2 events -> 0.9*6/8; t=2: 5 at risk -> *4/5;
    # t=3: 4 at risk, 1 event -> *3/4; t=5: 2 at risk -> *1/2
    expected = {0: 0.9, 1: 0.675, 2: 0.54, 3: 0.405, 5: 0.2025, 8: 0.2025}
    for t, s in expected.items():
        assert fit.loc[fit["time"] == t, "survival"].item() == pytest.approx(s, abs=1e-12)
    assert fit["n_at_risk"].tolist() == [10, 8, 5, 4, 2, 1]
    assert fit["n_censored"].tolist() == [1, 1, 0, 1, 0, 1]
    reference = KaplanMeierFitter().fit(time, event).survival_function_["KM_estimate"]
    for t, s in expected.items():
        assert reference.loc[t] == pytest.approx(s)
    # Greenwood at t = 1: var(log S) = 1/(10*9) + 2/(8*6)
    se_log = math.sqrt(1 / 90 + 2 / 48)
    assert fit.loc[1, "ci_lower"] == pytest.approx(0.675 * math.exp(-1.959964 * se_log), rel=1e-6)


def test_median_at_exact_half_takes_midpoint_like_r() -> None:
    # S drops to exactly 0.5 at t = 2 and stays flat until the next event at 6: R reports (2 + 6) / 2 = 4
    fit = sv.km([1, 2, 4, 6], [1, 1, 0, 1])
    assert fit.medians.iloc[0]["median"] == pytest.approx(4.0)


def _harrell_reference(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float:
    """Harrell's C over comparable pairs: i had the event and j was still at risk after it (a later time,
    or censored at the same time: censoring counts as after the event, as in R `concordance`)."""
    concordant = comparable = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            if event[i] == 1 and (time[i] < time[j] or (time[i] == time[j] and event[j] == 0)):
                comparable += 1
                concordant += 1.0 if score[i] < score[j] else 0.5 if score[i] == score[j] else 0.0
    return concordant / comparable


def test_concordance_matches_pairwise_definition_and_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(4)
    time = rng.integers(1, 40, 60).astype(float)
    event = (rng.random(60) < 0.6).astype(int)
    score = np.round(time / 10 + rng.normal(0, 1.5, 60))  # ties in the score
    result = sv.concordance(time, event, score, n_boot=100, seed=3)
    assert result.c == pytest.approx(_harrell_reference(time, event, score), abs=1e-12)
    again = sv.concordance(time, event, score, n_boot=100, seed=3)
    assert (again.ci_lower, again.ci_upper) == (result.ci_lower, result.ci_upper)
    assert result.ci_lower < result.c < result.ci_upper and result.n_boot == 100


# ------------------------------------------------------------------------------------------ Schoenfeld phantoms
def test_schoenfeld_detects_crossing_hazards_and_accepts_proportional_ones() -> None:
    rng = np.random.default_rng(11)
    n = 400
    x = np.repeat([0.0, 1.0], n // 2)
    proportional = rng.exponential(1.0 / np.where(x == 1, 2.0, 1.0))
    # group 1: very high hazard early (Weibull shape 0.4), group 0: rising hazard (shape 3): crossing curves
    crossing = np.where(x == 1, rng.weibull(0.4, n), rng.weibull(3.0, n))
    censor = rng.uniform(0.5, 3.0, n)
    for times, ph_expected in ((proportional, True), (crossing, False)):
        frame = pd.DataFrame({"t": np.minimum(times, censor), "e": (times <= censor).astype(int), "x": x})
        row = sv.cox(frame, "t", "e", ["x"]).row("x")
        if ph_expected:
            assert row["ph_p"] > 0.2 and row["hr"] == pytest.approx(2.0, rel=0.3)
        else:
            assert row["ph_p"] < 1e-4 and row["ph_statistic"] > 15


# ------------------------------------------------------------------------------------------ bad and thin input
def test_missing_endpoints_are_excluded_and_counted() -> None:
    result = sv.logrank([5, None, 7, 8, 2, 3, 9, np.nan, 4, 6], [1, 1, None, 1, 1, 0, 1, 0, 1, 1],
                        ["a", "a", "a", "b", "b", "b", "a", "b", None, "b"], min_events=1)
    assert result.n_excluded == 4 and result.n == 6
    fit = sv.km([5, None, 7], [1, 1, 0])
    assert fit.n_excluded == 1 and fit.medians.iloc[0]["n"] == 2


def test_negative_time_is_an_error_naming_the_patient() -> None:
    with pytest.raises(StatsError, match=r"patient ISPY1_1003: negative survival time -4 days"):
        sv.km([5, 6, -4], [1, 0, 1], ids=["ISPY1_1001", "ISPY1_1002", "ISPY1_1003"])
    with pytest.raises(StatsError, match=r"patient P2: event must be 0 \(censored\) or 1"):
        sv.logrank([5, 6], [1, 2], ["a", "b"], ids=["P1", "P2"])
    with pytest.raises(StatsError, match="same length"):
        sv.km([1, 2, 3], [1, 0])


def test_too_few_events_is_not_estimable_with_the_count() -> None:
    time = [3, 5, 7, 9, 11, 13]
    event = [1, 0, 1, 0, 0, 1]
    group = ["low", "low", "low", "high", "high", "high"]
    result = sv.logrank(time, event, group)
    assert not result.estimable and result.note == "not estimable (3 events)" and math.isnan(result.p)
    frame = pd.DataFrame({"t": time, "e": event, "x": [1.0, 1, 1, 0, 0, 0]})
    cox = sv.cox(frame, "t", "e", ["x"])
    assert not cox.estimable and cox.note == "not estimable (3 events)" and cox.summary["hr"].isna().all()
    single = sv.logrank(time, event, ["low"] * 6, min_events=1)
    assert not single.estimable and single.note == "not estimable (1 group)"
    concord = sv.concordance(time, event, [1, 2, 3, 4, 5, 6])
    assert not concord.estimable and concord.note == "not estimable (3 events)"


def test_cox_group_without_events_is_not_estimable() -> None:
    frame = pd.DataFrame({"t": np.arange(1.0, 13.0), "e": [1] * 6 + [0] * 6, "low": [1.0] * 6 + [0.0] * 6})
    result = sv.cox(frame, "t", "e", ["low"])
    assert not result.estimable and result.note == "not estimable (0 events where low = 0)"
    with pytest.raises(StatsError, match=r"columns \['nope'\] not in the data"):
        sv.cox(frame, "t", "e", ["nope"])


def test_box_stats_and_mann_whitney() -> None:
    box = sv.box_stats([1, 2, 3, 4, 5, 6, 7, 8, 100], "g")
    assert (box.q1, box.median, box.q3) == (3.0, 5.0, 7.0)
    assert box.whisker_high == 8.0 and box.outliers == (100.0,) and box.maximum == 100.0
    mw = sv.mann_whitney([1, 2, 3, 4], [5, 6, 7, 8], "a", "b")
    # all of a below all of b: U_a = 0, exact two-sided P = 2 / C(8, 4)
    assert mw.u == 0.0 and mw.p == pytest.approx(2 / 70)


def test_groups_use_the_frozen_thresholds() -> None:
    thresholds = {"low_vs_intermediate": 10.0, "low_vs_high": 15.0, "intermediate_vs_high": 40.0}
    pred = np.array([0.0, 10.0, 10.01, 40.0, 40.01])
    assert assign_groups(pred, thresholds).tolist() == ["low", "low", "intermediate", "intermediate", "high"]
    assert assign_groups(pred, thresholds, 2, "high+intermediate").tolist() == [
        "low", "low", "high+intermediate", "high+intermediate", "high+intermediate"]
    assert assign_groups(pred, thresholds, 2, "low+intermediate").tolist() == [
        "low+intermediate"] * 4 + ["high"]
    with pytest.raises(StatsError, match="thresholds out of order"):
        assign_groups(pred, {"low_vs_intermediate": 50.0, "intermediate_vs_high": 40.0})
