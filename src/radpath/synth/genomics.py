"""Synthetic genomics: TCGA-like GDC STAR-counts TSVs + sample sheet + MAF, I-SPY-like GEO series matrix.

Only patients with `has_expression` / `has_mutations` get data. Expression is a small panel (GZMA, PRF1,
immune, housekeeping and breast genes, and filler genes). For each patient the log2 expression of the
score genes is ``cyt_log2 +/- (0.4 + e)``, so the log2 geometric mean of GZMA and PRF1 is the truth's
`cyt_log2` exactly (up to the 0.01 TPM offset and 4-decimal rounding). TCGA values are TPM; a few patients
also get a solid-tissue-normal sample and one a second tumour vial (01B), to exercise the sample rule.
I-SPY values are log2 microarray intensities ``1.5 + 0.8 * log2 expression + noise`` (another scale and a
batch shift: what ComBat removes), on probes (some genes have a weaker second probe) mapped to genes by a
GPL1708-like annotation table. The MAF holds `tmb` nonsynonymous mutations per patient plus silent and
non-coding ones (every patient at least one silent mutation, so a count of 0 is still listed).
"""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radpath.synth.truth import TRAIN, VALID

SEED_OFFSET = 5005
IMMUNE = ("CD8A", "CD8B", "CD3E", "CD2", "GZMB", "GZMK", "NKG7", "CXCL9", "CXCL10", "IFNG", "CD274", "PDCD1",
          "LAG3", "CCL5", "GNLY", "CD4", "PTPRC", "HLA-DRA")
HOUSEKEEPING = ("ACTB", "GAPDH", "B2M", "RPLP0", "TBP", "HPRT1", "PGK1", "PPIA", "GUSB", "TFRC")
BREAST = ("ESR1", "PGR", "ERBB2", "GRB7", "KRT5", "KRT14", "KRT17", "FOXA1", "MKI67", "AURKA")
N_FILLER = 260
ENSEMBL = {"GZMA": "ENSG00000145649.8", "PRF1": "ENSG00000180644.7"}
NONSYN = (("Missense_Mutation", 0.80), ("Nonsense_Mutation", 0.07), ("Frame_Shift_Del", 0.05),
          ("Frame_Shift_Ins", 0.02), ("In_Frame_Del", 0.02), ("Splice_Site", 0.03), ("In_Frame_Ins", 0.005),
          ("Translation_Start_Site", 0.0025), ("Nonstop_Mutation", 0.0025))
OTHER = ("Silent", "Intron", "3'UTR", "5'UTR", "RNA", "Splice_Region", "3'Flank")


def gene_panel() -> list[str]:
    fillers = [f"SYNG{i:03d}" for i in range(1, N_FILLER + 1)]
    return ["GZMA", "PRF1", *IMMUNE, *HOUSEKEEPING, *BREAST, *fillers]


def _log2_expression(rng: np.random.Generator, truth: pd.DataFrame, genes: list[str]) -> pd.DataFrame:
    """genes x patients log2 expression (TPM-like scale) tied to the truth."""
    n = len(truth)
    cyt = truth["cyt_log2"].to_numpy()
    z = truth["z_cyt"].to_numpy()
    tnbc = (truth["subtype"] == "TNBC").to_numpy()
    hr = (truth["subtype"] == "HR+/HER2-").to_numpy()
    her2 = (truth["subtype"] == "HER2+").to_numpy()
    e = rng.normal(0.0, 0.3, n)
    rows: dict[str, np.ndarray] = {"GZMA": cyt + 0.4 + e, "PRF1": cyt - 0.4 - e}
    base = {g: rng.uniform(2.0, 9.0) for g in genes}
    for gene in genes[2:]:
        noise = rng.normal(0.0, 0.5 if gene in HOUSEKEEPING else 0.8, n)
        value = base[gene] + noise
        if gene in IMMUNE:
            value = value + 1.0 * z
        elif gene in ("ESR1", "PGR", "FOXA1"):
            value = value + 2.0 * hr - 1.5 * tnbc
        elif gene in ("ERBB2", "GRB7"):
            value = value + 3.0 * her2
        elif gene in ("KRT5", "KRT14", "KRT17"):
            value = value + 2.0 * tnbc
        if gene in HOUSEKEEPING:
            value = value + 4.0
        rows[gene] = value
    return pd.DataFrame(rows, index=truth["patient_id"]).T.loc[genes]


