"""TMB golden values: a hand-made MAF counted by hand; barcode rule picks the primary tumour sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from radpath.errors import GenomicsError
from radpath.genomics.samples import parse_barcode, select_samples
from radpath.genomics.tmb import mutation_burden, read_maf

MAF_ROWS = [
    # patient A, primary tumour 01A: 2 missense + nonsense + frame shift + splice site = 5; silent, intron no
    ("TP53", "Missense_Mutation", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("PIK3CA", "Missense_Mutation", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("GATA3", "Nonsense_Mutation", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("MAP3K1", "Frame_Shift_Del", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("CDH1", "Splice_Site", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("TTN", "Silent", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("MUC16", "Intron", "TCGA-AA-0001-01A-11D-A111-09", "Somatic"),
    ("BRCA1", "Missense_Mutation", "TCGA-AA-0001-01A-11D-A111-09", "Germline"),   # not somatic
    # patient A, metastasis 06A: must be ignored (01A preferred)
    ("AKT1", "Missense_Mutation", "TCGA-AA-0001-06A-11D-A112-09", "Somatic"),
    ("ERBB2", "In_Frame_Ins", "TCGA-AA-0001-06A-11D-A112-09", "Somatic"),
    # patient B: in-frame del, translation start, nonstop, in-frame ins = 4; 3'UTR, RNA, Splice_Region no
    ("KMT2C", "In_Frame_Del", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("NF1", "Translation_Start_Site", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("RB1", "Nonstop_Mutation", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("PTEN", "In_Frame_Ins", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("XIST", "3'UTR", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("MALAT1", "RNA", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    ("FOXA1", "Splice_Region", "TCGA-BB-0002-01A-21D-A113-09", "Somatic"),
    # patient C: only silent -> listed with 0
    ("ACTB", "Silent", "TCGA-CC-0003-01A-11D-A114-09", "Somatic"),
]


def write_maf(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("#version gdc-1.0.0\n#filedate 20240101\n")
        handle.write("Hugo_Symbol\tChromosome\tVariant_Classification\tTumor_Sample_Barcode\tMutation_Status\n")
        for gene, kind, barcode, status in rows:
            handle.write(f"{gene}\tchr1\t{kind}\t{barcode}\t{status}\n")
    return path


def test_hand_counted_maf(tmp_path: Path) -> None:
    maf = read_maf(write_maf(tmp_path / "x.maf.gz", MAF_ROWS))
    burden = mutation_burden(maf, exome_size_mb=50.0).set_index("patient_id")
    assert list(burden.index) == ["TCGA-AA-0001", "TCGA-BB-0002", "TCGA-CC-0003"]
    assert burden.loc["TCGA-AA-0001", "sample_id"] == "TCGA-AA-0001-01A-11D-A111-09"
    assert burden["tmb_count"].tolist() == [5, 4, 0]
    assert burden["n_mutations"].tolist() == [8, 7, 1]
    assert burden["tmb_per_mb"].tolist() == pytest.approx([0.1, 0.08, 0.0])


def test_maf_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.maf"
    bad.write_text("#version 2.4\nHugo_Symbol\tTumor_Sample_Barcode\nTP53\tTCGA-AA-0001-01A\n")
    with pytest.raises(GenomicsError, match=r"bad.maf: no column 'Variant_Classification'"):
        read_maf(bad)
    with pytest.raises(GenomicsError, match="MAF .*missing.maf does not exist"):
        read_maf(tmp_path / "missing.maf")
    maf = read_maf(write_maf(tmp_path / "y.maf.gz", MAF_ROWS))
    with pytest.raises(GenomicsError, match="exome size must be positive"):
        mutation_burden(maf, exome_size_mb=0)


def test_barcode_rule_prefers_primary_then_vial_and_never_normal() -> None:
    assert parse_barcode("TCGA-A1-A0SB-01A-11R-A144-07").patient == "TCGA-A1-A0SB"
    assert parse_barcode("TCGA-A1-A0SB-11A").sample_type == 11
    assert parse_barcode("ISPY1_1001").sample_type is None
    samples = select_samples(__import__("pandas").DataFrame({
        "sample_id": ["TCGA-AA-0001-11A", "TCGA-AA-0001-06A", "TCGA-AA-0001-01B", "TCGA-AA-0001-01A",
                      "TCGA-BB-0002-11A"],
        "patient_id": ["TCGA-AA-0001"] * 4 + ["TCGA-BB-0002"],
    }))
    chosen = samples[samples["selected"]]
    assert chosen["sample_id"].tolist() == ["TCGA-AA-0001-01A"]          # B has only a normal sample
    notes = dict(zip(samples["sample_id"], samples["note"], strict=True))
    assert notes["TCGA-AA-0001-01B"] == "duplicate: TCGA-AA-0001-01A preferred"
    assert notes["TCGA-AA-0001-11A"] == "not a tumour sample"
    assert notes["TCGA-AA-0001-01A"] == "chosen among 3 tumour samples"
