"""Cohort manifests: where a cohort's sources lie, how their columns map, and who is included.

A manifest is YAML validated by `Manifest` (unknown keys are errors). Every path in it is relative
to `root`, and `root` is relative to the manifest file, so a study folder moves as a whole and
users edit one line to point a shipped manifest at their downloads. See `cohorts/*.yaml`.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from radpath.errors import ManifestError
from radpath.paths import read_text

# Tokens that mean "missing" in the source formats users download (GDC, BCR biotab, TCIA sheets).
DEFAULT_NA = ["", "NA", "N/A", "NaN", "nan", "'--", "--", "[Not Available]", "[Not Evaluated]",
              "[Unknown]", "[Not Applicable]", "[Discrepancy]", "Not Reported", "not reported"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSource(_Model):
    """One table file (CSV, TSV, TXT or XLSX) keyed by a patient identifier column."""

    path: str
    sheet: str | None = None                      # XLSX sheet name
    id_column: str
    id_format: str = "{}"                          # e.g. "ISPY1_{}" turns 1001 into ISPY1_1001
    id_slice: int | None = None                    # keep the first N characters (TCGA barcodes: 12)
    skip_rows: list[int] = Field(default_factory=list)  # 1-based data rows to skip (biotab CDE rows)
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA))


class ClinicalTable(TableSource):
    """Maps warehouse attributes (keys) to source columns (values); `codes` maps source values."""

    columns: dict[str, str]
    codes: dict[str, dict[str, str]] = Field(default_factory=dict)


class Endpoint(_Model):
    name: str                                      # rfs, os, ...
    time: list[str]                                # first non-missing of these columns, in days
    event: str
    event_codes: dict[str, int] = Field(default_factory=dict)  # source value -> 0/1 (default: 0/1 as is)


class OutcomeTable(TableSource):
    endpoints: list[Endpoint]


class TilTable(TableSource):
    value_column: str                              # percent stromal TILs, 0-100
    reader_column: str | None = None


class MRISource(_Model):
    """DCE-MRI cases: one folder per patient (NIfTI with `dce.json`, or DICOM as downloaded).

    `study` picks the visit among the studies holding a dynamic series (`first`, `last`, a 1-based index,
    a date, or a StudyDescription glob); `series` (SeriesDescription glob or SeriesNumber) overrides the
    automatic choice of the dynamic series (`radpath.mri.series`).
    """

    root: str                                      # one folder per patient below it
    case_dir: str = "{patient_id}"
    mask: str = "mask.nii.gz"                      # tumour mask, relative to the case folder, or auto-ftv | auto-fcm
    breast_mask: str | None = None
    parenchyma_mask: str | None = None
    # VOI boxes of automatic tumour masks: patient_id -> [x0, x1, y0, y1, z0, z1] (voxel indices of the pre-contrast
    # grid, inclusive), or a CSV with columns patient_id, x0, x1, y0, y1, z0, z1
    voi_boxes: str | dict[str, list[int]] | None = None
    study: str | int = "first"                     # which visit: first | last | 1, 2, -1 | 2002-03-15 | glob
    series: str | int | None = None                # SeriesDescription glob or SeriesNumber of the DCE series

    @field_validator("study", "series", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        """YAML reads `study: 2002-03-15` as a date: keep it as the text the user wrote."""
        return value.isoformat() if isinstance(value, date) else value

    @field_validator("study")
    @classmethod
    def _visit_index(cls, value: str | int) -> str | int:
        if str(value).strip() in {"0", "-0", ""}:
            raise ValueError("visits are numbered from 1 (first; -1 is the last); or give first, last, a date "
                             "or a StudyDescription glob")
        return value


class SlideSource(_Model):
    root: str
    pattern: str = "{patient_id}*"                 # glob below root; first match is the slide
    mpp: float | None = None                       # µm/px for slides that lack their own (never replaces it)
    annotations: str | None = None                 # glob below root, e.g. "{patient_id}*.geojson": QuPath GeoJSON
                                                   # regions of interest per slide (analyses run inside them only)


class ExpressionSource(_Model):
    format: Literal["gdc-star", "matrix", "geo-series-matrix"]
    path: str                                      # sample sheet (gdc-star), matrix file, or series matrix
    root: str | None = None                        # folder of per-sample files (gdc-star)
    annotation: str | None = None                  # probe -> gene table (geo-series-matrix)
    sample_id_field: str | None = None             # GEO: characteristic that carries the patient id
    id_format: str = "{}"
    platform: str | None = None                    # free text, recorded with the scores
    scale: Literal["linear", "log2"] | None = None  # value scale; inferred when omitted


class MutationSource(_Model):
    path: str                                      # MAF file
    exome_size_mb: float = 38.0


class Criterion(_Model):
    """An inclusion criterion, applied in order (paper Figure S1).

    kind: attribute_in (attribute's value in `values`), attribute_present, source_present
    (mri, slides, expression, mutations, til), outcome_present (endpoint).
    """

    label: str
    kind: Literal["attribute_in", "attribute_present", "source_present", "outcome_present"]
    attribute: str | None = None
    values: list[str] | None = None
    source: Literal["mri", "slides", "expression", "mutations", "til"] | None = None
    endpoint: str | None = None
    exclusion: str | None = None   # why a patient failing it is excluded [default: from the label, see `reason`]

    @property
    def reason(self) -> str:
        """The exclusion reason of a patient failing the criterion: `exclusion` if given, else the label turned
        round ('pre-treatment DCE-MRI present' -> 'no pre-treatment DCE-MRI', 'ER known' -> 'ER unknown',
        'invasive carcinoma' -> 'not invasive carcinoma')."""
        if self.exclusion:
            return self.exclusion
        label = self.label.strip()
        for suffix in (" present", " available"):
            if label.lower().endswith(suffix):
                return f"no {label[: -len(suffix)]}"
        if label.lower().endswith(" known"):
            return f"{label[: -len(' known')]} unknown"
        return f"not {label}"


class Manifest(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    role: Literal["training", "validation", "other"] = "other"
    description: str = ""
    root: str = "."
    clinical: list[ClinicalTable]
    outcomes: OutcomeTable | None = None
    til: TilTable | None = None
    mri: MRISource | None = None
    slides: SlideSource | None = None
    expression: ExpressionSource | None = None
    mutations: MutationSource | None = None
    inclusion: list[Criterion] = Field(default_factory=list)

    # set by load_manifest; not part of the YAML
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("clinical")
    @classmethod
    def _one_clinical_table(cls, value: list[ClinicalTable]) -> list[ClinicalTable]:
        if not value:
            raise ValueError("at least one clinical table is required")
        return value


class LoadedManifest:
    """A validated manifest together with the file it came from and resolved paths."""

    def __init__(self, manifest: Manifest, path: Path):
        self.manifest = manifest
        # absolute but not resolved: a manifest reached through a symlink (cohorts/) keeps its folder
        self.path = Path(os.path.abspath(path))
        self.root = Path(os.path.normpath(self.path.parent / manifest.root))

    @property
    def name(self) -> str:
        return self.manifest.name

    def resolve(self, relative: str) -> Path:
        """A manifest path made absolute (relative to `root`)."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key '{where}'")
        else:
            lines.append(f"{where}: {error['msg']}")
    return f"manifest {path} is not valid: " + "; ".join(lines)


def _absolute_paths(manifest: Manifest) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, BaseModel):
            for key, item in value:
                if key in {"path", "root", "annotation"} and isinstance(item, str) and Path(item).is_absolute():
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(manifest)
    return found


def load_manifest(path: str | Path) -> LoadedManifest:
    """Read and validate a manifest; errors name the file and the offending key or path."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"manifest {path} does not exist")
    try:
        data = yaml.safe_load(read_text(path, "manifest"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"manifest {path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {path} must be a mapping of keys, found {type(data).__name__}")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_format_validation(path, exc)) from exc
    for absolute in _absolute_paths(manifest):
        if not Path(absolute).exists():
            raise ManifestError(f"manifest {path}: absolute path {absolute} does not exist")
    loaded = LoadedManifest(manifest, path)
    if not loaded.root.is_dir():
        raise ManifestError(f"manifest {path}: root {loaded.root} is not a folder")
    return loaded
