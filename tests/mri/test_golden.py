"""Golden values: every paper feature (Table 1) against an analytic phantom or the IBSI reference, and the
IBSI GLCM function against all 25 IBSI 3D-averaged GLCM reference values of the digital phantom."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import SimpleITK as sitk

from radpath.mri.features import FAMILIES, PAPER_CODES, CaseMaps, feature_defs
from radpath.mri.features.core import margin_sharpness, shape_features
from radpath.mri.kinetics import pe_array, ser_array
from radpath.mri.params import MRIParams
from radpath.mri.texture import FEATURES, glcm_features

from .helpers import IBSI, ibsi_reference

REF = ibsi_reference()
PARAMS = MRIParams(extended=False)


def _ibsi_arrays() -> tuple[np.ndarray, np.ndarray, float]:
    img = sitk.ReadImage(str(IBSI / "phantom.nii.gz"))
    mask = sitk.ReadImage(str(IBSI / "mask.nii.gz"))
    return sitk.GetArrayFromImage(img).astype(float), sitk.GetArrayFromImage(mask) > 0, img.GetSpacing()[0]


def _maps(pre: np.ndarray, early: np.ndarray, late: np.ndarray, tumour: np.ndarray, parenchyma: np.ndarray,
          spacing: float = 1.0, native_spacing: tuple[float, float, float] | None = None) -> CaseMaps:
    """CaseMaps from constructed phase intensities (native grid = iso grid unless a native spacing is given)."""
    return CaseMaps(
        spacing_mm=spacing, pre=pre, early=early, late=late, tumour=tumour, parenchyma=parenchyma & ~tumour,
        pe=pe_array(pre, early), ser=ser_array(pre, early, late, clip=PARAMS.ser_clip),
        native_voxel_mm3=float(np.prod(native_spacing)) if native_spacing else spacing ** 3,
        native_parenchyma=parenchyma & ~tumour, native_pe=pe_array(pre, early),
    )


def ibsi_texture_phantom() -> CaseMaps:
    """The IBSI phantom's grey levels / 2 as the tumour's SER map (bin width 0.5 gives the grey levels back)."""
    levels, mask, spacing = _ibsi_arrays()
    pre = np.ones_like(levels)
    early = pre + levels          # SER = (early - pre) / (late - pre) = levels / 2 with late - pre = 2
    late = pre + 2.0
    return _maps(pre, early, late, mask, np.zeros_like(mask), spacing)


def ibsi_morphology_phantom() -> CaseMaps:
    levels, mask, spacing = _ibsi_arrays()
    pre = np.ones_like(levels)
    return _maps(pre, pre * 2, pre * 1.5, mask, np.zeros_like(mask), spacing)


def cube_phantom(n: int = 10, enhancement: float = 0.8) -> CaseMaps:
    """A cube of n^3 voxels (1 mm) enhancing by `enhancement` in a non-enhancing background."""
    shape = (n + 8,) * 3
    tumour = np.zeros(shape, bool)
    tumour[4:4 + n, 4:4 + n, 4:4 + n] = True
    pre = np.ones(shape)
    early = pre + enhancement * tumour
    late = pre + enhancement * tumour / 1.2 + 0.5 * ~tumour
    return _maps(pre, early, late, tumour, np.zeros(shape, bool))


def cube_sharpness(n: int) -> tuple[float, float]:
    """Analytic mean and SD of margin sharpness of a cube with central differences: inner face voxels 1/2,
    edge voxels sqrt(2)/2, corner voxels sqrt(3)/2 (per mm, relative to the enhancement)."""
    counts = np.array([6 * (n - 2) ** 2, 12 * (n - 2), 8], dtype=float)
    values = np.array([0.5, math.sqrt(2) / 2, math.sqrt(3) / 2])
    mean = float((counts * values).sum() / counts.sum())
    sd = float(math.sqrt((counts * (values - mean) ** 2).sum() / counts.sum()))
    return mean, sd


def ftv_phantom() -> CaseMaps:
    """Tumour of 3 slabs (1 mm): 400 voxels SER 0.8, 300 voxels SER 1.2, 200 voxels SER 1.8 (PE 1 throughout)."""
    shape = (13, 14, 14)
    tumour = np.zeros(shape, bool)
    tumour[2:11, 2:12, 2:12] = True                       # 9 x 10 x 10 = 900 voxels
    ser = np.zeros(shape)
    ser[2:6], ser[6:9], ser[9:11] = 0.8, 1.2, 1.8          # 400 / 300 / 200 voxels
    pre = np.full(shape, 2.0)
    early = pre * 2.0                                    # PE = 1
    late = pre + np.where(ser > 0, (early - pre) / np.where(ser > 0, ser, 1.0), 1.0)
    return _maps(pre, early, late, tumour, np.zeros(shape, bool))


def bpe_phantom() -> CaseMaps:
    """Parenchyma of 1000 voxels on a 2 x 2 x 3 mm grid (12 mm3): 500 with PE 0.1, 300 with PE 0.4, 200 with PE 0.8."""
    shape = (12, 12, 12)
    parenchyma = np.zeros(shape, bool)
    parenchyma[1:11, 1:11, 1:11] = True
    pe = np.zeros(shape)
    pe[1:6], pe[6:9], pe[9:11] = 0.1, 0.4, 0.8
    tumour = np.zeros(shape, bool)
    pre = np.full(shape, 3.0)
    early = pre * (1 + pe)
    return _maps(pre, early, pre + (early - pre) / 1.1, tumour, parenchyma, native_spacing=(2.0, 2.0, 3.0))


def tsbpe_phantom() -> CaseMaps:
    """Sphere tumour r = 5 mm; parenchyma within 20 mm of it has PE 0.5 / SER 1.3, beyond it PE 2 / SER 3."""
    shape = (61, 61, 61)
    z, y, x = np.mgrid[:61, :61, :61]
    r = np.sqrt((z - 30) ** 2 + (y - 30) ** 2 + (x - 30) ** 2)
    tumour = r <= 5
    parenchyma = ~tumour
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(~tumour)
    near = distance <= 20
    pe = np.where(near, 0.5, 2.0)
    ser = np.where(near, 1.3, 3.0)
    pre = np.ones(shape)
    early = pre * (1 + pe)
    late = pre + (early - pre) / ser
    return _maps(pre, early, late, tumour, parenchyma)


CUBE_MEAN, CUBE_SD = cube_sharpness(10)
# code -> (phantom, expected value, tolerance, source)
GOLDEN: dict[str, tuple[Callable[[], CaseMaps], float, float, str]] = {
    "M1": (ibsi_morphology_phantom, REF["morph_volume"][0] / 1000, REF["morph_volume"][1] / 1000, "IBSI morph_volume"),
    "M2": (ibsi_morphology_phantom, *REF["morph_sphericity"], "IBSI morph_sphericity"),
    "M3": (ibsi_morphology_phantom, *REF["morph_av"], "IBSI morph_av"),
    "M4": (cube_phantom, CUBE_MEAN, 1e-9, "analytic cube, central differences"),
    "M5": (cube_phantom, CUBE_SD, 1e-9, "analytic cube, central differences"),
    "TEX1": (ibsi_texture_phantom, *REF["cm_corr_3D_avg"], "IBSI cm_corr_3D_avg"),
    "TEX2": (ibsi_texture_phantom, *REF["cm_clust_shade_3D_avg"], "IBSI cm_clust_shade_3D_avg"),
    "TEX3": (ibsi_texture_phantom, *REF["cm_energy_3D_avg"], "IBSI cm_energy_3D_avg"),
    "TEX4": (ibsi_texture_phantom, *REF["cm_joint_entr_3D_avg"], "IBSI cm_joint_entr_3D_avg"),
    "FTV1": (ftv_phantom, 0.5, 1e-12, "300 + 200 voxels of 1 mm3 with SER > 1.0"),
    "FTV2": (ftv_phantom, 0.2, 1e-12, "200 voxels of 1 mm3 with SER > 1.5"),
    "BPE1": (bpe_phantom, 500 * 12 / 1000, 1e-12, "500 voxels of 12 mm3 with PE > 0.2"),
    "BPE2": (bpe_phantom, 200 * 12 / 1000, 1e-12, "200 voxels of 12 mm3 with PE > 0.6"),
    "BPE3": (bpe_phantom, 0.5, 1e-12, "500 of 1000 parenchyma voxels"),
    "BPE4": (bpe_phantom, 0.2, 1e-12, "200 of 1000 parenchyma voxels"),
    "TSBPE1": (tsbpe_phantom, 0.5, 1e-9, "PE of the 2 cm shell"),
    "TSBPE2": (tsbpe_phantom, 1.3, 1e-9, "SER of the 2 cm shell"),
}


def test_every_paper_feature_has_a_golden_value_and_every_golden_value_a_feature() -> None:
    assert set(GOLDEN) == set(PAPER_CODES)
    assert len(PAPER_CODES) == 17
    registered = {d["code"] for d in feature_defs(PARAMS)}
    assert registered == set(PAPER_CODES)


@pytest.mark.parametrize("code", sorted(GOLDEN))
def test_paper_feature_matches_golden(code: str) -> None:
    phantom, expected, tolerance, source = GOLDEN[code]
    params = MRIParams(extended=False, ser_bin_width=0.5) if phantom is ibsi_texture_phantom else PARAMS
    family = next(f for f in FAMILIES if code in {d["code"] for d in f.defs(params)})
    value = family.compute(phantom(), params)[code]
    assert value == pytest.approx(expected, abs=tolerance), source


def test_glcm_features_match_every_ibsi_3d_average_reference() -> None:
    img = sitk.ReadImage(str(IBSI / "phantom.nii.gz"))
    mask = sitk.ReadImage(str(IBSI / "mask.nii.gz"))
    values = glcm_features(img, mask)
    tags = {tag[: -len("_3D_avg")] for tag in REF if tag.startswith("cm_") and tag.endswith("_3D_avg")}
    assert tags == set(FEATURES)  # every IBSI reference has a feature and every feature a reference
    for name in FEATURES:
        expected, tolerance = REF[f"{name}_3D_avg"]
        assert values[name] == pytest.approx(expected, abs=tolerance), name


def test_glcm_discretisation_is_invariant_to_shift_and_scale_with_bin_count() -> None:
    levels, mask, _ = _ibsi_arrays()
    reference = glcm_features(levels, mask, bin_count=6)
    moved = glcm_features(levels * 0.37 + 12.5, mask, bin_count=6)
    assert moved == pytest.approx(reference)
    assert glcm_features(levels * 0.5, mask, bin_width=0.5) == pytest.approx(glcm_features(levels, mask))


def test_sphere_volume_and_sphericity() -> None:
    z, y, x = np.mgrid[:40, :40, :40]
    sphere = ((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2) <= 12 ** 2
    shape = shape_features(sphere, 0.5)
    assert shape["volume_mm3"] == pytest.approx(4 / 3 * math.pi * 6.0 ** 3, rel=0.02)
    assert 0.88 < shape["sphericity"] <= 1.0            # a voxelised sphere's mesh: ~0.91
    assert shape["surface_volume_ratio"] == pytest.approx(3 / 6.0, rel=0.12)
    cube = np.zeros((20, 20, 20), bool)
    cube[5:15, 5:15, 5:15] = True
    assert shape_features(cube, 1.0)["sphericity"] < shape["sphericity"]


def test_margin_sharpness_falls_for_a_blurred_edge() -> None:
    maps = cube_phantom(12)
    from scipy import ndimage

    sharp = margin_sharpness(maps.early - maps.pre, maps.tumour, 1.0).mean()
    blurred = margin_sharpness(ndimage.gaussian_filter(maps.early - maps.pre, 1.5), maps.tumour, 1.0).mean()
    assert blurred < 0.8 * sharp
