"""Survival analysis primitives: Kaplan–Meier, log-rank, Cox proportional hazards, Harrell's C, Mann–Whitney.

Each function validates its input the same way (`clean`): patients with a missing time or event are
excluded and counted (``n_excluded``), a negative time is an error naming the patient, zero times and
ties are kept (ties are handled by Efron's method in Cox and by the usual counting-process log-rank).
A test or model with too few events returns a result with ``estimable=False`` and a note such as
``"not estimable (3 events)"`` instead of a meaningless P value.

Conventions follow R `survival` (the paper's software): the Kaplan–Meier CI is Greenwood's with the
"log" transform (``survfit``'s default ``conf.type="log"``), medians and their CI follow
``quantile.survfit``, the log-rank test is ``survdiff`` (rho = 0), Cox uses Efron ties like ``coxph``.
lifelines (imported lazily) does the log-rank statistic, the Cox fit and the Schoenfeld residual test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from radpath.errors import StatsError

MIN_EVENTS = 5  # fewer events than this in a (sub)group: "not estimable (n events)"
Z95 = float(sps.norm.ppf(0.975))


def events_text(n_events: int) -> str:
    """'1 event', '3 events'."""
    return f"{n_events} event" if n_events == 1 else f"{n_events} events"


def not_estimable(n_events: int, what: str = "") -> str:
    return f"not estimable ({events_text(n_events)}{' ' + what if what else ''})"


# ------------------------------------------------------------------------------------------ input checks
@dataclass(frozen=True)
class SurvivalInput:
    """Validated time-to-event data (complete cases only) and the count of excluded patients."""

    ids: np.ndarray
    time: np.ndarray
    event: np.ndarray
    group: np.ndarray | None
    n_excluded: int
    kept: np.ndarray  # boolean mask over the input rows: the complete cases returned

    @property
    def n(self) -> int:
        return int(self.time.size)

    @property
    def n_events(self) -> int:
        return int(self.event.sum())


def clean(
    time: Sequence[Any] | np.ndarray | pd.Series,
    event: Sequence[Any] | np.ndarray | pd.Series,
    group: Sequence[Any] | np.ndarray | pd.Series | None = None,
    ids: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> SurvivalInput:
    """Check lengths, drop (and count) patients with a missing time, event or group, reject negative times."""
    t = pd.to_numeric(pd.Series(np.asarray(time, dtype=object)), errors="coerce").to_numpy(dtype=float)
    e = pd.to_numeric(pd.Series(np.asarray(event, dtype=object)), errors="coerce").to_numpy(dtype=float)
    n = t.size
    names = np.asarray([str(x) for x in ids], dtype=object) if ids is not None else np.asarray(
        [f"#{i + 1}" for i in range(n)], dtype=object
    )
    g = None if group is None else np.asarray(pd.Series(np.asarray(group, dtype=object)), dtype=object)
    lengths = {len(t), len(e), len(names)} | ({len(g)} if g is not None else set())
    if len(lengths) != 1:
        raise StatsError(f"time, event, group and ids must have the same length; got lengths {sorted(lengths)}")
    keep = ~(np.isnan(t) | np.isnan(e))
    if g is not None:
        keep &= ~pd.isna(g)
    bad_event = keep & ~np.isin(e, (0.0, 1.0))
    if bad_event.any():
        i = int(np.flatnonzero(bad_event)[0])
        raise StatsError(f"patient {names[i]}: event must be 0 (censored) or 1 (event); found {e[i]:g}")
    negative = keep & (t < 0)
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise StatsError(f"patient {names[i]}: negative survival time {t[i]:g} days (expected >= 0)")
    return SurvivalInput(
        ids=names[keep], time=t[keep], event=e[keep].astype(int), group=None if g is None else g[keep],
        n_excluded=int((~keep).sum()), kept=keep,
    )


# ------------------------------------------------------------------------------------------ Kaplan–Meier
@dataclass(frozen=True)
class KMResult:
    """Kaplan–Meier estimates per group.

    `table`: one row per group and distinct time (events or censorings): group, time, n_at_risk,
    n_events, n_censored, survival, std_err (of S, Greenwood), ci_lower, ci_upper (95 %, log transform).
    `medians`: group, n, n_events, median, median_lower, median_upper (NaN = not reached).
    """

    table: pd.DataFrame
    medians: pd.DataFrame
    n_excluded: int

    def at_risk(self, times: Sequence[float]) -> pd.DataFrame:
        """Numbers at risk (time >= t) per group at each of `times` (rows: groups, columns: times)."""
        rows = {}
        for name, part in self.table.groupby("group", sort=False):
            rows[name] = [int(part.loc[part["time"] >= t, "n_at_risk"].iloc[0]) if (part["time"] >= t).any()
                          else 0 for t in times]
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(times))

    def survival_at(self, t: float, group: Any = "all") -> float:
        part = self.table[(self.table["group"] == group) & (self.table["time"] <= t)]
        return 1.0 if part.empty else float(part["survival"].iloc[-1])


def _km_one(time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    order = np.argsort(time, kind="stable")
    time, event = time[order], event[order]
    times, start = np.unique(time, return_index=True)
    n_total = time.size
    n_at_risk = n_total - start
    n_events = np.add.reduceat(event, start) if time.size else np.array([], dtype=int)
    n_censored = np.add.reduceat(1 - event, start) if time.size else np.array([], dtype=int)
    hazard = n_events / n_at_risk
    survival = np.cumprod(1.0 - hazard)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n_events > 0, n_events / (n_at_risk * (n_at_risk - n_events)), 0.0)
        var_log = np.cumsum(term)  # Greenwood: var(log S)
        se_log = np.sqrt(var_log)
        lower = survival * np.exp(-Z95 * se_log)
        upper = np.minimum(1.0, survival * np.exp(Z95 * se_log))
        std_err = np.where(survival > 0, survival * se_log, np.nan)  # undefined once S = 0
    lower = np.where(survival > 0, lower, np.nan)
    upper = np.where(survival > 0, upper, np.nan)
    return pd.DataFrame({
        "time": times, "n_at_risk": n_at_risk.astype(int), "n_events": n_events.astype(int),
        "n_censored": n_censored.astype(int), "survival": survival, "std_err": std_err,
        "ci_lower": lower, "ci_upper": upper,
    })


def _first_below(times: np.ndarray, curve: np.ndarray, event_times: np.ndarray, p: float = 0.5) -> float:
    """R `quantile.survfit`: the first time the curve is <= p; the midpoint to the next event time on a tie."""
    valid = ~np.isnan(curve)
    hit = np.flatnonzero(valid & (curve <= p + 1e-12))
    if hit.size == 0:
        return math.nan
    i = int(hit[0])
    if abs(curve[i] - p) < 1e-12:
        later = event_times[event_times > times[i]]
        if later.size:
            return float((times[i] + later[0]) / 2.0)
    return float(times[i])


def km(
    time: Sequence[Any] | np.ndarray | pd.Series,
    event: Sequence[Any] | np.ndarray | pd.Series,
    group: Sequence[Any] | np.ndarray | pd.Series | None = None,
    ids: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> KMResult:
    """Kaplan–Meier survival per group (or one curve, group 'all'), with R's default 95 % CI and medians."""
    data = clean(time, event, group, ids)
    groups = np.full(data.n, "all", dtype=object) if data.group is None else data.group
    tables, medians = [], []
    for name in _levels(groups):
        mask = groups == name
        part = _km_one(data.time[mask], data.event[mask])
        part.insert(0, "group", name)
        tables.append(part)
        event_times = part.loc[part["n_events"] > 0, "time"].to_numpy()
        t = part["time"].to_numpy()
        medians.append({
            "group": name, "n": int(mask.sum()), "n_events": int(data.event[mask].sum()),
            "median": _first_below(t, part["survival"].to_numpy(), event_times),
            # the lower CI curve reaches 0.5 first: it gives the lower limit of the median
            "median_lower": _first_below(t, part["ci_lower"].to_numpy(), event_times),
            "median_upper": _first_below(t, part["ci_upper"].to_numpy(), event_times),
        })
    table = pd.concat(tables, ignore_index=True) if tables else _km_one(np.array([]), np.array([], dtype=int))
    return KMResult(table=table, medians=pd.DataFrame(medians), n_excluded=data.n_excluded)


