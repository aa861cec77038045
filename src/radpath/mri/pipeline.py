"""One case end to end: read -> phases -> breast region -> N4 -> tumour mask -> parenchyma -> normalise -> 1 mm
region -> maps -> features.

`load_case` does the steps before the tumour mask (shared with `radpath mri segment-tumour`); `tumour_of` reads the
given mask or makes an automatic one (`radpath.mri.tumour`); `process_case(payload)` is the module-level worker of
`radpath extract-mri` (it runs in worker processes); `prepare_case` returns the intermediate maps too (used by
`radpath mri inspect`, the benchmark and the redundancy reduction's contour-variation ICC).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radpath.errors import MRIError
from radpath.mri.features import CaseMaps, compute_features
from radpath.mri.params import MRIParams

if TYPE_CHECKING:
    from radpath.cohort import MRISource
    from radpath.mri.series import SeriesChoice


@dataclass
class CaseInput:
    case_id: str
    dce: str                                 # case folder or 4D NIfTI
    mask: str | None                         # tumour mask file; None: `auto_mask` makes one
    breast_mask: str | None = None
    parenchyma_mask: str | None = None
    study: str | int = "first"               # manifest mri.study: which visit (DICOM)
    series: str | int | None = None          # manifest mri.series: which series is the DCE (DICOM)
    auto_mask: str | None = None             # auto-ftv | auto-fcm, used when `mask` is None or its file absent
    voi_box: list[int] | None = None         # VOI of the automatic mask: [x0, x1, y0, y1, z0, z1] voxel indices


@dataclass
class Loaded:
    """One case read, its phases chosen and bias-corrected, the breast region found: what extraction and
    `radpath mri segment-tumour` share before the tumour mask."""

    dce: Any                                 # radpath.mri.io.DCE
    choice: Any                              # radpath.mri.phases.PhaseChoice
    images: dict[str, Any]                   # pre, early, late: SimpleITK float32 after N4
    arrays: dict[str, np.ndarray]            # the same as float32 arrays (z, y, x): read-only views of the images
    region: Any                              # radpath.mri.breast.Region
    fat_sat: bool | None
    given_tumour: Any = None                 # the given tumour mask (SimpleITK uint8) when one is used


@dataclass
class Tumour:
    image: Any                               # SimpleITK uint8 on the pre-contrast grid
    array: np.ndarray                        # bool (z, y, x)
    source: str                              # given | auto-ftv | auto-fcm
    auto: Any = None                         # radpath.mri.tumour.AutoMask of an automatic mask
    voi: str | None = None                   # breast mask | box | breast region (automatic masks)


@dataclass
class Prepared:
    maps: CaseMaps
    qc: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    native: dict[str, Any] = field(default_factory=dict)     # SimpleITK images on the acquisition grid


class _Clock:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + now - self._last
        self._last = now


def dicom_slices(dce: Any, phase: int) -> list[str]:
    """The DICOM slice files of a phase in image order (what a SEG of it references); none for NIfTI."""
    return list(dce.phase_files[phase]) if dce.meta.get("format") == "dicom" and dce.phase_files else []


def mask_method(case: CaseInput) -> str:
    """`given` when the case's tumour mask file is used, else its automatic method."""
    if case.mask and (case.auto_mask is None or Path(case.mask).exists()):
        return "given"
    if case.auto_mask:
        return case.auto_mask
    raise MRIError(case.case_id, "no tumour mask: give mri.mask (a file, auto-ftv or auto-fcm) or --tumour-mask",
                   file=str(case.dce))


