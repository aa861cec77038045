"""The explicit registry of MRI feature families.

Each `Family` has its feature definitions (code, family, name, unit, formula: they feed the paper's
Table 1 through `register_feature_defs`) and a `compute(maps, params) -> {code: value}` function.
`FAMILIES` lists them in order; the extended (pyradiomics) family runs only with `params.extended`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from radpath.mri.features import core
from radpath.mri.features.context import CaseMaps
from radpath.mri.features.extended import extended, extended_defs
from radpath.mri.params import MRIParams


@dataclass(frozen=True)
class Family:
    name: str
    defs: Callable[[MRIParams], list[dict[str, Any]]]
    compute: Callable[[CaseMaps, MRIParams], dict[str, float]]
    paper: bool = True          # one of the paper's 17 (Table 1)


def _fixed(rows: list[dict[str, Any]], family: str) -> Callable[[MRIParams], list[dict[str, Any]]]:
    return lambda params: core.defs(rows, family)


FAMILIES: tuple[Family, ...] = (
    Family("morphology", _fixed(core.MORPHOLOGY, "morphology"), core.morphology),
    Family("texture", _fixed(core.TEXTURE, "texture"), core.texture),
    Family("ftv", _fixed(core.FTV, "ftv"), core.ftv),
    Family("bpe", _fixed(core.BPE, "bpe"), core.bpe),
    Family("tsbpe", _fixed(core.TSBPE, "tsbpe"), core.tsbpe),
    Family("extended", extended_defs, extended, paper=False),
)
PAPER_CODES = tuple(d["code"] for f in FAMILIES if f.paper for d in f.defs(MRIParams()))


def active_families(params: MRIParams) -> list[Family]:
    return [f for f in FAMILIES if f.paper or params.extended]


def feature_defs(params: MRIParams) -> list[dict[str, Any]]:
    """Definitions of every feature these parameters compute."""
    return [d for f in active_families(params) for d in f.defs(params)]


def compute_features(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in active_families(params):
        out.update(family.compute(maps, params))
    return out


__all__ = ["FAMILIES", "PAPER_CODES", "CaseMaps", "Family", "active_families", "compute_features", "feature_defs"]
