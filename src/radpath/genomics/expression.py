"""Expression readers for the formats users download, returning one genes x patients matrix per cohort.

Formats (the manifest's `expression.format`):

* ``gdc-star``: a GDC sample sheet (File ID, File Name, Case ID, Sample ID, Sample Type, ...) and one
  STAR "augmented_star_gene_counts" TSV per file, found at ``root/<File ID>/<File Name>`` (the layout of a
  GDC download) or ``root/<File Name>``. Values: the `tpm_unstranded` column, rows keyed by `gene_name`.
* ``matrix``: a CSV/TSV gene matrix, samples in columns and genes in rows or the other way round (the
  side whose labels look like genes is the gene side). Gene labels may be symbols or Ensembl ids; version
  suffixes (``ENSG00000145649.8``) are dropped and the ids of the score genes map to their symbols.
* ``geo-series-matrix``: a GEO ``*_series_matrix.txt[.gz]``; the patient id is read from the
  ``!Sample_characteristics_ch1`` entry named by `sample_id_field` (e.g. "i-spy id: 1001"), and probes
  map to genes through an annotation table (columns ID and GENE_SYMBOL, as in a GEO platform table).

Several rows for one gene (probes, or duplicated symbols) are collapsed by one documented rule: the row
with the highest mean expression across samples is kept. One sample per patient is kept by the rule of
`radpath.genomics.samples`. Every error names the file and, where it applies, the gene or sample.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from radpath.cohort import ExpressionSource, LoadedManifest
from radpath.errors import GenomicsError
from radpath.genomics.samples import parse_barcode, select_samples

Scale = Literal["linear", "log2"]
SCORE_GENES = ("GZMA", "PRF1")
# Ensembl gene ids (GENCODE) of the score genes, so matrices keyed by Ensembl id can be scored.
ENSEMBL_SYMBOLS = {"ENSG00000145649": "GZMA", "ENSG00000180644": "PRF1"}
STAR_VALUE_COLUMN = "tpm_unstranded"
LINEAR_MIN_MAX = 50.0  # a matrix whose largest value is above this is on a linear scale
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?(_PAR_Y)?$")


@dataclass
class ExpressionSet:
    """One cohort's expression: `values` is genes x patients on `scale` (one selected sample per patient)."""

    cohort: str
    values: pd.DataFrame
    scale: Scale
    scale_inferred: bool
    platform: str
    samples: pd.DataFrame          # sample_id, patient_id, file, sample_type, selected, note
    source: Path

    def log2(self, offset: float = 0.01) -> pd.DataFrame:
        """Values on the log2 scale (linear values: log2(x + offset), the offset of the CYT score)."""
        if self.scale == "log2":
            return self.values.astype(float)
        return np.log2(self.values.astype(float) + offset)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def _separator(path: Path) -> str:
    return "," if path.name.lower().removesuffix(".gz").endswith(".csv") else "\t"


def clean_gene(label: object) -> str:
    """A gene label without Ensembl version suffix; Ensembl ids of the score genes become their symbols."""
    text = str(label).strip().strip('"')
    if _ENSEMBL.match(text):
        text = text.split(".")[0]
        return ENSEMBL_SYMBOLS.get(text, text)
    return text


def _looks_like_gene(label: str) -> bool:
    return bool(_ENSEMBL.match(label)) or label.upper() in SCORE_GENES


def collapse_rows(values: pd.DataFrame, genes: pd.Series) -> pd.DataFrame:
    """Collapse rows mapping to the same gene: keep the row with the highest mean (first on ties)."""
    frame = values.copy()
    frame.index = pd.Index(genes.to_numpy(), name="gene")
    frame = frame[frame.index.notna() & (frame.index.astype(str) != "")]
    if not frame.index.has_duplicates:
        return frame
    means = frame.mean(axis=1, skipna=True).to_numpy()
    order = np.lexsort((np.arange(len(frame)), -np.nan_to_num(means, nan=-np.inf)))
    ordered = frame.iloc[order]
    return ordered[~ordered.index.duplicated(keep="first")].sort_index()