def load_case(case: CaseInput, params: MRIParams, clock: _Clock | None = None,
              series_choice: SeriesChoice | None = None) -> Loaded:
    """Read a case, choose its phases, read its given masks, find the breast region and correct the bias.
    `series_choice`: the DICOM series already chosen (`radpath.mri.series.find_dce_series`), to skip the header scan."""
    import SimpleITK as sitk

    from radpath.mri import breast, io, preprocess
    from radpath.mri.phases import choose_phases

    clock = clock or _Clock()
    cid = case.case_id
    dce = io.read_dce(case.dce, cid, study=case.study, series=case.series, choice=series_choice)
    try:
        choice = choose_phases(dce.times_s, params.early_target_s, params.late_target_s,
                               params.acquisition_centre_fraction)
    except ValueError as exc:
        raise MRIError(cid, str(exc), file=str(case.dce)) from exc
    pre, early, late = (dce.phases[k] for k in (choice.pre, choice.early, choice.late))
    given = io.read_mask(str(case.mask), pre, cid) if mask_method(case) == "given" else None
    breast_img = io.read_mask(case.breast_mask, pre, cid, "breast mask") if case.breast_mask else None
    clock.lap("read")
    fat_sat = params.fat_suppressed if params.fat_suppressed is not None else breast.fat_suppressed(dce.meta)
    region = breast.breast_region(pre, breast_img, skin_band_mm=params.skin_band_mm,
                                  chest_fill=params.chest_wall_fill, fat_suppressed=fat_sat)
    clock.lap("segment")
    if params.n4:
        bias = preprocess.n4_field(pre, region.breast, params.n4_shrink, params.n4_iterations)
        pre, early, late = (preprocess.apply_field(image, bias) for image in (pre, early, late))
    clock.lap("n4")
    images = {"pre": pre, "early": early, "late": late}
    # views, not float64 copies of whole volumes: each step converts the voxels it uses (the same values)
    arrays = {name: sitk.GetArrayViewFromImage(image) for name, image in images.items()}
    return Loaded(dce, choice, images, arrays, region, fat_sat, given)


def tumour_of(case: CaseInput, loaded: Loaded, params: MRIParams) -> Tumour:
    """The case's tumour mask: the given one, or made by its automatic method within its VOI."""
    import SimpleITK as sitk

    from radpath.mri import tumour

    if loaded.given_tumour is not None:
        image = loaded.given_tumour
        return Tumour(image, sitk.GetArrayFromImage(image) > 0, "given")
    method = mask_method(case)
    shape = loaded.arrays["pre"].shape
    if case.breast_mask:
        voi, where = sitk.GetArrayFromImage(loaded.region.breast) > 0, "breast mask"
    elif case.voi_box:
        voi, where = tumour.box_mask(shape, case.voi_box), "box"
    else:
        voi, where = loaded.region.clustered, "breast region"
    try:
        auto = tumour.auto_mask(method, loaded.arrays["pre"], loaded.arrays["early"], loaded.arrays["late"], voi,
                                params, loaded.fat_sat)
    except tumour.NoTumourFound as exc:
        raise MRIError(case.case_id, f"{method} found no tumour in the {where}: {exc}", file=str(case.dce)) from exc
    image = sitk.GetImageFromArray(auto.mask.astype(np.uint8))
    image.CopyInformation(loaded.images["pre"])
    return Tumour(image, auto.mask, method, auto, where)