def _levels(values: np.ndarray) -> list[Any]:
    return sorted(pd.unique(values).tolist(), key=lambda v: str(v))


# ------------------------------------------------------------------------------------------ log-rank
@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test of equal survival across k groups (chi-square with k - 1 df; R `survdiff`, rho = 0)."""

    statistic: float
    df: int
    p: float
    n: int
    n_events: int
    n_excluded: int
    groups: pd.DataFrame  # group, n, observed, expected
    estimable: bool = True
    note: str = ""


def logrank(
    time: Sequence[Any] | np.ndarray | pd.Series,
    event: Sequence[Any] | np.ndarray | pd.Series,
    group: Sequence[Any] | np.ndarray | pd.Series,
    ids: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    min_events: int = MIN_EVENTS,
) -> LogrankResult:
    """Log-rank test; not estimable with fewer than `min_events` events or fewer than two non-empty groups."""
    data = clean(time, event, group, ids)
    assert data.group is not None
    levels = _levels(data.group)
    observed = np.array([data.event[data.group == g].sum() for g in levels], dtype=float)
    expected = _expected_events(data.time, data.event, data.group, levels)
    groups = pd.DataFrame({
        "group": levels, "n": [int((data.group == g).sum()) for g in levels],
        "observed": observed.astype(int), "expected": expected,
    })
    common = dict(n=data.n, n_events=data.n_events, n_excluded=data.n_excluded, groups=groups)
    if len(levels) < 2:
        return LogrankResult(math.nan, 0, math.nan, estimable=False, note=f"not estimable ({len(levels)} group)",
                             **common)  # type: ignore[arg-type]
    if data.n_events < min_events:
        return LogrankResult(math.nan, len(levels) - 1, math.nan, estimable=False,
                             note=not_estimable(data.n_events), **common)  # type: ignore[arg-type]
    from lifelines.statistics import multivariate_logrank_test

    result = multivariate_logrank_test(data.time, data.group.astype(str), data.event)
    return LogrankResult(float(result.test_statistic), int(result.degrees_of_freedom), float(result.p_value),
                         **common)  # type: ignore[arg-type]


def _expected_events(time: np.ndarray, event: np.ndarray, group: np.ndarray, levels: list[Any]) -> np.ndarray:
    """Expected events per group under H0: sum over event times t of d_t * n_g(t) / n(t) (vectorised)."""
    event_times, d = np.unique(time[event == 1], return_counts=True)
    if event_times.size == 0:
        return np.zeros(len(levels))
    everyone = np.sort(time)
    n_t = everyone.size - np.searchsorted(everyone, event_times, side="left")
    expected = []
    for g in levels:
        own = np.sort(time[group == g])
        n_g = own.size - np.searchsorted(own, event_times, side="left")
        expected.append(float(np.sum(d * n_g / n_t)))
    return np.asarray(expected)


# ------------------------------------------------------------------------------------------ Cox
@dataclass(frozen=True)
class CoxResult:
    """Cox proportional-hazards fit (Efron ties).

    `summary`: one row per covariate: covariate, coef, se, hr, hr_lower, hr_upper (95 %), z, p,
    ph_statistic and ph_p (scaled Schoenfeld residuals against the KM-transformed time, chi-square 1 df;
    the transform R `cox.zph` uses by default).
    """

    summary: pd.DataFrame
    n: int
    n_events: int
    n_excluded: int
    log_likelihood_ratio: float = math.nan
    lr_df: int = 0
    lr_p: float = math.nan
    concordance: float = math.nan
    estimable: bool = True
    note: str = ""

    def row(self, covariate: str) -> pd.Series:
        return self.summary.set_index("covariate").loc[covariate]


_COX_COLUMNS = ["covariate", "coef", "se", "hr", "hr_lower", "hr_upper", "z", "p", "ph_statistic", "ph_p"]


def cox(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    covariates: Sequence[str],
    *,
    id_col: str | None = None,
    min_events: int = MIN_EVENTS,
    ph_test: bool = True,
) -> CoxResult:
    """Fit a Cox model of `duration`/`event` on numeric `covariates` (dummy-code categories beforehand).

    Rows missing the duration, event or any covariate are excluded and counted. Not estimable (with a
    note) when there are fewer than `min_events` events, a covariate is constant, or the fit diverges
    (e.g. a binary covariate whose one level has no events).
    """
    covariates = list(covariates)
    missing = [c for c in [duration, event, *covariates] if c not in frame.columns]
    if missing:
        raise StatsError(f"Cox model: columns {missing} not in the data (have {list(frame.columns)})")
    x = frame[covariates].apply(pd.to_numeric, errors="coerce")
    ids = frame[id_col] if id_col else pd.Series([f"#{i + 1}" for i in range(len(frame))], index=frame.index)
    complete = x.notna().all(axis=1).to_numpy()
    data = clean(frame[duration].to_numpy()[complete], frame[event].to_numpy()[complete],
                 ids=ids.to_numpy()[complete])
    n_excluded = data.n_excluded + int((~complete).sum())
    xs = x.to_numpy(dtype=float)[complete][data.kept]
    empty = pd.DataFrame({"covariate": covariates}).reindex(columns=_COX_COLUMNS)
    common = dict(n=data.n, n_events=data.n_events, n_excluded=n_excluded)
    if data.n_events < min_events:
        return CoxResult(empty, estimable=False, note=not_estimable(data.n_events), **common)  # type: ignore[arg-type]
    constant = [c for c, col in zip(covariates, xs.T, strict=True) if np.nanstd(col) == 0]
    if constant:
        return CoxResult(empty, estimable=False, note=f"{not_estimable(data.n_events)}: {constant} constant",
                         **common)  # type: ignore[arg-type]
    for c, col in zip(covariates, xs.T, strict=True):
        if set(np.unique(col)) <= {0.0, 1.0}:
            for level in (0.0, 1.0):
                d = int(data.event[col == level].sum())
                if d == 0:
                    return CoxResult(empty, estimable=False,
                                     note=not_estimable(d, f"where {c} = {int(level)}"), **common)  # type: ignore[arg-type]
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import proportional_hazard_test

    df = pd.DataFrame(xs, columns=covariates)
    df["_T"], df["_E"] = data.time, data.event
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter = CoxPHFitter().fit(df, "_T", "_E")
    except ConvergenceError as exc:
        return CoxResult(empty, estimable=False, note=f"not estimable (fit did not converge: {exc})"[:200],
                         **common)  # type: ignore[arg-type]
    s = fitter.summary
    summary = pd.DataFrame({
        "covariate": covariates,
        "coef": s.loc[covariates, "coef"].to_numpy(),
        "se": s.loc[covariates, "se(coef)"].to_numpy(),
        "hr": s.loc[covariates, "exp(coef)"].to_numpy(),
        "hr_lower": np.exp(s.loc[covariates, "coef"].to_numpy() - Z95 * s.loc[covariates, "se(coef)"].to_numpy()),
        "hr_upper": np.exp(s.loc[covariates, "coef"].to_numpy() + Z95 * s.loc[covariates, "se(coef)"].to_numpy()),
        "z": s.loc[covariates, "z"].to_numpy(),
        "p": s.loc[covariates, "p"].to_numpy(),
    })
    summary["ph_statistic"], summary["ph_p"] = math.nan, math.nan
    if ph_test:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = proportional_hazard_test(fitter, df, time_transform="km").summary
        summary["ph_statistic"] = ph.loc[covariates, "test_statistic"].to_numpy()
        summary["ph_p"] = ph.loc[covariates, "p"].to_numpy()
    lr = fitter.log_likelihood_ratio_test()
    return CoxResult(summary, log_likelihood_ratio=float(lr.test_statistic), lr_df=int(lr.degrees_freedom),
                     lr_p=float(lr.p_value), concordance=float(fitter.concordance_index_), **common)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ concordance
@dataclass(frozen=True)
class ConcordanceResult:
    """Harrell's C of a score (higher score = longer survival) with a seeded percentile bootstrap 95 % CI."""

    c: float
    ci_lower: float
    ci_upper: float
    n: int
    n_events: int
    n_boot: int
    estimable: bool = True
    note: str = ""


