"""Expression readers on hand-made files in the real layouts: GDC STAR counts + sample sheet, gene matrix,
GEO series matrix with probe annotation; bad input gives errors naming the file, gene or sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import yaml

from radpath.cohort import load_manifest
from radpath.errors import GenomicsError
from radpath.genomics.expression import read_expression, read_star_counts

STAR_HEADER = ("# gene-model: GENCODE v36\ngene_id\tgene_name\tgene_type\tunstranded\tstranded_first\t"
               "stranded_second\ttpm_unstranded\tfpkm_unstranded\tfpkm_uq_unstranded\n"
               "N_unmapped\t\t\t100\t100\t100\t\t\t\nN_multimapping\t\t\t50\t50\t50\t\t\t\n"
               "N_noFeature\t\t\t9\t9\t9\t\t\t\nN_ambiguous\t\t\t7\t7\t7\t\t\t\n")


def star(path: Path, values: dict[str, float]) -> None:
    ids = {"GZMA": "ENSG00000145649.8", "PRF1": "ENSG00000180644.7"}
    lines = [f"{ids.get(g, 'ENSG0000000000' + str(k))}\t{g}\tprotein_coding\t10\t5\t5\t{v}\t1.0\t2.0"
             for k, (g, v) in enumerate(values.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STAR_HEADER + "\n".join(lines) + "\n")


def manifest(folder: Path, expression: dict[str, object]) -> Path:
    (folder / "clinical.csv").write_text("id,age\nX,50\n")
    data = {"name": "demo", "clinical": [{"path": "clinical.csv", "id_column": "id", "columns": {"age": "age"}}],
            "expression": expression}
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def gdc(tmp_path: Path, rows: list[tuple[str, str, dict[str, float]]]) -> Path:
    sheet = []
    for k, (case, sample, values) in enumerate(rows):
        star(tmp_path / "rna" / f"id{k}" / f"f{k}.tsv", values)
        sheet.append({"File ID": f"id{k}", "File Name": f"f{k}.tsv", "Data Category": "Transcriptome Profiling",
                      "Data Type": "Gene Expression Quantification", "Project ID": "TCGA-BRCA",
                      "Case ID": case, "Sample ID": sample, "Sample Type": "x"})
    pd.DataFrame(sheet).to_csv(tmp_path / "rna" / "sheet.tsv", sep="\t", index=False)
    return manifest(tmp_path, {"format": "gdc-star", "path": "rna/sheet.tsv", "root": "rna"})


def test_star_file_layout(tmp_path: Path) -> None:
    star(tmp_path / "a.tsv", {"GZMA": 12.5, "PRF1": 3.25, "ACTB": 900.0})
    values = read_star_counts(tmp_path / "a.tsv")
    assert values.to_dict() == {"ACTB": 900.0, "GZMA": 12.5, "PRF1": 3.25}  # N_* rows dropped


def test_gdc_star_picks_primary_tumour(tmp_path: Path) -> None:
    path = gdc(tmp_path, [
        ("TCGA-AA-0001", "TCGA-AA-0001-11A", {"GZMA": 1.0, "PRF1": 1.0}),
        ("TCGA-AA-0001", "TCGA-AA-0001-01A", {"GZMA": 20.0, "PRF1": 5.0}),
        ("TCGA-BB-0002", "TCGA-BB-0002-01A", {"GZMA": 0.0, "PRF1": 7.0}),
    ])
    data = read_expression(load_manifest(path))
    assert data.scale == "linear" and not data.scale_inferred  # TPM by definition, though all values < 50
    assert data.values.loc["GZMA"].to_dict() == {"TCGA-AA-0001": 20.0, "TCGA-BB-0002": 0.0}
    assert int(data.samples["selected"].sum()) == 2


def test_gene_missing_names_gene_and_file(tmp_path: Path) -> None:
    path = gdc(tmp_path, [("TCGA-AA-0001", "TCGA-AA-0001-01A", {"GZMA": 20.0, "ACTB": 5.0})])
    with pytest.raises(GenomicsError, match=r"sheet.tsv: gene PRF1 not found"):
        read_expression(load_manifest(path))


def test_negative_linear_and_nan(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("gene,S1,S2\nGZMA,10,-2\nPRF1,3,4\nACTB,900,800\n")
    path = manifest(tmp_path, {"format": "matrix", "path": "m.csv", "scale": "linear"})
    with pytest.raises(GenomicsError, match=r"m.csv: negative values on a linear scale \(sample S2\)"):
        read_expression(load_manifest(path))
    (tmp_path / "m.csv").write_text("gene,S1,S2\nGZMA,10,\nPRF1,3,4\nACTB,900,800\n")
    with pytest.raises(GenomicsError, match=r"m.csv: gene GZMA has no value \(NaN\) for sample S2"):
        read_expression(load_manifest(path))


def test_matrix_orientations_and_ensembl_ids(tmp_path: Path) -> None:
    (tmp_path / "genes_by_samples.tsv").write_text(
        "gene_id\tTCGA-AA-0001-01A\tTCGA-BB-0002-01A\nENSG00000145649.8\t10\t20\nENSG00000180644.7\t3\t4\n"
        "ENSG00000075624.17\t900\t800\n")
    data = read_expression(load_manifest(manifest(tmp_path, {"format": "matrix", "path": "genes_by_samples.tsv"})))
    assert data.scale == "linear" and data.scale_inferred
    assert data.values.loc["PRF1", "TCGA-BB-0002"] == 4.0
    assert "ENSG00000075624" in data.values.index
    (tmp_path / "samples_by_genes.csv").write_text("sample,GZMA,PRF1,ACTB\nP1,3.5,2.5,12\nP2,4.5,1.5,11\n")
    data = read_expression(load_manifest(manifest(tmp_path, {"format": "matrix", "path": "samples_by_genes.csv"})))
    assert data.scale == "log2" and data.values.loc["GZMA", "P2"] == 4.5


def test_duplicate_samples_rejected(tmp_path: Path) -> None:
    (tmp_path / "dup.csv").write_text("gene,S1,S1\nGZMA,10,2\nPRF1,3,4\n")
    with pytest.raises(GenomicsError, match=r"dup.csv: sample S1 appears twice"):
        read_expression(load_manifest(manifest(tmp_path, {"format": "matrix", "path": "dup.csv"})))


def series(tmp_path: Path, ids: list[str], rows: dict[str, list[float]]) -> Path:
    gsm = [f"GSM{k}" for k in range(len(ids))]
    lines = ['!Series_geo_accession\t"GSE22226"', "!Sample_geo_accession\t" + "\t".join(f'"{g}"' for g in gsm),
             "!Sample_characteristics_ch1\t" + "\t".join(f'"i-spy id: {i}"' for i in ids),
             "!series_matrix_table_begin", '"ID_REF"\t' + "\t".join(f'"{g}"' for g in gsm)]
    lines += [f'"{probe}"\t' + "\t".join(str(v) for v in values) for probe, values in rows.items()]
    lines.append("!series_matrix_table_end")
    with gzip.open(tmp_path / "GSE_series_matrix.txt.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    pd.DataFrame({"ID": ["1", "2", "3", "4", "5"], "GENE_SYMBOL": ["GZMA", "GZMA", "PRF1", "ACTB", ""]}).to_csv(
        tmp_path / "annot.tsv", sep="\t", index=False)
    return manifest(tmp_path, {"format": "geo-series-matrix", "path": "GSE_series_matrix.txt.gz",
                               "annotation": "annot.tsv", "sample_id_field": "i-spy id", "id_format": "ISPY1_{}"})


def test_series_matrix_collapses_probes_by_highest_mean(tmp_path: Path) -> None:
    path = series(tmp_path, ["1001", "1002"], {"1": [3.0, 4.0], "2": [8.0, 6.0], "3": [5.0, 5.5],
                                               "4": [12.0, 12.5], "5": [1.0, 1.0]})
    data = read_expression(load_manifest(path))
    assert data.scale == "log2"
    assert list(data.values.columns) == ["ISPY1_1001", "ISPY1_1002"]
    assert data.values.loc["GZMA"].tolist() == [8.0, 6.0]      # probe 2: mean 7 > probe 1: mean 3.5
    assert sorted(data.values.index) == ["ACTB", "GZMA", "PRF1"]


def test_series_matrix_duplicate_patient_and_null(tmp_path: Path) -> None:
    path = series(tmp_path, ["1001", "1001"], {"1": [3.0, 4.0], "3": [5.0, 5.5]})
    with pytest.raises(GenomicsError, match="patient ISPY1_1001 has several samples"):
        read_expression(load_manifest(path))
    path = series(tmp_path, ["1001", "1002"], {"2": [3.0, "null"], "3": [5.0, 5.5]})  # type: ignore[list-item]
    with pytest.raises(GenomicsError, match=r"GSE_series_matrix.txt.gz: gene GZMA has no value \(NaN\)"):
        read_expression(load_manifest(path))