def prepare_case(case: CaseInput, params: MRIParams, *, erode_dilate: int = 0,
                 series_choice: SeriesChoice | None = None) -> Prepared:
    """Preprocess one case; `erode_dilate` (voxels, +/-) perturbs the tumour mask for robustness analyses.
    `series_choice`: the DICOM series already chosen (`radpath.mri.series.find_dce_series`), to skip the header scan."""
    import SimpleITK as sitk

    from radpath.mri import breast, io, kinetics, preprocess, qc, segment
    from radpath.mri.series import RECORD_COLUMNS

    clock = _Clock()
    cid = case.case_id
    loaded = load_case(case, params, clock, series_choice)
    found = tumour_of(case, loaded, params)
    clock.lap("tumour")
    tumour_img = found.image
    if erode_dilate:
        radius = [abs(erode_dilate)] * 3
        tumour_img = (sitk.BinaryDilate(tumour_img, radius) if erode_dilate > 0
                      else sitk.BinaryErode(tumour_img, radius))
    dce, choice, region = loaded.dce, loaded.choice, loaded.region
    pre, early, late = (loaded.images[k] for k in ("pre", "early", "late"))
    pre_a, early_a, late_a = (loaded.arrays[k] for k in ("pre", "early", "late"))
    breast_img = region.breast
    tumour = sitk.GetArrayFromImage(tumour_img) > 0
    darkest, cluster_note = breast.parenchyma_column(loaded.fat_sat)
    if case.parenchyma_mask:
        parenchyma = (sitk.GetArrayFromImage(io.read_mask(case.parenchyma_mask, pre, cid, "parenchyma mask")) > 0)
        parenchyma &= ~tumour
        source, cluster_note = "user", "user mask"
    else:
        parenchyma = segment.parenchyma_mask(pre_a, region.clustered, tumour, clusters=params.fcm_clusters,
                                             fuzziness=params.fcm_fuzziness, threshold=params.fcm_membership,
                                             darkest=darkest)
        source = "fcm"
    if parenchyma.sum() < 10:
        raise MRIError(cid, f"parenchyma has {int(parenchyma.sum())} voxels; cannot normalise",
                       file=case.parenchyma_mask or str(case.dce))
    clock.lap("segment")
    scale = preprocess.iqr_mean(pre_a[parenchyma])
    if scale <= 0:
        raise MRIError(cid, "pre-contrast parenchyma has no signal (IQR mean <= 0)", file=str(case.dce))
    # normalised intensities where they are used: the tumour's region (resampled below) and the parenchyma (BPE);
    # elementwise, so each voxel's value is what normalising the whole volume gives
    native_pe = kinetics.embedded(kinetics.pe_array, parenchyma, (pre_a, early_a), scale, params.min_denominator)
    clock.lap("normalise")
    spacing = pre.GetSpacing()
    box = preprocess.crop_box(tumour, spacing, params.crop_margin_mm)
    crop_pre = preprocess.crop(pre, box)
    reference = preprocess.isotropic_grid(crop_pre, params.spacing_mm)
    iso: dict[str, Any] = {}
    for name, array in (("pre", pre_a), ("early", early_a), ("late", late_a)):
        image = sitk.GetImageFromArray((array[box].astype(np.float64) / scale).astype(np.float32))
        image.CopyInformation(crop_pre)
        iso[name] = sitk.GetArrayFromImage(preprocess.resample(image, reference)).astype(np.float64)
    for name, boolean in (("tumour", tumour), ("parenchyma", parenchyma)):
        image = sitk.GetImageFromArray(boolean[box].astype(np.uint8))
        image.CopyInformation(crop_pre)
        iso[name] = sitk.GetArrayFromImage(preprocess.resample(image, reference, is_mask=True)) > 0
    if not iso["tumour"].any():
        raise MRIError(cid, "tumour mask vanishes on the 1 mm grid", file=case.mask)
    clock.lap("resample")
    pe = kinetics.pe_array(iso["pre"], iso["early"], params.min_denominator)
    ser = kinetics.ser_array(iso["pre"], iso["early"], iso["late"], params.min_denominator, params.ser_clip)
    clock.lap("kinetics")
    maps = CaseMaps(
        spacing_mm=params.spacing_mm, pre=iso["pre"], early=iso["early"], late=iso["late"],
        tumour=iso["tumour"], parenchyma=iso["parenchyma"] & ~iso["tumour"], pe=pe, ser=ser,
        native_voxel_mm3=float(np.prod(spacing)), native_parenchyma=parenchyma, native_pe=native_pe,
    )
    case_qc = {
        "n_phases": len(dce.phases),
        "times_s": [round(t, 1) for t in dce.times_s],
        "pre_phase": choice.pre, "early_phase": choice.early, "late_phase": choice.late,
        "early_s": round(choice.early_s, 1), "late_s": round(choice.late_s, 1),
        "format": dce.meta.get("format"), "vendor": dce.meta.get("vendor"),
        "field_strength_t": dce.meta.get("field_strength_t"), "time_source": dce.meta.get("time_source"),
        "field_strength_unit": dce.meta.get("field_strength_unit"), "phase_split": dce.meta.get("split_by"),
        "breast_source": region.source, "skin_band_mm": params.skin_band_mm, "parenchyma_cluster": cluster_note,
        "skin_voxels": int(region.skin.sum()),
        "spacing": list(spacing), "size": list(pre.GetSize()),
        "parenchyma_source": source, "normalisation_scale": scale,
        "tumour_voxels_iso": int(iso["tumour"].sum()),
        "pe_masked_tumour": int(np.count_nonzero(iso["tumour"] & ~pe.valid)),
        "ser_masked_tumour": int(np.count_nonzero(iso["tumour"] & ~ser.valid)),
        "ser_masked_parenchyma": int(np.count_nonzero(maps.parenchyma & ~ser.valid)),
        "mask_source": found.source, "mask_voi": found.voi, "mask_note": found.auto.note if found.auto else None,
        "tumour_cm3": float(tumour.sum()) * float(np.prod(spacing)) / 1000.0,
        "qc_flags": qc.flags(choice, params, tumour, sitk.GetArrayFromImage(breast_img) > 0, float(np.prod(spacing))),
        **{key: dce.meta.get(key) for key in RECORD_COLUMNS}, **input_digest(case, dce.phase_files),
    }
    native = {"pre": pre, "early": early, "late": late, "tumour": tumour_img, "breast": breast_img, "skin": region.skin,
              "parenchyma": parenchyma, "scale": scale, "sources": dicom_slices(dce, choice.pre)}
    return Prepared(maps, case_qc, clock.times, native)