def infer_scale(values: pd.DataFrame) -> Scale:
    """log2 if any value is negative or the largest is at most LINEAR_MIN_MAX, else linear."""
    array = values.to_numpy(dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return "linear"
    if (finite < 0).any() or finite.max() <= LINEAR_MIN_MAX:
        return "log2"
    return "linear"


# ---------------------------------------------------------------- GDC STAR counts


def read_sample_sheet(path: Path, root: Path) -> pd.DataFrame:
    """A GDC sample sheet as sample_id, patient_id, file (the per-sample TSV's path)."""
    if not path.exists():
        raise GenomicsError(f"GDC sample sheet {path} does not exist")
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise GenomicsError(f"cannot read GDC sample sheet {path}: {exc}") from exc
    missing = [c for c in ("File ID", "File Name", "Case ID", "Sample ID") if c not in sheet.columns]
    if missing:
        raise GenomicsError(f"GDC sample sheet {path}: no column {', '.join(map(repr, missing))}")
    if "Data Type" in sheet.columns:
        sheet = sheet[sheet["Data Type"].isin(["Gene Expression Quantification", ""])]
    files = []
    for file_id, name in zip(sheet["File ID"], sheet["File Name"], strict=True):
        nested = root / file_id / name
        files.append(str(nested if nested.exists() or not (root / name).exists() else root / name))
    frame = pd.DataFrame({
        "sample_id": [s.split(",")[0].strip() for s in sheet["Sample ID"]],
        "patient_id": [c.split(",")[0].strip() for c in sheet["Case ID"]],
        "file": files,
    })
    repeated = frame[frame.duplicated(["sample_id", "file"], keep=False)]
    if not repeated.empty:
        raise GenomicsError(f"GDC sample sheet {path}: sample {repeated['sample_id'].iloc[0]} is listed twice "
                            f"with the same file {Path(repeated['file'].iloc[0]).name}")
    return frame


def read_star_counts(path: Path, column: str = STAR_VALUE_COLUMN) -> pd.Series:
    """One GDC STAR gene-counts TSV as a Series gene_name -> value (N_* summary rows dropped)."""
    if not Path(path).exists():
        raise GenomicsError(f"STAR counts file {path} does not exist")
    try:
        table = pd.read_csv(path, sep="\t", comment="#", dtype={"gene_id": str, "gene_name": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise GenomicsError(f"cannot read STAR counts file {path}: {exc}") from exc
    for needed in ("gene_id", column):
        if needed not in table.columns:
            raise GenomicsError(f"STAR counts file {path}: no column {needed!r}; it has {list(table.columns)}")
    table = table[~table["gene_id"].astype(str).str.startswith("N_")]
    names = table["gene_name"] if "gene_name" in table.columns else table["gene_id"].map(clean_gene)
    values = pd.to_numeric(table[column], errors="coerce")
    collapsed = collapse_rows(pd.DataFrame({"v": values.to_numpy()}), names.fillna("").astype(str))
    return collapsed["v"]


# ---------------------------------------------------------------- matrices


def read_matrix(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """A gene matrix file as genes x samples (values float) and the sample labels in file order."""
    if not path.exists():
        raise GenomicsError(f"expression matrix {path} does not exist")
    sep = _separator(path)
    with _open(path) as handle:
        header = [h.strip().strip('"') for h in handle.readline().rstrip("\r\n").split(sep)]
    try:
        table = pd.read_csv(path, sep=sep, index_col=0, header=0)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise GenomicsError(f"cannot read expression matrix {path}: {exc}") from exc
    table.columns = header[1:len(table.columns) + 1]
    table.index = [str(i).strip() for i in table.index]
    column_genes = sum(_looks_like_gene(c) for c in table.columns)
    row_genes = sum(_looks_like_gene(r) for r in table.index)
    if column_genes > row_genes:
        table = table.T
    samples = [str(s) for s in table.columns]
    seen: set[str] = set()
    for sample in samples:
        if sample in seen:
            raise GenomicsError(f"expression matrix {path}: sample {sample} appears twice")
        seen.add(sample)
    try:
        numeric = table.apply(pd.to_numeric, errors="raise").astype(float)
    except ValueError as exc:
        raise GenomicsError(f"expression matrix {path}: non-numeric value ({exc})") from exc
    genes = pd.Series([clean_gene(g) for g in numeric.index])
    return collapse_rows(numeric, genes), samples


# ---------------------------------------------------------------- GEO series matrix


def read_series_matrix(path: Path, field: str | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """A GEO series matrix as probes x GSM (float) and GSM -> patient id (from `field` of characteristics)."""
    if not path.exists():
        raise GenomicsError(f"GEO series matrix {path} does not exist")
    accessions: list[str] = []
    ids: dict[str, str] = {}
    key = (field or "").strip().lower()
    rows: list[list[str]] = []
    header: list[str] | None = None
    inside = False
    with _open(path) as handle:
        for line in handle:
            cells = [c.strip().strip('"') for c in line.rstrip("\r\n").split("\t")]
            if line.startswith("!series_matrix_table_begin"):
                inside = True
            elif line.startswith("!series_matrix_table_end"):
                break
            elif inside:
                if header is None:
                    header = cells
                elif cells and cells[0]:
                    rows.append(cells)
            elif line.startswith("!Sample_geo_accession"):
                accessions = cells[1:]
            elif line.startswith("!Sample_characteristics_ch1") and key:
                for gsm, cell in zip(accessions, cells[1:], strict=False):
                    name, _, value = cell.partition(":")
                    if name.strip().lower() == key and value.strip():
                        ids[gsm] = value.strip()
    if header is None:
        raise GenomicsError(f"GEO series matrix {path}: no !series_matrix_table_begin data table")
    samples = header[1:]
    duplicated = pd.Index(samples)[pd.Index(samples).duplicated()]
    if len(duplicated):
        raise GenomicsError(f"GEO series matrix {path}: sample {duplicated[0]} appears twice")
    if key and not ids:
        raise GenomicsError(f"GEO series matrix {path}: no !Sample_characteristics_ch1 entry '{field}: ...'")
    width = len(samples) + 1
    bad = [r[0] for r in rows if len(r) != width]
    if bad:
        raise GenomicsError(f"GEO series matrix {path}: probe {bad[0]} has a different number of values")
    data = np.array([r[1:] for r in rows], dtype=object)
    values = pd.DataFrame(data, index=[r[0] for r in rows], columns=samples)
    values = values.replace({"null": np.nan, "": np.nan, "NA": np.nan, "NaN": np.nan})
    try:
        values = values.astype(float)
    except ValueError as exc:
        raise GenomicsError(f"GEO series matrix {path}: non-numeric value ({exc})") from exc
    return values, ids if key else {s: s for s in samples}


def read_annotation(path: Path) -> pd.Series:
    """A probe -> gene symbol table (GEO platform table: ID and GENE_SYMBOL; or ID and Gene Symbol/Symbol)."""
    if not path.exists():
        raise GenomicsError(f"probe annotation {path} does not exist")
    table = pd.read_csv(path, sep=_separator(path), comment="#", dtype=str, keep_default_na=False)
    gene_column = next((c for c in ("GENE_SYMBOL", "Gene Symbol", "Symbol", "gene") if c in table.columns), None)
    if "ID" not in table.columns or gene_column is None:
        raise GenomicsError(f"probe annotation {path}: needs columns ID and GENE_SYMBOL; it has {list(table.columns)}")
    symbols = table[gene_column].str.split("///").str[0].str.strip()
    return pd.Series(symbols.to_numpy(), index=table["ID"].str.strip())


# ---------------------------------------------------------------- one cohort


def _patients_frame(samples: Iterable[str], mapping: dict[str, str], id_format: str) -> pd.DataFrame:
    rows = []
    for sample in samples:
        raw = mapping.get(sample)
        patient = None if raw is None else id_format.format(raw)
        rows.append({"sample_id": sample, "patient_id": patient})
    return pd.DataFrame(rows, columns=["sample_id", "patient_id"])


def sample_table(loaded: LoadedManifest) -> pd.DataFrame:
    """The expression source's samples with patient ids and the selection rule applied (no values read
    except the header of a matrix); columns sample_id, patient_id, file, sample_type, selected, note."""
    spec = _spec(loaded)
    path = loaded.resolve(spec.path)
    if spec.format == "gdc-star":
        frame = read_sample_sheet(path, loaded.resolve(spec.root or "."))
        frame["patient_id"] = [spec.id_format.format(p) for p in frame["patient_id"]]
    elif spec.format == "matrix":
        _, labels = read_matrix(path)
        frame = pd.DataFrame({"sample_id": labels,
                              "patient_id": [spec.id_format.format(parse_barcode(s).patient) for s in labels]})
        frame["file"] = str(path)
    else:
        values, ids = read_series_matrix(path, spec.sample_id_field)
        frame = _patients_frame(values.columns, ids, spec.id_format)
        frame["file"] = str(path)
    unmapped = frame[frame["patient_id"].isna()]
    frame = frame.dropna(subset=["patient_id"])
    selected = select_samples(frame)
    non_tcga = selected[selected["sample_type"] == "unknown"]
    repeated = non_tcga[non_tcga["patient_id"].duplicated(keep=False)]
    if not repeated.empty:
        patient = repeated["patient_id"].iloc[0]
        names = ", ".join(repeated.loc[repeated["patient_id"] == patient, "sample_id"])
        raise GenomicsError(f"expression file {path}: patient {patient} has several samples ({names}) "
                            "and no rule picks one; keep one sample per patient")
    if not unmapped.empty:
        extra = unmapped.assign(file=str(path), sample_type="unknown", selected=False,
                                note=f"no '{spec.sample_id_field}' characteristic")
        selected = pd.concat([selected, extra], ignore_index=True)
    return selected


def _spec(loaded: LoadedManifest) -> ExpressionSource:
    spec = loaded.manifest.expression
    if spec is None:
        raise GenomicsError(f"cohort {loaded.name}: the manifest {loaded.path} has no expression section")
    return spec


def read_expression(loaded: LoadedManifest) -> ExpressionSet:
    """Read a cohort's expression source into an ExpressionSet (checked: score genes present, values usable)."""
    spec = _spec(loaded)
    path = loaded.resolve(spec.path)
    samples = sample_table(loaded)
    chosen = samples[samples["selected"]]
    if spec.format == "gdc-star":
        columns = {}
        for row in chosen.itertuples(index=False):
            columns[row.patient_id] = read_star_counts(Path(row.file))
        values = pd.DataFrame(columns)
    elif spec.format == "matrix":
        matrix, _ = read_matrix(path)
        values = matrix[list(chosen["sample_id"])]
        values.columns = list(chosen["patient_id"])
    else:
        if spec.annotation is None:
            raise GenomicsError(f"cohort {loaded.name}: a geo-series-matrix source needs `annotation` (probe -> gene)")
        probes, _ = read_series_matrix(path, spec.sample_id_field)
        annotation = read_annotation(loaded.resolve(spec.annotation))
        probes = probes[list(chosen["sample_id"])]
        probes.columns = list(chosen["patient_id"])
        genes = pd.Series([annotation.get(str(p), "") for p in probes.index])
        values = collapse_rows(probes, genes)
    if values.empty or values.shape[1] == 0:
        raise GenomicsError(f"expression file {path}: no samples with a patient id")
    # GDC STAR tables are TPM by definition; other sources declare their scale or it is inferred
    known: Scale | None = spec.scale or ("linear" if spec.format == "gdc-star" else None)
    scale: Scale = known or infer_scale(values)
    check_values(values, scale, path)
    return ExpressionSet(loaded.name, values, scale, known is None, spec.platform or spec.format,
                         samples, path)


def check_values(values: pd.DataFrame, scale: Scale, path: Path, genes: Iterable[str] = SCORE_GENES) -> None:
    """Raise GenomicsError for a missing score gene, NaN or (linear scale) negative values, naming the file."""
    for gene in genes:
        if gene not in values.index:
            raise GenomicsError(f"expression file {path}: gene {gene} not found "
                                f"({len(values.index)} genes, e.g. {', '.join(map(str, values.index[:5]))})")
        row = values.loc[gene]
        missing = row[row.isna()]
        if len(missing):
            raise GenomicsError(f"expression file {path}: gene {gene} has no value (NaN) for sample "
                                f"{missing.index[0]} ({len(missing)} samples)")
    array = values.to_numpy(dtype=float)
    if scale == "linear" and (array[np.isfinite(array)] < 0).any():
        where = values.columns[(values < 0).any(axis=0)][0]
        raise GenomicsError(f"expression file {path}: negative values on a linear scale (sample {where})")
    if scale == "log2" and np.nanmax(array) > 10 * LINEAR_MIN_MAX:
        raise GenomicsError(f"expression file {path}: declared log2 but values reach {np.nanmax(array):.4g}, "
                            "which look linear; fix `scale` in the manifest")