def concordance(
    time: Sequence[Any] | np.ndarray | pd.Series,
    event: Sequence[Any] | np.ndarray | pd.Series,
    score: Sequence[Any] | np.ndarray | pd.Series,
    ids: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
    min_events: int = MIN_EVENTS,
) -> ConcordanceResult:
    """Harrell's concordance index; pairs tied on the score count 1/2 (as in R `concordance`)."""
    data = clean(time, event, score, ids)
    assert data.group is not None
    s = data.group.astype(float)
    if data.n_events < min_events:
        return ConcordanceResult(math.nan, math.nan, math.nan, data.n, data.n_events, 0, False,
                                 not_estimable(data.n_events))
    from lifelines.utils import concordance_index

    c = float(concordance_index(data.time, s, data.event))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, data.n, data.n)
        if data.event[i].sum() == 0:
            continue
        try:
            boots.append(concordance_index(data.time[i], s[i], data.event[i]))
        except ZeroDivisionError:
            continue
    lower, upper = (np.percentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan))
    return ConcordanceResult(c, float(lower), float(upper), data.n, data.n_events, len(boots))


# ------------------------------------------------------------------------------------------ group comparisons
@dataclass(frozen=True)
class BoxStats:
    """Tukey box-plot data of one group (whiskers at the most extreme points within 1.5 IQR)."""

    group: str
    n: int
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    whisker_low: float
    whisker_high: float
    outliers: tuple[float, ...] = field(default_factory=tuple)


