"""The paper's 17 features (Table 1): morphology, SER texture, functional tumour volume, BPE and TS-BPE."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from radpath.mri.features.context import CaseMaps
from radpath.mri.features.regions import surrounding, tumour_shape
from radpath.mri.params import MRIParams
from radpath.mri.texture import glcm_features

MORPHOLOGY: list[dict[str, Any]] = [
    {"code": "M1", "name": "Tumour volume", "unit": "cm3",
     "formula": "mesh volume of the tumour mask (marching cubes, IBSI morph_volume) / 1000"},
    {"code": "M2", "name": "Sphericity", "unit": None,
     "formula": "(36 pi V^2)^(1/3) / A, V mesh volume, A mesh surface area (IBSI morph_sphericity)"},
    {"code": "M3", "name": "Surface-to-volume ratio", "unit": "mm-1", "formula": "A / V (IBSI morph_av)"},
    {"code": "M4", "name": "Mean of margin sharpness", "unit": "mm-1",
     "formula": "mean over tumour boundary voxels of |grad(S_early - S_pre)| / mean tumour (S_early - S_pre); "
                "central differences on the 1 mm grid, boundary = tumour minus its 6-connected erosion"},
    {"code": "M5", "name": "SD of margin sharpness", "unit": "mm-1",
     "formula": "population SD of the margin sharpness over tumour boundary voxels"},
]
TEXTURE: list[dict[str, Any]] = [
    {"code": "TEX1", "name": "Correlation of SER", "unit": None, "tag": "cm_corr",
     "formula": "IBSI GLCM correlation (3D, 13-direction average, distance 1) of the SER map in the tumour"},
    {"code": "TEX2", "name": "Cluster shade of SER", "unit": None, "tag": "cm_clust_shade",
     "formula": "IBSI GLCM cluster shade sum (i + j - mu_x - mu_y)^3 p_ij, 3D average, SER map in the tumour"},
    {"code": "TEX3", "name": "Energy of SER", "unit": None, "tag": "cm_energy",
     "formula": "IBSI GLCM joint energy sum p_ij^2, 3D average, SER map in the tumour"},
    {"code": "TEX4", "name": "Entropy of SER", "unit": "bit", "tag": "cm_joint_entr",
     "formula": "IBSI GLCM joint entropy -sum p_ij log2 p_ij, 3D average, SER map in the tumour"},
]
FTV: list[dict[str, Any]] = [
    {"code": "FTV1", "name": "Functional tumour volume, SER > 1.0", "unit": "cm3",
     "formula": "voxel volume x #(tumour voxels with valid SER > ftv_ser[0]) / 1000"},
    {"code": "FTV2", "name": "Functional tumour volume, SER > 1.5", "unit": "cm3",
     "formula": "voxel volume x #(tumour voxels with valid SER > ftv_ser[1]) / 1000"},
]
BPE: list[dict[str, Any]] = [
    {"code": "BPE1", "name": "BPE volume, PE > 0.2", "unit": "cm3",
     "formula": "voxel volume x #(parenchyma voxels with PE > bpe_pe[0]) / 1000 (acquisition grid)"},
    {"code": "BPE2", "name": "BPE volume, PE > 0.6", "unit": "cm3",
     "formula": "voxel volume x #(parenchyma voxels with PE > bpe_pe[1]) / 1000 (acquisition grid)"},
    {"code": "BPE3", "name": "BPE fraction, PE > 0.2", "unit": "fraction",
     "formula": "#(parenchyma voxels with PE > bpe_pe[0]) / #(parenchyma voxels)"},
    {"code": "BPE4", "name": "BPE fraction, PE > 0.6", "unit": "fraction",
     "formula": "#(parenchyma voxels with PE > bpe_pe[1]) / #(parenchyma voxels)"},
]
TSBPE: list[dict[str, Any]] = [
    {"code": "TSBPE1", "name": "Mean PE of tumour-surrounding parenchyma (2 cm)", "unit": None,
     "formula": "mean valid PE over parenchyma voxels at Euclidean distance (0, ts_distance_mm] from the tumour"},
    {"code": "TSBPE2", "name": "Mean SER of tumour-surrounding parenchyma (2 cm)", "unit": None,
     "formula": "mean valid SER over parenchyma voxels at Euclidean distance (0, ts_distance_mm] from the tumour"},
]


def shape_features(mask: np.ndarray, spacing_mm: float) -> dict[str, float]:
    """pyradiomics (IBSI-compliant) mesh volume, sphericity and surface-to-volume ratio of a boolean mask."""
    import SimpleITK as sitk
    from radiomics.shape import RadiomicsShape

    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing([spacing_mm] * 3)
    shape = RadiomicsShape(sitk.Cast(image, sitk.sitkFloat32), image, label=1)
    return {
        "volume_mm3": float(shape.getMeshVolumeFeatureValue()),
        "sphericity": float(shape.getSphericityFeatureValue()),
        "surface_volume_ratio": float(shape.getSurfaceVolumeRatioFeatureValue()),
    }


def margin_sharpness(enhancement: np.ndarray, tumour: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Sharpness of every tumour boundary voxel (see M4)."""
    gradients = np.gradient(enhancement.astype(np.float64), spacing_mm)
    magnitude = np.sqrt(sum(g ** 2 for g in gradients))
    boundary = tumour & ~ndimage.binary_erosion(tumour, border_value=0)
    level = float(enhancement[tumour].mean())
    if level <= 0:
        raise ValueError("the tumour does not enhance (mean early - pre <= 0)")
    return np.asarray(magnitude[boundary] / level)


