"""Sample barcodes and the rule that keeps one sample per patient.

A TCGA barcode reads ``TCGA-TSS-PPPP-SSV-PPA-PLAT-CC`` (project, tissue source site, participant,
sample type + vial, portion + analyte, plate, centre). The patient is the first 12 characters; the
sample type is two digits: 01-09 tumour (01 primary solid tumour), 10-19 normal, 20-29 control.

Rule (documented, reported per patient in `genomics_samples`): normal and control samples are never
used; among tumour samples the lowest sample type wins (01 primary before 02 recurrent before 06
metastatic), then the lowest vial letter (A before B), then the lexicographically greatest remaining
barcode (later portion/plate: the GDC's newest aliquot), then the file name, so the choice never depends
on file order. Barcodes that do not follow the TCGA pattern (other cohorts) are one sample per patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

_TCGA = re.compile(r"^(?P<patient>[A-Za-z0-9]+-[A-Za-z0-9]{2}-[A-Za-z0-9]{4})(?:-(?P<type>\d{2})(?P<vial>[A-Z])?)?")


@dataclass(frozen=True)
class Barcode:
    """A parsed sample barcode: patient id, TCGA sample type code (None when unknown) and vial letter."""

    barcode: str
    patient: str
    sample_type: int | None
    vial: str

    @property
    def is_tumour(self) -> bool:
        return self.sample_type is None or 1 <= self.sample_type <= 9


def parse_barcode(barcode: str) -> Barcode:
    """Parse a TCGA sample/aliquot barcode; other identifiers are returned as their own patient."""
    text = str(barcode).strip()
    match = _TCGA.match(text) if text.upper().startswith("TCGA-") else None
    if match is None:
        return Barcode(text, text, None, "")
    kind = match.group("type")
    return Barcode(text, match.group("patient"), int(kind) if kind else None, match.group("vial") or "")


def sample_type_label(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code == 1:
        return "primary tumour"
    if 1 < code <= 9:
        return "tumour"
    return "normal" if 10 <= code <= 19 else "control"


def select_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Apply the one-sample-per-patient rule to a frame with `sample_id`, `patient_id` (and optional `file`).

    Returns the frame with added `sample_type`, `selected` (bool) and `note` (why a row was dropped),
    sorted by patient then preference. Rows of the same sample id with the same file are identical
    duplicates and are left for the caller to reject.
    """
    frame = samples.copy()
    if "file" not in frame.columns:
        frame["file"] = ""
    parsed = [parse_barcode(s) for s in frame["sample_id"]]
    frame["sample_type"] = [sample_type_label(p.sample_type) for p in parsed]
    frame["_type"] = [p.sample_type if p.sample_type is not None else 0 for p in parsed]
    frame["_vial"] = [p.vial for p in parsed]
    frame["_tumour"] = [p.is_tumour for p in parsed]
    # greatest barcode first: sort on the negated rank of the barcode
    frame["_rank"] = frame["sample_id"].rank(method="dense", ascending=False)
    frame = frame.sort_values(["patient_id", "_tumour", "_type", "_vial", "_rank", "file"],
                              ascending=[True, False, True, True, True, True], kind="mergesort")
    frame["selected"] = False
    frame["note"] = ""
    for _patient, group in frame.groupby("patient_id", sort=False):
        tumour = group[group["_tumour"]]
        for index in group.index[~group["_tumour"].to_numpy()]:
            frame.loc[index, "note"] = "not a tumour sample"
        if tumour.empty:
            continue
        chosen = tumour.index[0]
        frame.loc[chosen, "selected"] = True
        if len(tumour) > 1:
            frame.loc[chosen, "note"] = f"chosen among {len(tumour)} tumour samples"
            for index in tumour.index[1:]:
                frame.loc[index, "note"] = f"duplicate: {frame.loc[chosen, 'sample_id']} preferred"
    return frame.drop(columns=["_type", "_vial", "_tumour", "_rank"]).reset_index(drop=True)
