"""MRI timings: the whole extract-mri pipeline on one synthetic 256x256x80 3-phase case, split by step;
all 403 features (17 of the paper + 386 extended) in one pass per map and region against the path radpath took
before issue 15 (pyradiomics' extractor, one execute per map and region, shape and shell computed twice), same
maps, same run, on that case and on a real-sized one (below); and radpath's IBSI GLCM step against pyradiomics'
own GLCM extractor on the same SER map and tumour mask. One core: OMP/BLAS/ITK threads pinned to 1 (set below,
before numpy is imported).

Real-sized profile (issue 15, item 9: a real case took ~11 s for the 403 features): the maps the features see
after preprocessing, at 1 mm: a lobulated 3 cm tumour (~14k voxels) in the crop_margin_mm (24 mm) box around it,
dense parenchyma filling ~90 % of the 2 cm band around it (~150k voxels) with six enhancing vessels, and noise
like a real normalised DCE series (SD 0.05), so that SER in the parenchyma spans its clip range (~190 bins at
width 0.05, ~150 of them occupied) as on real data. Sizes and occupied grey levels are printed. --tumour-mm 40
gives the upper end (~34k tumour voxels).

Real-sized exam (issue 22, section 4: a real exam, 256 x 256 x 60, 3 phases, all 403 features <= 5 s per case on
one core): a GE-like exam rendered as DICOM (one series holding the three phases; a lobulated ~3.4 cm tumour in
dense parenchyma with noise like a real series) goes through the whole pipeline, read to features, with today's
code and with the code of `--baseline` (default: main before issue 22), each in its own process on this run's
case, alternately. The code of the baseline is taken from git (`git archive REF src`); without git or the commit
the baseline is skipped. Each step is timed in CPU seconds of its process (one core: a loaded machine stretches
wall time, not CPU time); wall time is printed beside. The 403 feature values of both must be identical.

Run: .venv/bin/python benchmarks/mri.py [--size 256 256 80] [--repeat 3] [--tumour-mm 30] [--exam-only]
     [--baseline REF]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from radpath.mri.features import CaseMaps
    from radpath.mri.params import MRIParams

for _var in ("OMP_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def real_sized_maps(diameter_mm: float = 30.0, margin_mm: float = 24.0, band_mm: float = 20.0,
                    band_fill: float = 0.9, noise: float = 0.05, seed: int = 0) -> CaseMaps:
    """CaseMaps (1 mm grid) of a real-sized case: see the module docstring."""
    import numpy as np
    from scipy import ndimage

    from radpath.mri.features import CaseMaps
    from radpath.mri.kinetics import pe_array, ser_array

    rng = np.random.default_rng(seed)

    def smooth(sigma: float) -> np.ndarray:
        field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
        return np.asarray((field - field.mean()) / field.std())

    n = int(diameter_mm * 1.3 + 2 * margin_mm)           # the lobes reach 1.15 x the radius
    shape = (n, n, n)
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    rho = np.sqrt(z ** 2 + y ** 2 + x ** 2) + 1e-9
    theta, phi = np.arccos(np.clip(z / rho, -1, 1)), np.arctan2(y, x)
    tumour = rho <= diameter_mm / 2 * (1 + 0.15 * np.sin(3 * theta + 0.4) * np.cos(4 * phi + 1.1))
    distance = ndimage.distance_transform_edt(~tumour)
    band = (distance > 0) & (distance <= band_mm)
    fgt = smooth(3.0)
    parenchyma = ~tumour & (fgt > np.quantile(fgt[band], 1 - band_fill))
    enhancing = smooth(2.5) > 0.5
    pe = np.where(tumour, 1.2 * (1 + 0.25 * smooth(1.5)), 0.0)
    pe = np.where(parenchyma & enhancing, 0.55 + 0.15 * smooth(2.0), pe)
    pe = np.where(parenchyma & ~enhancing, 0.12 + 0.02 * smooth(2.0), pe)
    centred = np.stack([z, y, x], -1)
    for _ in range(6):                                    # vessels: tubes of PE ~3 through the parenchyma
        point, direction = rng.uniform(-n / 2, n / 2, 3), rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        offset = centred - point
        offset -= (offset @ direction)[..., None] * direction
        vessel = (np.linalg.norm(offset, axis=-1) <= rng.uniform(1.0, 2.0)) & parenchyma
        pe = np.where(vessel, 3.0 * (1 + 0.2 * rng.standard_normal(shape)), pe)
    ser = np.where(tumour, np.clip(1.3 + 0.25 * smooth(1.5), 0.4, 4.0), 1.0)
    pre = np.where(tumour | parenchyma, 1.0, 0.3) * (1 + 0.03 * rng.standard_normal(shape))
    early = pre * (1 + pe) + noise * rng.standard_normal(shape)
    late = pre * (1 + pe / ser) + noise * rng.standard_normal(shape)
    return CaseMaps(spacing_mm=1.0, pre=pre, early=early, late=late, tumour=tumour, parenchyma=parenchyma,
                    pe=pe_array(pre, early), ser=ser_array(pre, early, late, clip=5.0), native_voxel_mm3=1.0,
                    native_parenchyma=parenchyma, native_pe=pe_array(pre, early))


def compare(maps: CaseMaps, params: MRIParams, repeat: int, label: str) -> None:
    """All 403 features in one pass against the baseline on the same maps: values and best-of-`repeat` seconds."""
    import numpy as np
    from timing import best_of

    from radpath.mri.features import compute_features
    from radpath.mri.features.baseline import all_by_extractor

    values = compute_features(maps, params)
    maps.cache.clear()
    reference = all_by_extractor(maps, params)
    assert set(reference) == set(values), "the two paths give different feature sets"
    worst = max(abs(values[k] - reference[k]) / max(abs(reference[k]), 1e-12) for k in reference
                if np.isfinite(reference[k]))
    t_one = best_of(lambda: (maps.cache.clear(), compute_features(maps, params)), repeat)
    t_before = best_of(lambda: (maps.cache.clear(), all_by_extractor(maps, params)), repeat)
    print(f"all {len(values)} features, {label} (best of {repeat}; largest relative difference {worst:.1e}, "
          f"{sum(values[k] != reference[k] for k in reference)} not bit-equal):")
    print(f"  before issue 15 (baseline): extractor per map and region  {t_before:.3f} s")
    print(f"  one pass per map and region, levels shared by the classes {t_one:.3f} s")
    print(f"  ratio one-pass / before = {t_one / t_before:.2f}  ({t_before / t_one:.2f}x faster)")


def region_profile(values: np.ndarray, roi: np.ndarray, width: float, classes: list[str],
                   repeat: int) -> tuple[int, int, dict[str, float]]:
    """(voxels, grey levels, best-of seconds per step) of the one pass on one map and region."""
    from timing import best_of

    from radpath.mri.features import leveled
    from radpath.mri.features.regions import box, image, settings

    chosen = settings(width)
    crop_box = box(roi)
    crop, mask = values[crop_box], roi[crop_box]
    levels, present = leveled.bin_region(crop, mask, chosen)
    times = {"crop+bin": best_of(lambda: leveled.bin_region(values[crop_box], mask, chosen), repeat)}
    crop_image, mask_image = image(crop, 1.0), image(mask, 1.0)
    for cls in classes:
        times[cls] = best_of(lambda cls=cls: leveled.run(leveled.feature_class(cls)(
            crop_image, mask_image, levels, present, **chosen)), repeat)
    return int(mask.sum()), len(present), times


def real_sized(args: argparse.Namespace, params: MRIParams) -> None:
    """The real-sized profile: sizes, where the one pass spends its time, and the 403-feature comparison."""
    from timing import best_of

    from radpath.mri.features.regions import mask_shape, surrounding

    start = time.perf_counter()
    maps = real_sized_maps(args.tumour_mm)
    shell = surrounding(maps, params.ts_distance_mm)
    print(f"real-sized maps ({time.perf_counter() - start:.1f} s to make): grid {maps.tumour.shape} at 1 mm, "
          f"tumour {args.tumour_mm:g} mm lobulated, {int(maps.tumour.sum())} voxels; parenchyma within "
          f"{params.ts_distance_mm:g} mm {int(shell.sum())} voxels")
    t_shape = best_of(lambda: mask_shape(maps.tumour, 1.0), args.repeat)
    t_shell = best_of(lambda: (maps.cache.clear(), surrounding(maps, params.ts_distance_mm)), args.repeat)
    print(f"  where the one pass spends its time (best of {args.repeat}, s): tumour shape {t_shape:.3f}, "
          f"shell (distance transform) {t_shell:.3f}")
    for code, kinetic, width in (("PE", maps.pe, params.pe_bin_width), ("SER", maps.ser, params.ser_bin_width)):
        for region, roi in (("TUM", maps.tumour), ("TSP", shell)):
            voxels, n_levels, times = region_profile(kinetic.values, roi & kinetic.valid, width,
                                                     list(params.extended_classes), args.repeat)
            print(f"  {code:<3} {region}: {voxels:6d} voxels, {n_levels:3d} grey levels  "
                  + "  ".join(f"{name} {seconds:.3f}" for name, seconds in times.items()))
    compare(maps, params, args.repeat, f"real-sized case ({args.tumour_mm:g} mm tumour)")


BASELINE_REF = "40975d9"        # main before issue 22
EXAM_SIZE = (256, 256, 60)


def render_exam(folder: Path) -> None:
    """The real-sized exam of the module docstring: DICOM below `folder`, its drawn tumour as mask.nii.gz."""
    import numpy as np
    import SimpleITK as sitk

    from radpath.synth.mri import Protocol, render_arrays, write_dicom

    spacing = (320.0 / EXAM_SIZE[0], 320.0 / EXAM_SIZE[1], 160.0 / EXAM_SIZE[2])
    truth = {"patient_id": "EXAM", "tumour_volume_cc": 20.0, "tumour_lobulation": 0.4, "tumour_ser_mean": 1.3,
             "tumour_pe_mean": 1.2, "ser_skew": 0.5, "ts_bpe_ser": 1.0, "bpe_fraction": 0.5,
             "parenchyma_fraction": 0.55}
    protocol = Protocol((0.0, 90.0, 390.0), spacing, "GE MEDICAL SYSTEMS", 1.0, EXAM_SIZE)
    rng = np.random.default_rng(1)
    arrays = render_arrays(truth, protocol, rng)
    phases = [np.clip(p + rng.normal(0.0, 22.0, p.shape), 0, None) for p in arrays["phases"]]  # ~5 % of gland
    write_dicom(phases, protocol, folder / "dicom", "EXAM", one_series=True)
    mask = sitk.GetImageFromArray(arrays["tumour"].astype(np.uint8))
    mask.SetSpacing(spacing)
    mask.SetOrigin((-0.5 * EXAM_SIZE[0] * spacing[0], -0.5 * EXAM_SIZE[1] * spacing[1], 0.0))
    sitk.WriteImage(mask, str(folder / "mask.nii.gz"))


def exam_worker(folder: str, repeat: int, out: str) -> None:
    """In its own process (`--worker`): the whole pipeline on the exam `repeat` times; writes the best (least
    CPU) run's seconds per step and its 403 feature values as JSON. Uses only what every radpath since issue 15
    has (CaseInput, prepare_case, compute_features), so that the baseline's code runs it too."""
    import json

    import numpy as np

    import radpath.mri.pipeline as pipeline
    from radpath.mri.features import compute_features
    from radpath.mri.params import MRIParams

    wall = time.perf_counter
    pipeline.time.perf_counter = time.process_time        # the pipeline's step clock counts this process's CPU
    case = pipeline.CaseInput("EXAM", folder, str(Path(folder) / "mask.nii.gz"), None)
    params = MRIParams()
    best: dict[str, float] | None = None
    values: dict[str, float] = {}
    for _ in range(repeat):
        cpu, start = time.process_time(), wall()
        prepared = pipeline.prepare_case(case, params)
        before = time.process_time()
        values = compute_features(prepared.maps, params)
        steps = dict(prepared.timings, features=time.process_time() - before)
        steps.update(total=time.process_time() - cpu, wall=wall() - start)
        if best is None or steps["total"] < best["total"]:
            best = steps
    Path(out).write_text(json.dumps({"steps": best, "file": pipeline.__file__,
                                     "features": {k: (v if np.isfinite(v) else None) for k, v in values.items()}}))