def morphology(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    every = tumour_shape(maps)          # computed once per case, shared with the extended family
    shape = {"volume_mm3": every["MeshVolume"], "sphericity": every["Sphericity"],
             "surface_volume_ratio": every["SurfaceVolumeRatio"]}
    sharp = margin_sharpness(maps.early - maps.pre, maps.tumour, maps.spacing_mm)
    return {
        "M1": shape["volume_mm3"] / 1000.0,
        "M2": shape["sphericity"],
        "M3": shape["surface_volume_ratio"],
        "M4": float(sharp.mean()),
        "M5": float(sharp.std()),
    }


def texture(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    roi = maps.tumour & maps.ser.valid
    values = glcm_features(maps.ser.values, roi, bin_width=params.ser_bin_width)
    return {d["code"]: values[d["tag"]] for d in TEXTURE}


def ftv(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    roi = maps.tumour & maps.ser.valid
    return {
        d["code"]: float(np.count_nonzero(roi & (maps.ser.values > t))) * maps.voxel_mm3 / 1000.0
        for d, t in zip(FTV, params.ftv_ser, strict=True)
    }


def bpe(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    roi = maps.native_parenchyma
    n = int(roi.sum())
    if n == 0:
        raise ValueError("the parenchyma mask is empty")
    out: dict[str, float] = {}
    for k, t in enumerate(params.bpe_pe):
        count = int(np.count_nonzero(roi & maps.native_pe.valid & (maps.native_pe.values > t)))
        out[BPE[k]["code"]] = count * maps.native_voxel_mm3 / 1000.0
        out[BPE[k + 2]["code"]] = count / n
    return out


def tsbpe(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    shell = surrounding(maps, params.ts_distance_mm)
    pe_roi, ser_roi = shell & maps.pe.valid, shell & maps.ser.valid
    return {
        "TSBPE1": float(maps.pe.values[pe_roi].mean()) if pe_roi.any() else float("nan"),
        "TSBPE2": float(maps.ser.values[ser_roi].mean()) if ser_roi.any() else float("nan"),
    }


def defs(rows: list[dict[str, Any]], family: str) -> list[dict[str, Any]]:
    return [{"code": r["code"], "family": family, "name": r["name"], "unit": r["unit"], "formula": r["formula"]}
            for r in rows]
