"""The one-pass extended set (issue 15, item 9) gives exactly what pyradiomics' extractor gives, run the
way radpath ran it before: one `RadiomicsFeatureExtractor.execute` per map and region, the tumour shape
twice (morphology and extended), every class cropping and binning for itself. The one pass bins each map and
region once, and its GLCM steps that grow with the cube of the grey levels (sum/difference distributions,
MCC's Q) equal pyradiomics' own code at ~160 grey levels."""

from __future__ import annotations

import numpy as np
import pytest

from radpath.mri.features import CaseMaps, compute_features, leveled
from radpath.mri.features.baseline import all_by_extractor, extended_by_extractor
from radpath.mri.features.extended import extended
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


def test_all_403_features_equal_the_path_before_issue_15() -> None:
    # default bins, and bins fine enough that SER in the parenchyma has ~100+ grey levels (as on real cases)
    for params in (MRIParams(), MRIParams(ser_bin_width=0.01, pe_bin_width=0.02)):
        maps = textured_maps(seed=5)
        fast = compute_features(maps, params)
        reference = all_by_extractor(textured_maps(seed=5), params)
        assert len(fast) == len(reference) == 403 and set(fast) == set(reference)
        for code, value in reference.items():
            assert fast[code] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (code, params)
    levels = np.unique(np.floor(maps.ser.values[maps.parenchyma & maps.ser.valid] / 0.01))
    assert levels.size > 100


def test_each_map_and_region_is_binned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from radiomics import imageoperations

    calls = []
    original = imageoperations.binImage

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(kwargs.get("binWidth"))
        return original(*args, **kwargs)

    monkeypatch.setattr(imageoperations, "binImage", counting)
    params = MRIParams()
    extended(textured_maps(), params)
    # 2 maps x 2 regions, each binned once with its map's width (not again inside each of the 6 classes)
    assert sorted(calls) == sorted([params.pe_bin_width] * 2 + [params.ser_bin_width] * 2)


def test_leveled_glcm_equals_pyradiomics_glcm_at_many_grey_levels() -> None:
    """The bincount sum/difference distributions and the matrix-product Q against pyradiomics' own methods, on
    ~160 grey levels with gaps (levels absent from the region) and a non-convex region."""
    import SimpleITK as sitk
    from radiomics.glcm import RadiomicsGLCM
    from scipy import ndimage

    rng = np.random.default_rng(11)
    field = ndimage.gaussian_filter(rng.normal(size=(24, 24, 24)), 1.0)
    levels = np.floor((field - field.min()) / np.ptp(field) * 239).astype(int) + 1
    levels[(levels % 7) == 0] += 1                         # every 7th level absent
    mask = (np.abs(ndimage.gaussian_filter(rng.normal(size=levels.shape), 2.0)) > 0.02).astype(np.uint8)
    levels = np.where(mask > 0, levels, 0)
    image, roi = sitk.GetImageFromArray(levels.astype(np.float64)), sitk.GetImageFromArray(mask)
    present = np.unique(levels[mask > 0])
    assert present.size > 150 and present.max() - present.size > 20
    pyradiomics_own = type("OwnGLCM", (leveled._GivenLevels, RadiomicsGLCM), {"__module__": "radiomics.glcm"})
    fast = leveled.run(leveled.feature_class("glcm")(image, roi, levels, present))
    reference = leveled.run(pyradiomics_own(image, roi, levels, present))
    assert set(fast) == set(reference) and len(fast) == 24
    for name, value in reference.items():
        assert fast[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_a_worker_pins_blas_and_itk_to_its_threads() -> None:
    """Each of several extract-mri workers pins numpy's BLAS (GLCM eigenvalues and matrix products) as well as ITK
    to its `threads`; checked in a fresh interpreter whose BLAS starts with its default (one per core)."""
    import os
    import subprocess
    import sys

    code = ("import numpy, scipy.linalg, SimpleITK as sitk\n"
            "from threadpoolctl import threadpool_info\n"
            "from radpath.mri.pipeline import pin_threads\n"
            "before = max(i['num_threads'] for i in threadpool_info())\n"
            "pin_threads(1)\n"
            "print(before, max(i['num_threads'] for i in threadpool_info()), len(threadpool_info()),"
            " sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())\n")
    pinned = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in pinned}
    before, after, pools, itk = map(int, subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                                         text=True, check=True).stdout.split())
    assert pools >= 1 and after == 1 and itk == 1
    if (os.cpu_count() or 1) > 1:
        assert before > 1                                   # the default it replaced: one thread per core
