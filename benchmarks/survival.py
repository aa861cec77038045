"""Survival benchmark: the whole `analyse` (KM, log-rank, Cox + Schoenfeld, bootstrap C-index, Mann-Whitney
for the cohort and three subtypes) on synthetic cohorts, plus its parts, against baselines measured in the same run:

* Kaplan-Meier: `radpath.stats.survival.km` vs lifelines `KaplanMeierFitter` per group;
* C-index: lifelines' O(n log n) `concordance_index` (used) vs the O(n^2) pairwise definition (sampled);
* expected events of the log-rank table: vectorised vs a per-event-time loop.

    .venv/bin/python benchmarks/survival.py [--patients 400 5000] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from radpath.stats import survival as sv
from radpath.stats.survival_validation import ValidationOptions, analyse

THRESHOLDS = {"low_vs_intermediate": 10.0, "low_vs_high": 20.0, "intermediate_vs_high": 40.0}


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cohort(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subtype = rng.choice(["HR+/HER2-", "HER2+", "TNBC"], n, p=[0.4, 0.28, 0.32])
    til = np.clip(np.exp(1.25 + 1.75 * rng.standard_normal(n)), 0, 90)
    hazard = np.where((subtype == "TNBC") & (til <= 10), 5.0, 1.0) / 9000.0
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(1000, 3000, n)
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "predicted": til + rng.normal(0, 3, n),
                         "subtype": subtype, "time_days": np.minimum(event_time, censor).round(),
                         "event": (event_time <= censor).astype(int)})


def harrell_pairs(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float:
    conc = comp = 0.0
    for i in np.flatnonzero(event == 1):
        later = (time > time[i]) | ((time == time[i]) & (event == 0))
        comp += later.sum()
        conc += (score[later] > score[i]).sum() + 0.5 * (score[later] == score[i]).sum()
    return conc / comp


def expected_loop(time: np.ndarray, event: np.ndarray, group: np.ndarray, levels: list[str]) -> np.ndarray:
    out = np.zeros(len(levels))
    for t in np.unique(time[event == 1]):
        risk = time >= t
        d = event[time == t].sum()
        for k, g in enumerate(levels):
            out[k] += d * (risk & (group == g)).sum() / risk.sum()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[400, 5000])
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    for n in args.patients:
        bench(n, args.n_boot)


def bench(n: int, n_boot: int) -> None:
    from lifelines import KaplanMeierFitter

    frame = cohort(n)
    t, e = frame["time_days"].to_numpy(float), frame["event"].to_numpy()
    g = np.where(frame["predicted"] <= 10, "low", "high+intermediate").astype(object)
    s = frame["predicted"].to_numpy()
    print(f"--- {n} patients, {int(e.sum())} events")
    options = ValidationOptions(cohort="x", model="m", n_boot=n_boot)
    whole = timed(lambda: analyse(frame, THRESHOLDS, options), repeat=1)
    print(f"analyse (4 subgroups, {n_boot} bootstrap resamples): {whole:8.3f} s")
    ours = timed(lambda: sv.km(t, e, g))

    def lifelines_km() -> None:
        for level in ("low", "high+intermediate"):
            KaplanMeierFitter().fit(t[g == level], e[g == level])

    base = timed(lifelines_km)
    print(f"KM: radpath {ours * 1e3:8.2f} ms   lifelines {base * 1e3:8.2f} ms   ratio {base / ours:6.2f}x")
    fast = timed(lambda: sv.concordance(t, e, s, n_boot=0))
    sample = min(n, 2000)
    slow = timed(lambda: harrell_pairs(t[:sample], e[:sample], s[:sample]), repeat=1) * (n / sample) ** 2
    print(f"C-index: lifelines {fast * 1e3:8.2f} ms   pairwise {slow * 1e3:8.2f} ms"
          f"{' (extrapolated)' if sample < n else ''}   ratio {slow / fast:6.1f}x")
    levels = ["high+intermediate", "low"]
    vec = timed(lambda: sv._expected_events(t, e, g, levels))
    loop = timed(lambda: expected_loop(t, e, g, levels), repeat=1)
    assert np.allclose(sv._expected_events(t, e, g, levels), expected_loop(t, e, g, levels))
    print(f"log-rank expected events: vectorised {vec * 1e3:8.2f} ms   loop {loop * 1e3:8.2f} ms"
          f"   ratio {loop / vec:6.1f}x")


if __name__ == "__main__":
    main()