def _baseline_tree(ref: str, target: Path) -> Path | None:
    """`src/` of commit `ref` unpacked below `target` (None, with the reason printed, when git cannot)."""
    import subprocess
    import tarfile

    repo = Path(__file__).resolve().parent.parent
    archive = target / "baseline.tar"
    try:
        subprocess.run(["git", "-C", str(repo), "archive", "-o", str(archive), ref, "src"], check=True,
                       capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  baseline {ref} skipped: git archive failed ({' '.join(str(exc).split())[:120]})")
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(target / "baseline", filter="data")
    return target / "baseline" / "src"


def exam(args: argparse.Namespace) -> None:
    """The real-sized exam through the whole pipeline: today's code against `--baseline` (module docstring)."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "EXAM"
        start = time.perf_counter()
        render_exam(folder)
        print(f"real-sized exam {'x'.join(map(str, EXAM_SIZE))}, 3 phases, GE-like DICOM (one series): rendered in "
              f"{time.perf_counter() - start:.1f} s")
        trees = {"now": Path(__file__).resolve().parent.parent / "src"}
        base = _baseline_tree(args.baseline, Path(tmp))
        if base is not None:
            trees = {"baseline": base, **trees}
        results: dict[str, dict] = {}
        for round_ in range(args.rounds):
            for name, src in trees.items():
                out = Path(tmp) / f"{name}{round_}.json"
                env = dict(os.environ, PYTHONPATH=str(src))
                subprocess.run([sys.executable, __file__, "--worker", str(folder), "--repeat", str(args.repeat),
                                "--out", str(out)], check=True, env=env)
                got = json.loads(out.read_text())
                assert Path(got["file"]).is_relative_to(src), f"{name} ran {got['file']}, not the code of {src}"
                if name not in results or got["steps"]["total"] < results[name]["steps"]["total"]:
                    results[name] = got
        names = list(results)
        steps = [s for s in results["now"]["steps"] if s not in ("total", "wall")]
        steps += [s for s in results.get("baseline", {"steps": {}})["steps"] if s not in steps + ["total", "wall"]]
        label = {"baseline": f"{args.baseline} (before)", "now": "now"}
        print(f"whole case on one core, best of {args.repeat} x {args.rounds}, CPU seconds per step:")
        print(f"  {'step':<10}" + "".join(f"{label[n]:>20}" for n in names))
        for step in [*steps, "total", "wall"]:
            print(f"  {step:<10}" + "".join(f"{results[n]['steps'].get(step, 0.0):20.3f}" for n in names))
        now = results["now"]["steps"]["total"]
        if "baseline" in results:
            before = results["baseline"]["steps"]["total"]
            a, b = results["now"]["features"], results["baseline"]["features"]
            assert set(a) == set(b), "the two paths give different feature sets"
            differ = [k for k in a if a[k] != b[k]]
            worst = max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in differ
                         if a[k] is not None and b[k] is not None), default=0.0)
            print(f"  ratio now / before = {now / before:.2f} ({before / now:.2f}x faster); {len(a)} features, "
                  f"{len(a) - len(differ)} bit-equal, largest relative difference {worst:.1e}")
        print(f"  target <= 5 s per case on one core: {'met' if now <= 5.0 else 'NOT met'} ({now:.2f} s CPU)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs=3, default=[256, 256, 80], metavar=("X", "Y", "Z"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--extended", action="store_true", help="Include the pyradiomics extended set in the "
                        "whole-case timing (the 403-feature comparison always runs it).")
    parser.add_argument("--tumour-mm", type=float, default=30.0, help="Tumour diameter of the real-sized profile.")
    parser.add_argument("--only-real", action="store_true", help="Run the real-sized profile only.")
    parser.add_argument("--exam-only", action="store_true", help="Run the real-sized exam comparison only.")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git commit of the code to compare the exam with.")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds of baseline and now (exam).")
    parser.add_argument("--worker", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        exam_worker(args.worker, args.repeat, args.out)
        return
    if not args.only_real:
        exam(args)
    if args.exam_only:
        return

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
    real_sized(args, MRIParams())
    if args.only_real:
        return
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
        compare(maps, params.model_copy(update={"extended": True}), args.repeat,
                f"synthetic {size[0]}x{size[1]}x{size[2]} case ({int(maps.tumour.sum())} tumour voxels)")

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