def input_digest(case: CaseInput, phase_files: list[list[str]]) -> dict[str, Any]:
    """How many files a case was read from, and one sha256 over them (each file's hash with its path below the
    case folder): the files of the phases read (never those of skipped series) and the masks given. This is
    the case's input provenance; `extract-mri` no longer hashes whole case folders, which read every series."""
    from radpath.warehouse.runs import hash_file

    folder = Path(case.dce) if Path(case.dce).is_dir() else Path(case.dce).parent
    files = {Path(f) for phase in phase_files for f in phase}
    files |= {Path(m) for m in (case.mask, case.breast_mask, case.parenchyma_mask) if m and Path(m).is_file()}
    digest = hashlib.sha256()
    for path in sorted(files):
        shown = path.relative_to(folder) if path.is_relative_to(folder) else path
        digest.update(f"{shown}\t{hash_file(path)}\n".encode())
    return {"input_files": len(files), "input_sha256": digest.hexdigest()}


def _extract(case: CaseInput, params: MRIParams, erode_dilate: int = 0) -> tuple[dict[str, float], Prepared]:
    prepared = prepare_case(case, params, erode_dilate=erode_dilate)
    start = time.perf_counter()
    try:
        values = compute_features(prepared.maps, params)
    except ValueError as exc:
        raise MRIError(case.case_id, f"feature computation failed: {exc}", file=case.mask or case.dce) from exc
    prepared.timings["features"] = time.perf_counter() - start
    prepared.qc["seconds"] = {k: round(v, 3) for k, v in prepared.timings.items()}
    return values, prepared


def features_of(
    case: CaseInput, params: MRIParams, *, erode_dilate: int = 0
) -> tuple[dict[str, float], dict[str, Any]]:
    values, prepared = _extract(case, params, erode_dilate)
    return values, prepared.qc


def pin_threads(threads: int) -> None:
    """ITK and the BLAS/OpenMP pools (numpy's OpenBLAS: pyradiomics' GLCM eigenvalues, its matrix products) to
    `threads` threads in this process: with several workers on a machine each would otherwise start one thread
    per core and they would wait on each other (the features of a real-sized case took 1.4x the CPU time with
    two BLAS threads on a loaded two-core machine)."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
    threadpool_limits(limits=int(threads))


def process_case(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker: payload {case: CaseInput fields, params: MRIParams dict, threads: int | None, masks_dir: str | None}
    -> {features, qc}. An automatic tumour mask is written to `masks_dir`/<case> (NIfTI, and DICOM SEG for a DICOM
    series; `radpath.mri.mask_files`) and its files recorded in the QC.

    With several worker processes each pins ITK and BLAS to `threads` threads (`pin_threads`), so that workers do
    not oversubscribe cores.
    """
    if payload.get("threads"):
        pin_threads(int(payload["threads"]))
    case = CaseInput(**payload["case"])
    params = MRIParams.model_validate(payload["params"])
    values, prepared = _extract(case, params)
    qc = prepared.qc
    if payload.get("masks_dir") and qc["mask_source"] != "given":
        from radpath.mri.mask_files import write_mask

        written = write_mask(Path(payload["masks_dir"]) / case.case_id, case.case_id, qc["mask_source"],
                             prepared.native["tumour"], prepared.native["sources"])
        qc["mask_file"] = str(written.seg or written.nifti)
        if written.seg_error:
            qc["qc_flags"] = [*qc["qc_flags"], f"automatic mask written as NIfTI only, no DICOM SEG "
                                               f"({written.seg_error})"]
    return {"features": values, "qc": qc}


def case_input(root: Path, patient_id: str, spec: MRISource, *, tumour_mask: str | None = None,
               voi_box: list[int] | None = None) -> CaseInput:
    """A patient's case from a manifest's `mri` section (`MRISource`). `mri.mask: auto-ftv | auto-fcm` makes the
    mask automatically; `tumour_mask` (extract-mri --tumour-mask) does so where the mask file is absent."""
    from radpath.mri.tumour import AUTO_METHODS

    folder = root / spec.case_dir.format(patient_id=patient_id)
    auto = spec.mask in AUTO_METHODS
    return CaseInput(
        case_id=patient_id, dce=str(folder), mask=None if auto else str(folder / spec.mask),
        breast_mask=str(folder / spec.breast_mask) if spec.breast_mask else None,
        parenchyma_mask=str(folder / spec.parenchyma_mask) if spec.parenchyma_mask else None,
        auto_mask=spec.mask if auto else tumour_mask, voi_box=voi_box, study=spec.study, series=spec.series,
    )
