"""MRI timings: the whole extract-mri pipeline on one synthetic 256x256x80 3-phase case, split by step;
all 403 features (17 of the paper + 386 extended) in one pass per map and region against the path radpath took
before issue 15 (pyradiomics' extractor, one execute per map and region, shape and shell computed twice), same
maps, same run; and radpath's IBSI GLCM step against pyradiomics' own GLCM extractor on the same SER map and
tumour mask. One core: run with OMP/ITK threads pinned to 1 (set below).

Run: .venv/bin/python benchmarks/mri.py [--size 256 256 80] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def previous_path(maps: object, params: object) -> dict[str, float]:
    """The 403 features as radpath computed them before issue 15 (the baseline): the tumour shape computed for
    M1-M3 and again in the extended set, the surrounding shell twice, pyradiomics' extractor per map and region."""
    from radpath.mri.features import FAMILIES
    from radpath.mri.features.core import margin_sharpness, shape_features
    from radpath.mri.features.extended import extended_by_extractor

    out: dict[str, float] = {}
    shape = shape_features(maps.tumour, maps.spacing_mm)  # type: ignore[attr-defined]
    sharp = margin_sharpness(maps.early - maps.pre, maps.tumour, maps.spacing_mm)  # type: ignore[attr-defined]
    out.update({"M1": shape["volume_mm3"] / 1000.0, "M2": shape["sphericity"], "M3": shape["surface_volume_ratio"],
                "M4": float(sharp.mean()), "M5": float(sharp.std())})
    for family in FAMILIES:
        if family.paper and family.name != "morphology":
            out.update(family.compute(maps, params))  # type: ignore[arg-type]
    out.update(extended_by_extractor(maps, params))  # type: ignore[arg-type]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs=3, default=[256, 256, 80], metavar=("X", "Y", "Z"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--extended", action="store_true", help="Include the pyradiomics extended set in the "
                        "whole-case timing (the 403-feature comparison always runs it).")
    args = parser.parse_args()

    import numpy as np
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    import logging

    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)

    from radpath.mri.features import compute_features
    from radpath.mri.params import MRIParams
    from radpath.mri.pipeline import CaseInput, prepare_case
    from radpath.mri.texture import glcm_features
    from radpath.synth.mri import Protocol, write_case

    size = tuple(args.size)
    spacing = (320.0 / size[0], 320.0 / size[1], 160.0 / size[2])   # a 32 x 32 x 16 cm bilateral field of view
    truth = {"patient_id": "BENCH", "tumour_volume_cc": 8.0, "tumour_lobulation": 0.3, "tumour_ser_mean": 1.3,
             "tumour_pe_mean": 1.2, "ser_skew": 0.5, "ts_bpe_ser": 1.0, "bpe_fraction": 0.3,
             "parenchyma_fraction": 0.35}
    params = MRIParams(extended=args.extended)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "BENCH"
        start = time.perf_counter()
        write_case(truth, Protocol((0.0, 90.0, 390.0), spacing, "SIEMENS", 1.0, size), folder,
                   np.random.default_rng(0))
        print(f"synthetic case {size[0]}x{size[1]}x{size[2]} at {tuple(round(s, 2) for s in spacing)} mm, "
              f"3 phases: rendered in {time.perf_counter() - start:.1f} s")
        case = CaseInput("BENCH", str(folder), str(folder / "mask.nii.gz"), str(folder / "breast_mask.nii.gz"))
        steps: dict[str, list[float]] = {}
        totals = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            prepared = prepare_case(case, params)
            t0 = time.perf_counter()
            compute_features(prepared.maps, params)
            prepared.timings["features"] = time.perf_counter() - t0
            totals.append(time.perf_counter() - start)
            for name, seconds in prepared.timings.items():
                steps.setdefault(name, []).append(seconds)
        print(f"whole case (median of {args.repeat}): {np.median(totals):.2f} s   [target < 30 s, N4 included]")
        for name, values in steps.items():
            print(f"  {name:<10} {np.median(values):7.3f} s  ({100 * np.median(values) / np.median(totals):4.1f} %)")

        maps = prepared.maps
        all_features = params.model_copy(update={"extended": True})
        one_pass, before = [], []
        for _ in range(args.repeat):
            maps.cache.clear()
            start = time.perf_counter()
            values = compute_features(maps, all_features)
            one_pass.append(time.perf_counter() - start)
            maps.cache.clear()
            start = time.perf_counter()
            reference = previous_path(maps, all_features)
            before.append(time.perf_counter() - start)
        assert set(reference) == set(values), "the two paths give different feature sets"
        worst = max(abs(values[k] - reference[k]) / max(abs(reference[k]), 1e-12) for k in reference
                    if np.isfinite(reference[k]))
        t_one, t_before = float(np.median(one_pass)), float(np.median(before))
        print(f"all {len(values)} features (median of {args.repeat}; largest relative difference {worst:.1e}):")
        print(f"  before issue 15 (baseline): extractor per map and region  {t_before:.3f} s")
        print(f"  one pass per map and region, preprocessing reused        {t_one:.3f} s")
        print(f"  ratio one-pass / before = {t_one / t_before:.2f}  ({t_before / t_one:.2f}x faster)")

        roi = maps.tumour & maps.ser.valid
        image, mask = maps.image(maps.ser.values), maps.image(roi)
        extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=params.ser_bin_width, label=1)
        extractor.disableAllFeatures()
        extractor.enableFeatureClassByName("glcm")
        mine, theirs = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ours = glcm_features(maps.ser.values, roi, bin_width=params.ser_bin_width)
            mine.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = extractor.execute(image, mask)
            theirs.append(time.perf_counter() - start)
        t_mine, t_theirs = float(np.median(mine)), float(np.median(theirs))
        print(f"texture step, SER map in the tumour ({int(roi.sum())} voxels, bin width {params.ser_bin_width}):")
        print(f"  radpath glcm_features     {t_mine:.4f} s")
        print(f"  pyradiomics glcm (base)   {t_theirs:.4f} s")
        print(f"  ratio radpath / pyradiomics = {t_mine / t_theirs:.2f}")
        print(f"  joint energy radpath {ours['cm_energy']:.4f} vs pyradiomics JointEnergy "
              f"{float(result['original_glcm_JointEnergy']):.4f} (pyradiomics bins from 0, not the ROI minimum)")


if __name__ == "__main__":
    main()