def _star_file(path: Path, genes: list[str], tpm: np.ndarray, rng: np.random.Generator) -> None:
    ids = [ENSEMBL.get(g, f"ENSG9{k:010d}.1") for k, g in enumerate(genes)]
    length = rng.uniform(1.0, 4.0, len(genes))  # kb
    counts = np.round(tpm * length * 3.0).astype(int)
    fpkm = tpm * 0.3
    lines = ["# gene-model: GENCODE v36",
             "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\t"
             "tpm_unstranded\tfpkm_unstranded\tfpkm_uq_unstranded"]
    for label in ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous"):
        value = int(rng.integers(100_000, 3_000_000))
        lines.append(f"{label}\t\t\t{value}\t{value}\t{value}\t\t\t")
    for gid, gene, c, t, f in zip(ids, genes, counts, tpm, fpkm, strict=True):
        half = c // 2
        lines.append(f"{gid}\t{gene}\tprotein_coding\t{c}\t{half}\t{c - half}\t{t:.4f}\t{f:.4f}\t{f * 4:.4f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _render_tcga(rng: np.random.Generator, truth: pd.DataFrame, folder: Path) -> dict[str, Any]:
    genes = gene_panel()
    patients = truth[truth["has_expression"]].reset_index(drop=True)
    log2 = _log2_expression(rng, patients, genes)
    root = folder / "rnaseq"
    root.mkdir(parents=True, exist_ok=True)
    sheet = []

    def write(pid: str, sample: str, values: np.ndarray, kind: str) -> None:
        file_id = str(uuid.UUID(int=int(rng.integers(0, 2**63))))
        name = f"{uuid.UUID(int=int(rng.integers(0, 2**63)))}.rna_seq.augmented_star_gene_counts.tsv"
        (root / file_id).mkdir(exist_ok=True)
        tpm = np.clip(2.0 ** values - 0.01, 0.0, None)
        tpm[2:] *= (1e6 - tpm[:2].sum()) / tpm[2:].sum()  # TPM sums to a million over the panel
        _star_file(root / file_id / name, genes, tpm, rng)
        sheet.append({"File ID": file_id, "File Name": name, "Data Category": "Transcriptome Profiling",
                      "Data Type": "Gene Expression Quantification", "Project ID": "TCGA-BRCA",
                      "Case ID": pid, "Sample ID": sample, "Sample Type": kind})

    for k, pid in enumerate(patients["patient_id"]):
        values = log2[pid].to_numpy()
        write(pid, f"{pid}-01A", values, "Primary Tumor")
        if k % 10 == 3:  # a matched normal with little immune infiltrate: must never be scored
            write(pid, f"{pid}-11A", values - 3.0, "Solid Tissue Normal")
        if k == 5:  # a second tumour vial: the rule keeps 01A
            write(pid, f"{pid}-01B", values + 2.0, "Primary Tumor")
    order = rng.permutation(len(sheet))
    pd.DataFrame([sheet[i] for i in order]).to_csv(root / "gdc_sample_sheet.tsv", sep="\t", index=False)
    return {"format": "gdc-star", "path": "rnaseq/gdc_sample_sheet.tsv", "root": "rnaseq",
            "platform": "RNA-seq (GDC STAR counts, TPM)", "scale": "linear"}


def _render_maf(rng: np.random.Generator, truth: pd.DataFrame, folder: Path) -> dict[str, Any]:
    patients = truth[truth["has_mutations"]]
    classes, weights = zip(*NONSYN, strict=True)
    p = np.array(weights) / sum(weights)
    genes = gene_panel()
    rows = []
    for pid, tmb in zip(patients["patient_id"], patients["tmb"], strict=True):
        barcode = f"{pid}-01A-11D-A{int(rng.integers(100, 999))}-09"
        normal = f"{pid}-10A-01D-A{int(rng.integers(100, 999))}-09"
        kinds = list(rng.choice(classes, size=int(tmb), p=p)) + list(rng.choice(OTHER, size=int(rng.integers(1, 15))))
        for kind in kinds:
            position = int(rng.integers(1_000_000, 200_000_000))
            rows.append([str(rng.choice(genes[2:])), "0", "WUGSC", "GRCh38", f"chr{int(rng.integers(1, 23))}",
                         position, position, "+", kind, "SNP", "C", "C", "T", "novel", barcode, normal, "Somatic"])
    columns = ["Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome", "Start_Position",
               "End_Position", "Strand", "Variant_Classification", "Variant_Type", "Reference_Allele",
               "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "dbSNP_RS", "Tumor_Sample_Barcode",
               "Matched_Norm_Sample_Barcode", "Mutation_Status"]
    frame = pd.DataFrame(rows, columns=columns).iloc[rng.permutation(len(rows))]
    (folder / "mutations").mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "mutations" / "TCGA.BRCA.mutect.somatic.maf.gz", "wt", encoding="utf-8") as handle:
        handle.write("#version gdc-1.0.0\n#filedate 20240101\n#annotation.spec gdc-1.0.1-public\n")
        frame.to_csv(handle, sep="\t", index=False)
    return {"path": "mutations/TCGA.BRCA.mutect.somatic.maf.gz", "exome_size_mb": 38.0}


