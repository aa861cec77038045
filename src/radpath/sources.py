"""Read a manifest's source tables and find which patients each source covers.

`read_table` reads CSV/TSV/TXT/XLSX (gzip allowed) as text, keeping only the columns asked for,
so columns a manifest does not name (names, dates of birth, ...) never leave the file. Errors name
the file and, where it applies, the column. `PRESENCE` is the explicit registry of source kinds
used by the `source_present` inclusion criterion: each returns the patient ids a source holds.
`SOURCE_PATHS` names where each source kind lies, so that a source whose file or folder does not exist
at all is *absent* (reported, and its patients counted as missing by the criteria that need it) while
one that exists but cannot be read stays an error.
"""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from radpath.cohort import LoadedManifest, TableSource
from radpath.errors import IngestError


def _separator(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_table(loaded: LoadedManifest, source: TableSource, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a source table as strings (missing values as None).

    The frame's index is the 1-based line (CSV/TSV) or row (XLSX) number in the file, so errors
    can point at it. Rows listed in `skip_rows` (1-based data rows, e.g. BCR biotab CDE rows) are dropped.
    """
    path = loaded.resolve(source.path)
    if not path.exists():
        raise IngestError(f"cohort {loaded.name}: source file {path} does not exist")
    wanted = list(dict.fromkeys(columns))
    try:
        if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # openpyxl: "Unknown extension is not supported"
                header = pd.read_excel(path, sheet_name=source.sheet or 0, nrows=0)
                _check_columns(path, list(header.columns), wanted, source.sheet)
                frame = pd.read_excel(
                    path, sheet_name=source.sheet or 0, usecols=wanted, dtype=str,
                    na_values=source.na_values, keep_default_na=False,
                )
        else:
            sep = _separator(path)
            header = pd.read_csv(path, sep=sep, nrows=0, comment=None)
            _check_columns(path, list(header.columns), wanted, None)
            frame = pd.read_csv(
                path, sep=sep, usecols=wanted, dtype=str, na_values=source.na_values,
                keep_default_na=False, skip_blank_lines=False,
            )
    except IngestError:
        raise
    except (ValueError, OSError, gzip.BadGzipFile, pd.errors.ParserError) as exc:
        raise IngestError(f"cohort {loaded.name}: cannot read {path}: {exc}") from exc
    frame.index = pd.RangeIndex(2, len(frame) + 2)  # line 1 is the header
    if source.skip_rows:
        frame = frame.drop(index=[row + 1 for row in source.skip_rows], errors="ignore")
    frame = frame.dropna(how="all")
    return frame.astype(object).where(frame.notna(), None)


def _check_columns(path: Path, found: list[str], wanted: list[str], sheet: str | None) -> None:
    missing = [column for column in wanted if column not in found]
    if missing:
        where = f"{path}" + (f" (sheet {sheet})" if sheet else "")
        raise IngestError(
            f"{where}: no column {', '.join(repr(m) for m in missing)}; the file has columns "
            f"{', '.join(map(str, found[:40]))}{' ...' if len(found) > 40 else ''}"
        )


def patient_id(raw: str, source: TableSource) -> str:
    """Apply a source's id rules: integers from spreadsheets lose '.0', `id_slice`, then `id_format`."""
    text = str(raw).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if source.id_slice:
        text = text[: source.id_slice]
    return source.id_format.format(text)


# ---------------------------------------------------------------- presence of each source kind


def _mri(loaded: LoadedManifest, patients: Sequence[str]) -> set[str]:
    spec = loaded.manifest.mri
    if spec is None:
        return set()
    root = loaded.resolve(spec.root)
    found = set()
    for pid in patients:
        folder = root / spec.case_dir.format(patient_id=pid)
        if folder.is_dir() and any(folder.iterdir()):
            found.add(pid)
    return found


def _slides(loaded: LoadedManifest, patients: Sequence[str]) -> set[str]:
    spec = loaded.manifest.slides
    if spec is None:
        return set()
    root = loaded.resolve(spec.root)
    return {pid for pid in patients if any(root.glob(spec.pattern.format(patient_id=pid)))}


def expression_patient_ids(loaded: LoadedManifest) -> set[str]:
    """Patients with a usable (tumour) expression sample: GDC sample sheet, matrix header or series matrix.

    Uses the genomics readers' sample table, so normal-tissue-only patients do not count as present.
    """
    from radpath.errors import GenomicsError
    from radpath.genomics.expression import sample_table

    if loaded.manifest.expression is None:
        return set()
    try:
        samples = sample_table(loaded)
    except GenomicsError as exc:
        raise IngestError(f"cohort {loaded.name}: {exc}") from exc
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:  # a present file that cannot be read
        path = loaded.resolve(loaded.manifest.expression.path)
        raise IngestError(f"cohort {loaded.name}: cannot read expression file {path}: {exc}") from exc
    return set(samples.loc[samples["selected"], "patient_id"])


def mutation_patient_ids(loaded: LoadedManifest) -> set[str]:
    """Patients with a tumour sample in the MAF (TCGA barcodes: the first 12 characters)."""
    from radpath.errors import GenomicsError
    from radpath.genomics.tmb import maf_samples, read_maf

    spec = loaded.manifest.mutations
    if spec is None:
        return set()
    path = loaded.resolve(spec.path)
    if not path.exists():
        raise IngestError(f"cohort {loaded.name}: mutation file {path} does not exist")
    try:
        samples = maf_samples(read_maf(path))
    except GenomicsError as exc:
        raise IngestError(f"cohort {loaded.name}: {exc}") from exc
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:  # a present file that cannot be read
        raise IngestError(f"cohort {loaded.name}: cannot read mutation file {path}: {exc}") from exc
    return set(samples.loc[samples["selected"], "patient_id"])


PRESENCE: dict[str, Callable[[LoadedManifest, Sequence[str]], set[str]]] = {
    "mri": _mri,
    "slides": _slides,
    "expression": lambda loaded, patients: expression_patient_ids(loaded) & set(patients),
    "mutations": lambda loaded, patients: mutation_patient_ids(loaded) & set(patients),
}


def _expression_paths(loaded: LoadedManifest) -> list[Path]:
    spec = loaded.manifest.expression
    assert spec is not None
    return [loaded.resolve(spec.path), *([loaded.resolve(spec.root)] if spec.root else [])]


# Where each source kind lies (the files or folders that must exist for it to be present at all).
SOURCE_PATHS: dict[str, Callable[[LoadedManifest], list[Path]]] = {
    "mri": lambda loaded: [loaded.resolve(loaded.manifest.mri.root)] if loaded.manifest.mri else [],
    "slides": lambda loaded: [loaded.resolve(loaded.manifest.slides.root)] if loaded.manifest.slides else [],
    "expression": _expression_paths,
    "mutations": lambda loaded: [loaded.resolve(loaded.manifest.mutations.path)] if loaded.manifest.mutations else [],
}


def absent_sources(loaded: LoadedManifest) -> dict[str, Path]:
    """Source kinds the manifest names whose file or folder does not exist: kind -> the first missing path."""
    absent: dict[str, Path] = {}
    for kind, paths in SOURCE_PATHS.items():
        if getattr(loaded.manifest, kind, None) is None:
            continue
        missing = [path for path in paths(loaded) if not path.exists()]
        if missing:
            absent[kind] = missing[0]
    return absent
