"""The typed, versioned parameters of `radpath extract-mri` (one YAML or JSON file, every key optional)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radpath.errors import ConfigError
from radpath.paths import read_text

PARAMS_VERSION = 1


class MRIParams(BaseModel):
    """Every parameter that changes a feature value; its hash identifies the run's features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PARAMS_VERSION
    # temporal standardisation: targets for the effective (centre-of-acquisition) times, seconds after injection
    early_target_s: float = 150.0
    late_target_s: float = 450.0
    # header times mark the start of a 3D acquisition; the effective time adds this fraction of its duration
    acquisition_centre_fraction: float = 0.5
    # N4 bias correction on the pre-contrast phase; the same field divides every phase
    n4: bool = True
    n4_shrink: int = Field(default=4, ge=1)
    n4_iterations: list[int] = Field(default_factory=lambda: [20, 10])
    # resampling (mm) of the tumour region; the crop keeps this margin around the tumour
    spacing_mm: float = Field(default=1.0, gt=0)
    crop_margin_mm: float = Field(default=24.0, ge=0)
    # breast region before clustering (radpath.mri.breast): a skin band of this width (mm) is removed along the
    # body-air boundary (0 keeps the skin); without a breast mask the chest wall is cut where the body fills
    # at least this fraction of the field of view
    skin_band_mm: float = Field(default=4.0, ge=0)
    chest_wall_fill: float = Field(default=0.9, gt=0, le=1)
    # parenchyma cluster: None decides from the DICOM headers (Scan Options, series description); True takes the
    # brightest cluster (fat-suppressed series), False the darkest (non-fat-suppressed T1)
    fat_suppressed: bool | None = None
    # parenchyma: fuzzy C-means on the pre-contrast image within the breast
    fcm_clusters: int = Field(default=2, ge=2, le=4)
    fcm_fuzziness: float = Field(default=2.0, gt=1)
    fcm_membership: float = Field(default=0.5, gt=0, lt=1)
    # automatic tumour mask (manifest `mri.mask: auto-ftv | auto-fcm`, or `extract-mri --tumour-mask`), see
    # radpath.mri.tumour: the I-SPY functional tumour volume's early PE threshold (70 %), background threshold
    # (fraction x percentile of the pre-contrast intensities in the VOI; None: 0.6 on fat-suppressed series, 0.2
    # otherwise) and neighbour count; the clusters of auto-fcm; both fill the holes of the largest component
    ftv_pe_threshold: float = Field(default=0.7, gt=0)
    ftv_background_fraction: float | None = Field(default=None, ge=0, le=1)
    ftv_background_percentile: float = Field(default=95.0, gt=0, le=100)
    ftv_min_neighbours: int = Field(default=4, ge=0, le=26)
    fcm_tumour_clusters: int = Field(default=3, ge=2, le=5)
    auto_mask_fill_holes: bool = True
    # kinetic maps: voxels with a denominator <= this are masked (normalised intensity units)
    min_denominator: float = Field(default=0.0, ge=0)
    ser_clip: float = Field(default=5.0, gt=0)  # SER beyond this is treated as invalid (near-zero washout denominators)
    # thresholds of the paper's Table 1
    ftv_ser: list[float] = Field(default_factory=lambda: [1.0, 1.5])
    bpe_pe: list[float] = Field(default_factory=lambda: [0.2, 0.6])
    ts_distance_mm: float = 20.0
    # texture discretisation (fixed bin width on the kinetic map, IBSI FBS)
    ser_bin_width: float = Field(default=0.05, gt=0)
    pe_bin_width: float = Field(default=0.1, gt=0)
    # extended pyradiomics set on PE/SER within the tumour and tumour-surrounding parenchyma
    extended: bool = True
    extended_classes: list[str] = Field(
        default_factory=lambda: ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
    )
    # redundancy reduction
    reduce_threshold: float = Field(default=0.85, gt=0, le=1)


def load_params(path: str | Path | None) -> MRIParams:
    """Defaults, or the file's values over them; errors name the file and the key."""
    if path is None:
        return MRIParams()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"MRI parameters file {path} does not exist")
    try:
        text = read_text(path, "MRI parameters file")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"MRI parameters file {path} cannot be parsed: {' '.join(str(exc).split())}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"MRI parameters file {path} must be a mapping of keys")
    try:
        params = MRIParams.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"MRI parameters file {path} is not valid: {detail}") from exc
    if params.version != PARAMS_VERSION:
        raise ConfigError(
            f"MRI parameters file {path} has version {params.version}; this radpath reads {PARAMS_VERSION}"
        )
    return params
