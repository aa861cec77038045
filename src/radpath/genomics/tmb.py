"""Tumour mutation burden from a MAF: nonsynonymous somatic mutations per patient, and per Mb.

Counted classes (`NONSYNONYMOUS`): Missense_Mutation, Nonsense_Mutation, Frame_Shift_Del, Frame_Shift_Ins,
In_Frame_Del, In_Frame_Ins, Splice_Site, Translation_Start_Site, Nonstop_Mutation. Everything else
(Silent, Intron, UTRs, RNA, flanks, IGR, Splice_Region) is not counted. When the MAF has a
`Mutation_Status` column only `Somatic` rows count. TMB per Mb = count / exome size (default 38 Mb, the
captured exome commonly used for TCGA whole-exome data; set `mutations.exome_size_mb` in the manifest).

One tumour sample per patient (`radpath.genomics.samples`): a patient with several tumour samples in the
MAF is counted from the preferred one only. A patient absent from the MAF has no value (the file cannot
tell "no mutations" from "not sequenced"); a patient with only silent mutations has a count of 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radpath.errors import GenomicsError
from radpath.genomics.samples import parse_barcode, select_samples

NONSYNONYMOUS = frozenset({
    "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del",
    "In_Frame_Ins", "Splice_Site", "Translation_Start_Site", "Nonstop_Mutation",
})
DEFAULT_EXOME_MB = 38.0
MAF_COLUMNS = ("Hugo_Symbol", "Variant_Classification", "Tumor_Sample_Barcode")


def read_maf(path: Path) -> pd.DataFrame:
    """The MAF columns TMB needs (plus Mutation_Status when present); `#` comment lines skipped."""
    path = Path(path)
    if not path.exists():
        raise GenomicsError(f"MAF {path} does not exist")
    try:
        header = pd.read_csv(path, sep="\t", comment="#", nrows=0)
        missing = [c for c in MAF_COLUMNS if c not in header.columns]
        if missing:
            raise GenomicsError(f"MAF {path}: no column {', '.join(map(repr, missing))}")
        wanted = [*MAF_COLUMNS, *(["Mutation_Status"] if "Mutation_Status" in header.columns else [])]
        return pd.read_csv(path, sep="\t", comment="#", usecols=wanted, dtype=str, low_memory=False)
    except GenomicsError:
        raise
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
        raise GenomicsError(f"cannot read MAF {path}: {exc}") from exc


def maf_samples(maf: pd.DataFrame) -> pd.DataFrame:
    """Tumour sample barcodes of a MAF with patient ids and the selection rule applied."""
    barcodes = sorted(maf["Tumor_Sample_Barcode"].dropna().astype(str).str.strip().unique())
    frame = pd.DataFrame({"sample_id": barcodes, "patient_id": [parse_barcode(b).patient for b in barcodes]})
    return select_samples(frame)


def mutation_burden(maf: pd.DataFrame, exome_size_mb: float = DEFAULT_EXOME_MB) -> pd.DataFrame:
    """Per patient: sample_id, n_mutations (all rows), tmb_count (nonsynonymous somatic), tmb_per_mb.

    `maf` is a frame with Variant_Classification and Tumor_Sample_Barcode (and optionally Mutation_Status).
    """
    if exome_size_mb <= 0:
        raise GenomicsError(f"exome size must be positive, got {exome_size_mb} Mb")
    for column in ("Variant_Classification", "Tumor_Sample_Barcode"):
        if column not in maf.columns:
            raise GenomicsError(f"MAF frame has no column {column!r}")
    rows = maf.dropna(subset=["Tumor_Sample_Barcode"]).copy()
    rows["Tumor_Sample_Barcode"] = rows["Tumor_Sample_Barcode"].astype(str).str.strip()
    samples = maf_samples(rows)
    chosen = samples[samples["selected"]].set_index("sample_id")["patient_id"]
    rows = rows[rows["Tumor_Sample_Barcode"].isin(chosen.index)]
    somatic = rows["Mutation_Status"].fillna("Somatic").eq("Somatic") if "Mutation_Status" in rows else True
    counted = rows["Variant_Classification"].isin(NONSYNONYMOUS) & somatic
    per_sample = pd.DataFrame({
        "n_mutations": rows.groupby("Tumor_Sample_Barcode").size(),
        "tmb_count": counted.groupby(rows["Tumor_Sample_Barcode"]).sum(),
    }).reindex(chosen.index, fill_value=0)
    out = pd.DataFrame({
        "patient_id": chosen.to_numpy(),
        "sample_id": chosen.index.to_numpy(),
        "n_mutations": per_sample["n_mutations"].astype(int).to_numpy(),
        "tmb_count": per_sample["tmb_count"].astype(int).to_numpy(),
    })
    out["tmb_per_mb"] = out["tmb_count"] / exome_size_mb
    out["exome_size_mb"] = float(exome_size_mb)
    return out.sort_values("patient_id").reset_index(drop=True)
