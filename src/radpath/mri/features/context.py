"""What a feature family computes from: one case's maps and masks after preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radpath.mri.kinetics import KineticMap


@dataclass
class CaseMaps:
    """Arrays are (z, y, x). `iso_*`: the tumour region resampled to isotropic voxels; `native_*`: acquisition grid."""

    spacing_mm: float                 # isotropic voxel edge of the iso arrays
    pre: np.ndarray                   # normalised pre-contrast (iso)
    early: np.ndarray
    late: np.ndarray
    tumour: np.ndarray                # bool (iso)
    parenchyma: np.ndarray            # bool (iso), excludes the tumour
    pe: KineticMap                    # iso
    ser: KineticMap                   # iso
    native_voxel_mm3: float
    native_parenchyma: np.ndarray     # bool, whole ipsilateral parenchyma on the acquisition grid
    native_pe: KineticMap
    # per-case results that several families need (tumour shape, surrounding shell, cropped images), computed once
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def voxel_mm3(self) -> float:
        return self.spacing_mm ** 3

    def cached(self, key: str, make: Any) -> Any:
        """`make()` the first time `key` is asked for, the same object afterwards."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def image(self, values: np.ndarray) -> Any:
        """A SimpleITK image of an iso array (for pyradiomics)."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(values.astype(np.float64) if values.dtype != bool else values.astype(np.uint8))
        image.SetSpacing([self.spacing_mm] * 3)
        return image
