"""The extended radiomic set (the paper started from 110 features): pyradiomics classes on PE and SER maps.

Regions: TUM (tumour) and TSP (parenchyma within `ts_distance_mm` of the tumour), each on the 1 mm grid,
restricted to voxels where the map is valid. Discretisation: fixed bin width per map from the params.
Codes: `X_<region>_<map>_<class>_<feature>`, plus `X_TUM_shape_<feature>` for the tumour shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radpath.mri.features.context import CaseMaps
from radpath.mri.features.regions import box, image, settings, surrounding, tumour_shape
from radpath.mri.params import MRIParams

REGIONS = {"TUM": "tumour", "TSP": "tumour-surrounding parenchyma"}
MAPS = {"PE": "percent enhancement", "SER": "signal enhancement ratio"}


def _class_names(name: str) -> list[str]:
    from radiomics import getFeatureClasses

    cls = getFeatureClasses()[name]
    return sorted(k for k, deprecated in cls.getFeatureNames().items() if not deprecated)


def extended_defs(params: MRIParams) -> list[dict[str, Any]]:
    rows = []
    for feature in _class_names("shape"):
        rows.append({"code": f"X_TUM_shape_{feature}", "family": "extended_shape", "name": f"tumour shape {feature}",
                     "unit": None, "formula": f"pyradiomics shape.{feature} of the tumour mask (1 mm grid)"})
    for region, region_name in REGIONS.items():
        for map_code, map_name in MAPS.items():
            width = params.pe_bin_width if map_code == "PE" else params.ser_bin_width
            for cls in params.extended_classes:
                for feature in _class_names(cls):
                    rows.append({
                        "code": f"X_{region}_{map_code}_{cls}_{feature}",
                        "family": f"extended_{cls}",
                        "name": f"{map_name} {cls} {feature}, {region_name}",
                        "unit": None,
                        "formula": f"pyradiomics {cls}.{feature} of the {map_code} map within the {region_name} "
                                   f"(valid voxels, 1 mm grid, bin width {width})",
                    })
    return rows


def region_features(values: np.ndarray, roi: np.ndarray, spacing_mm: float, classes: list[str],
                    bin_width: float) -> dict[str, float]:
    """pyradiomics `classes` of one map within one region, in one pass: cropped to the region once, grey levels
    discretised once (pyradiomics' own binning), every class given those levels (radpath.mri.features.leveled).

    Equal to `RadiomicsFeatureExtractor.execute` (crop to the mask's bounding box; fixed bin width), which crops
    and bins again for every class (tested in tests/mri/test_extended_speed.py). Keys are `<class>_<feature>`.
    """
    from radpath.mri.features import leveled

    chosen = settings(bin_width)
    crop_box = box(roi)
    crop, mask = values[crop_box].astype(np.float64), roi[crop_box]
    levels, present = leveled.bin_region(crop, mask, chosen)
    crop_image, mask_image = image(crop, spacing_mm), image(mask, spacing_mm)
    out: dict[str, float] = {}
    for cls in classes:
        feature = leveled.feature_class(cls)(crop_image, mask_image, levels, present, **chosen)
        out.update({f"{cls}_{name}": value for name, value in leveled.run(feature).items()})
    return out


def extended(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    out = {f"X_TUM_shape_{name}": value for name, value in tumour_shape(maps).items()}
    regions = {"TUM": maps.tumour, "TSP": surrounding(maps, params.ts_distance_mm)}
    for map_code, kinetic, width in (("PE", maps.pe, params.pe_bin_width), ("SER", maps.ser, params.ser_bin_width)):
        for region, roi in regions.items():
            roi = roi & kinetic.valid
            if np.count_nonzero(roi) < 2:
                continue  # left missing: too few voxels for texture
            values = region_features(kinetic.values, roi, maps.spacing_mm, list(params.extended_classes), width)
            for key, value in values.items():
                out[f"X_{region}_{map_code}_{key}"] = value
    return out


# pyradiomics feature -> (IBSI tag, offset): pyradiomics' value equals IBSI's + offset on the IBSI digital phantom
# (tested in tests/mri/test_extended_ibsi.py). Features without an IBSI counterpart are listed in NO_IBSI with why.
IBSI_TAGS: dict[str, tuple[str, float]] = {
    "firstorder.10Percentile": ("stat_p10", 0.0), "firstorder.90Percentile": ("stat_p90", 0.0),
    "firstorder.Energy": ("stat_energy", 0.0), "firstorder.InterquartileRange": ("stat_iqr", 0.0),
    "firstorder.Kurtosis": ("stat_kurt", 3.0),  # pyradiomics reports kurtosis, IBSI excess kurtosis
    "firstorder.Maximum": ("stat_max", 0.0), "firstorder.MeanAbsoluteDeviation": ("stat_mad", 0.0),
    "firstorder.Mean": ("stat_mean", 0.0), "firstorder.Median": ("stat_median", 0.0),
    "firstorder.Minimum": ("stat_min", 0.0), "firstorder.Range": ("stat_range", 0.0),
    "firstorder.RobustMeanAbsoluteDeviation": ("stat_rmad", 0.0), "firstorder.RootMeanSquared": ("stat_rms", 0.0),
    "firstorder.Skewness": ("stat_skew", 0.0), "firstorder.Variance": ("stat_var", 0.0),
    "firstorder.Entropy": ("ih_entropy", 0.0), "firstorder.Uniformity": ("ih_uniformity", 0.0),
    "glcm.Autocorrelation": ("cm_auto_corr_3D_avg", 0.0), "glcm.ClusterProminence": ("cm_clust_prom_3D_avg", 0.0),
    "glcm.ClusterShade": ("cm_clust_shade_3D_avg", 0.0), "glcm.ClusterTendency": ("cm_clust_tend_3D_avg", 0.0),
    "glcm.Contrast": ("cm_contrast_3D_avg", 0.0), "glcm.Correlation": ("cm_corr_3D_avg", 0.0),
    "glcm.DifferenceAverage": ("cm_diff_avg_3D_avg", 0.0), "glcm.DifferenceEntropy": ("cm_diff_entr_3D_avg", 0.0),
    "glcm.DifferenceVariance": ("cm_diff_var_3D_avg", 0.0), "glcm.Id": ("cm_inv_diff_3D_avg", 0.0),
    "glcm.Idm": ("cm_inv_diff_mom_3D_avg", 0.0), "glcm.Idmn": ("cm_inv_diff_mom_norm_3D_avg", 0.0),
    "glcm.Idn": ("cm_inv_diff_norm_3D_avg", 0.0), "glcm.Imc1": ("cm_info_corr1_3D_avg", 0.0),
    "glcm.Imc2": ("cm_info_corr2_3D_avg", 0.0), "glcm.InverseVariance": ("cm_inv_var_3D_avg", 0.0),
    "glcm.JointAverage": ("cm_joint_avg_3D_avg", 0.0), "glcm.JointEnergy": ("cm_energy_3D_avg", 0.0),
    "glcm.JointEntropy": ("cm_joint_entr_3D_avg", 0.0), "glcm.MaximumProbability": ("cm_joint_max_3D_avg", 0.0),
    "glcm.SumAverage": ("cm_sum_avg_3D_avg", 0.0), "glcm.SumEntropy": ("cm_sum_entr_3D_avg", 0.0),
    "glcm.SumSquares": ("cm_joint_var_3D_avg", 0.0),
    "glrlm.GrayLevelNonUniformity": ("rlm_glnu_3D_avg", 0.0),
    "glrlm.GrayLevelNonUniformityNormalized": ("rlm_glnu_norm_3D_avg", 0.0),
    "glrlm.GrayLevelVariance": ("rlm_gl_var_3D_avg", 0.0), "glrlm.HighGrayLevelRunEmphasis": ("rlm_hgre_3D_avg", 0.0),
    "glrlm.LongRunEmphasis": ("rlm_lre_3D_avg", 0.0), "glrlm.LongRunHighGrayLevelEmphasis": ("rlm_lrhge_3D_avg", 0.0),
    "glrlm.LongRunLowGrayLevelEmphasis": ("rlm_lrlge_3D_avg", 0.0),
    "glrlm.LowGrayLevelRunEmphasis": ("rlm_lgre_3D_avg", 0.0), "glrlm.RunEntropy": ("rlm_rl_entr_3D_avg", 0.0),
    "glrlm.RunLengthNonUniformity": ("rlm_rlnu_3D_avg", 0.0),
    "glrlm.RunLengthNonUniformityNormalized": ("rlm_rlnu_norm_3D_avg", 0.0),
    "glrlm.RunPercentage": ("rlm_r_perc_3D_avg", 0.0), "glrlm.RunVariance": ("rlm_rl_var_3D_avg", 0.0),
    "glrlm.ShortRunEmphasis": ("rlm_sre_3D_avg", 0.0),
    "glrlm.ShortRunHighGrayLevelEmphasis": ("rlm_srhge_3D_avg", 0.0),
    "glrlm.ShortRunLowGrayLevelEmphasis": ("rlm_srlge_3D_avg", 0.0),
    "glszm.GrayLevelNonUniformity": ("szm_glnu_3D", 0.0),
    "glszm.GrayLevelNonUniformityNormalized": ("szm_glnu_norm_3D", 0.0),
    "glszm.GrayLevelVariance": ("szm_gl_var_3D", 0.0), "glszm.HighGrayLevelZoneEmphasis": ("szm_hgze_3D", 0.0),
    "glszm.LargeAreaEmphasis": ("szm_lze_3D", 0.0), "glszm.LargeAreaHighGrayLevelEmphasis": ("szm_lzhge_3D", 0.0),
    "glszm.LargeAreaLowGrayLevelEmphasis": ("szm_lzlge_3D", 0.0),
    "glszm.LowGrayLevelZoneEmphasis": ("szm_lgze_3D", 0.0), "glszm.SizeZoneNonUniformity": ("szm_zsnu_3D", 0.0),
    "glszm.SizeZoneNonUniformityNormalized": ("szm_zsnu_norm_3D", 0.0),
    "glszm.SmallAreaEmphasis": ("szm_sze_3D", 0.0), "glszm.SmallAreaHighGrayLevelEmphasis": ("szm_szhge_3D", 0.0),
    "glszm.SmallAreaLowGrayLevelEmphasis": ("szm_szlge_3D", 0.0), "glszm.ZoneEntropy": ("szm_zs_entr_3D", 0.0),
    "glszm.ZonePercentage": ("szm_z_perc_3D", 0.0), "glszm.ZoneVariance": ("szm_zs_var_3D", 0.0),
    "gldm.DependenceEntropy": ("ngl_dc_entr_3D", 0.0), "gldm.DependenceNonUniformity": ("ngl_dcnu_3D", 0.0),
    "gldm.DependenceNonUniformityNormalized": ("ngl_dcnu_norm_3D", 0.0),
    "gldm.DependenceVariance": ("ngl_dc_var_3D", 0.0), "gldm.GrayLevelNonUniformity": ("ngl_glnu_3D", 0.0),
    "gldm.GrayLevelVariance": ("ngl_gl_var_3D", 0.0), "gldm.HighGrayLevelEmphasis": ("ngl_hgce_3D", 0.0),
    "gldm.LargeDependenceEmphasis": ("ngl_hde_3D", 0.0),
    "gldm.LargeDependenceHighGrayLevelEmphasis": ("ngl_hdhge_3D", 0.0),
    "gldm.LargeDependenceLowGrayLevelEmphasis": ("ngl_hdlge_3D", 0.0),
    "gldm.LowGrayLevelEmphasis": ("ngl_lgce_3D", 0.0), "gldm.SmallDependenceEmphasis": ("ngl_lde_3D", 0.0),
    "gldm.SmallDependenceHighGrayLevelEmphasis": ("ngl_ldhge_3D", 0.0),
    "gldm.SmallDependenceLowGrayLevelEmphasis": ("ngl_ldlge_3D", 0.0),
    "ngtdm.Busyness": ("ngt_busyness_3D", 0.0), "ngtdm.Coarseness": ("ngt_coarseness_3D", 0.0),
    "ngtdm.Complexity": ("ngt_complexity_3D", 0.0), "ngtdm.Contrast": ("ngt_contrast_3D", 0.0),
    "ngtdm.Strength": ("ngt_strength_3D", 0.0),
    "shape.MeshVolume": ("morph_volume", 0.0), "shape.VoxelVolume": ("morph_vol_approx", 0.0),
    "shape.SurfaceArea": ("morph_area_mesh", 0.0), "shape.SurfaceVolumeRatio": ("morph_av", 0.0),
    "shape.Sphericity": ("morph_sphericity", 0.0), "shape.Maximum3DDiameter": ("morph_diam", 0.0),
    "shape.MajorAxisLength": ("morph_pca_maj_axis", 0.0), "shape.Elongation": ("morph_pca_elongation", 0.0),
    "shape.Flatness": ("morph_pca_flatness", 0.0),
}
NO_IBSI: dict[str, str] = {
    "firstorder.TotalEnergy": "not an IBSI feature (energy scaled by voxel volume)",
    "glcm.MCC": "maximal correlation coefficient is not in IBSI 1",
    "shape.Maximum2DDiameterSlice": "2D diameters are not IBSI morphology features",
    "shape.Maximum2DDiameterColumn": "2D diameters are not IBSI morphology features",
    "shape.Maximum2DDiameterRow": "2D diameters are not IBSI morphology features",
    "shape.MinorAxisLength": "pyradiomics 9.245 vs IBSI morph_pca_min_axis 9.31 +/- 0.06 on the phantom (0.7 % low)",
    "shape.LeastAxisLength": "pyradiomics 8.478 vs IBSI morph_pca_least_axis 8.54 +/- 0.05 on the phantom (0.7 % low)",
}
