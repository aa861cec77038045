"""The one-pass extended set (issue 15, item 9) gives exactly what pyradiomics' extractor gives, run the
way radpath ran it before: one `RadiomicsFeatureExtractor.execute` per map and region, the tumour shape
twice (morphology and extended), every class cropping and binning for itself."""

from __future__ import annotations

import numpy as np
import pytest

from radpath.mri.features import CaseMaps, compute_features
from radpath.mri.features.extended import extended, extended_by_extractor
from radpath.mri.kinetics import pe_array, ser_array
from radpath.mri.params import MRIParams


def textured_maps(seed: int = 3, n: int = 40) -> CaseMaps:
    """A lobulated tumour with textured enhancement in textured parenchyma (1 mm grid)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:n, :n, :n] - n / 2
    radius = 8 + 2 * np.sin(3 * np.arctan2(y, x))
    tumour = np.sqrt(z ** 2 + y ** 2 + x ** 2) < radius
    parenchyma = (y > -12) & ~tumour
    texture = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 1.5)
    pre = 1.0 + 0.1 * rng.random((n, n, n))
    early = pre * (1 + np.where(tumour, 1.2 + 2 * texture, 0.3 + texture))
    late = pre * (1 + np.where(tumour, 0.9 + 2 * texture, 0.35 + texture))
    return CaseMaps(spacing_mm=1.0, pre=pre, early=early, late=late, tumour=tumour, parenchyma=parenchyma,
                    pe=pe_array(pre, early), ser=ser_array(pre, early, late, clip=5.0), native_voxel_mm3=1.0,
                    native_parenchyma=parenchyma, native_pe=pe_array(pre, early))


def test_one_pass_equals_the_extractor() -> None:
    params = MRIParams()
    maps = textured_maps()
    fast = extended(maps, params)
    reference = extended_by_extractor(textured_maps(), params)
    assert len(fast) == len(reference) == 386 and set(fast) == set(reference)
    for code, value in reference.items():
        assert fast[code] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), code


def test_morphology_and_extended_share_one_shape_pass() -> None:
    params = MRIParams()
    maps = textured_maps()
    values = compute_features(maps, params)
    assert "tumour_shape" in maps.cache and f"surrounding:{params.ts_distance_mm}" in maps.cache
    assert values["M1"] == pytest.approx(values["X_TUM_shape_MeshVolume"] / 1000.0)
    assert values["M2"] == values["X_TUM_shape_Sphericity"]