def box_stats(values: Sequence[float] | np.ndarray, group: str) -> BoxStats:
    v = np.sort(np.asarray(values, dtype=float))
    v = v[~np.isnan(v)]
    if v.size == 0:
        return BoxStats(group, 0, *(math.nan,) * 7)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    iqr = q3 - q1
    inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
    outliers = tuple(float(x) for x in v[(v < q1 - 1.5 * iqr) | (v > q3 + 1.5 * iqr)])
    return BoxStats(group, int(v.size), float(v[0]), float(q1), float(med), float(q3), float(v[-1]),
                    float(inside[0]), float(inside[-1]), outliers)


@dataclass(frozen=True)
class MannWhitneyResult:
    """Two-sided Mann–Whitney U test of `a` vs `b` (scipy, exact for small samples without ties)."""

    label_a: str
    label_b: str
    u: float
    p: float
    n_a: int
    n_b: int
    box_a: BoxStats
    box_b: BoxStats
    estimable: bool = True
    note: str = ""


def mann_whitney(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, label_a: str = "a",
                 label_b: str = "b") -> MannWhitneyResult:
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    box_a, box_b = box_stats(x, label_a), box_stats(y, label_b)
    if x.size == 0 or y.size == 0:
        return MannWhitneyResult(label_a, label_b, math.nan, math.nan, int(x.size), int(y.size), box_a, box_b,
                                 False, f"not estimable (n = {x.size} vs {y.size})")
    result = sps.mannwhitneyu(x, y, alternative="two-sided")
    return MannWhitneyResult(label_a, label_b, float(result.statistic), float(result.pvalue), int(x.size),
                             int(y.size), box_a, box_b)
