"""Temporal standardisation: choose the pre-contrast, early and late post-contrast phases.

Header times (trigger, acquisition or content time) usually mark the *start* of a multi-minute 3D
acquisition. The effective time of a post-contrast phase is its start plus `centre_fraction` of its
duration, the duration taken as the gap to the next phase's start (the last phase reuses the previous
gap). The first phase is pre-contrast and defines time 0 of the injection. Early is the
post-contrast phase whose effective time is closest to `early_target_s` (2-3 min); late the one
after it closest to `late_target_s` (~7.5 min): always distinct, early before late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PhaseChoice:
    pre: int
    early: int
    late: int
    effective_s: tuple[float, ...]   # effective time of every phase, seconds after the pre-contrast start

    @property
    def early_s(self) -> float:
        return self.effective_s[self.early]

    @property
    def late_s(self) -> float:
        return self.effective_s[self.late]


def effective_times(times_s: Sequence[float], centre_fraction: float = 0.5) -> list[float]:
    """Start times (s, any origin, increasing) -> effective times relative to the first (pre) phase."""
    starts = [float(t) - float(times_s[0]) for t in times_s]
    out = [0.0]
    for k in range(1, len(starts)):
        gap = starts[k + 1] - starts[k] if k + 1 < len(starts) else starts[k] - starts[k - 1]
        out.append(starts[k] + centre_fraction * max(gap, 0.0))
    return out


def choose_phases(
    times_s: Sequence[float], early_target_s: float = 150.0, late_target_s: float = 450.0, centre_fraction: float = 0.5
) -> PhaseChoice:
    """Pick (pre, early, late) from 1 pre + 2..7 post-contrast phases; ValueError when impossible."""
    if len(times_s) < 3:
        raise ValueError(f"need a pre-contrast and at least two post-contrast phases, found {len(times_s)} phase(s)")
    if any(b <= a for a, b in zip(times_s, list(times_s)[1:], strict=False)):
        raise ValueError(f"phase times must increase, found {list(times_s)}")
    eff = effective_times(times_s, centre_fraction)
    post = list(range(1, len(eff)))
    # early may not be the last phase (late must follow it)
    early = min(post[:-1], key=lambda k: (abs(eff[k] - early_target_s), k))
    late = min((k for k in post if k > early), key=lambda k: (abs(eff[k] - late_target_s), k))
    return PhaseChoice(0, early, late, tuple(eff))