def _render_ispy(rng: np.random.Generator, truth: pd.DataFrame, folder: Path) -> dict[str, Any]:
    genes = gene_panel()
    patients = truth[truth["has_expression"]].reset_index(drop=True)
    log2 = _log2_expression(rng, patients, genes)
    array = 1.5 + 0.8 * log2 + rng.normal(0.0, 0.05, log2.shape)
    array.loc[["GZMA", "PRF1"]] = 1.5 + 0.8 * log2.loc[["GZMA", "PRF1"]]
    probes, symbols, values = [], [], []
    probe_id = 1
    for gene in genes:
        n_probes = 2 if gene in ("GZMA", "PRF1", "CD8A", "ESR1") or rng.random() < 0.1 else 1
        for k in range(n_probes):
            probes.append(str(probe_id))
            symbols.append(gene)
            shift = 0.0 if k == 0 else -2.5
            values.append(array.loc[gene].to_numpy() + shift + (rng.normal(0, 0.2, len(patients)) if k else 0))
            probe_id += 1
    for _ in range(5):  # control probes without a gene
        probes.append(str(probe_id))
        symbols.append("")
        values.append(rng.normal(12.0, 0.3, len(patients)))
        probe_id += 1
    gsm = [f"GSM{555000 + k}" for k in range(len(patients))]
    raw_ids = [pid.removeprefix("ISPY1_") for pid in patients["patient_id"]]
    q = '"'
    lines = ['!Series_title\t"Patient-specific expression in breast cancer (synthetic, GSE22226-like)"',
             '!Series_geo_accession\t"GSE22226"', '!Series_platform_id\t"GPL1708"',
             "!Sample_title\t" + "\t".join(f'"ISPY sample {r}"' for r in raw_ids),
             "!Sample_geo_accession\t" + "\t".join(f"{q}{g}{q}" for g in gsm),
             "!Sample_characteristics_ch1\t" + "\t".join(f'"i-spy id: {r}"' for r in raw_ids),
             "!Sample_characteristics_ch1\t" + "\t".join(f'"er: {int(s == "HR+/HER2-")}"'
                                                        for s in patients["subtype"]),
             "!series_matrix_table_begin", '"ID_REF"\t' + "\t".join(f"{q}{g}{q}" for g in gsm)]
    for probe, row in zip(probes, values, strict=True):
        lines.append(f'"{probe}"\t' + "\t".join(f"{v:.5f}" for v in row))
    lines.append("!series_matrix_table_end")
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "GSE22226-GPL1708_series_matrix.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    annotation = pd.DataFrame({"ID": probes, "SPOT_ID": probes,
                               "CONTROL_TYPE": ["FALSE" if s else "pos" for s in symbols],
                               "GENE_SYMBOL": symbols, "GENE_NAME": symbols})
    annotation.to_csv(folder / "GPL1708_annotation.tsv", sep="\t", index=False)
    return {"format": "geo-series-matrix", "path": "GSE22226-GPL1708_series_matrix.txt.gz",
            "annotation": "GPL1708_annotation.tsv", "sample_id_field": "i-spy id", "id_format": "ISPY1_{}",
            "platform": "Agilent 44K microarray (GEO GSE22226)", "scale": "log2"}


def render_genomics(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """Write expression (both cohorts) and a MAF (training cohort) and return their manifest sections."""
    rng = np.random.default_rng([seed, SEED_OFFSET])
    train = truth[truth["cohort"] == TRAIN]
    valid = truth[truth["cohort"] == VALID]
    sections: dict[str, dict[str, Any]] = {TRAIN: {}, VALID: {}}
    sections[TRAIN]["expression"] = _render_tcga(rng, train, out / TRAIN)
    sections[TRAIN]["mutations"] = _render_maf(rng, train, out / TRAIN)
    sections[VALID]["expression"] = _render_ispy(rng, valid, out / VALID)
    return sections
