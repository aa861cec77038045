"""`radpath mri segment-tumour`: the automatic tumour masks of a manifest's cases alone, for review before
extraction.

Each case goes through the steps extraction takes before its tumour mask (read, phases, breast region, N4:
`radpath.mri.pipeline.load_case`) and its mask is made as extraction would make it (`tumour_of`), so extracting
with `mri.mask: auto-ftv` afterwards uses the same mask. The files (`radpath.mri.mask_files`) go to
`<out>/<patient_id>/`: a radiologist opens the SEG over its series in 3D Slicer or OHIF, corrects it, and gives it
back as the case's `mri.mask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radpath.executor import run_cases
from radpath.mri.extract import manifest_cases
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, dicom_slices, load_case, pin_threads, tumour_of
from radpath.mri.qc import mask_flags
from radpath.progress import Progress


@dataclass(frozen=True)
class SegmentedCase:
    case_id: str
    ok: bool
    files: list[str]
    cm3: float | None = None
    note: str | None = None
    flags: tuple[str, ...] = ()
    error: str | None = None


def segment_case(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker: payload {case, params, out, threads} -> {files, cm3, note, flags} of one case's automatic mask."""
    import numpy as np
    import SimpleITK as sitk

    from radpath.mri.mask_files import write_mask

    if payload.get("threads"):
        pin_threads(int(payload["threads"]))
    case = CaseInput(**payload["case"])
    params = MRIParams.model_validate(payload["params"])
    loaded = load_case(case, params)
    found = tumour_of(case, loaded, params)
    sources = dicom_slices(loaded.dce, loaded.choice.pre)
    written = write_mask(Path(payload["out"]) / case.case_id, case.case_id, found.source, found.image, sources)
    voxel_mm3 = float(np.prod(loaded.images["pre"].GetSpacing()))
    breast = sitk.GetArrayFromImage(loaded.region.breast) > 0
    return {"files": [str(f) for f in (written.nifti, written.seg) if f is not None],
            "cm3": float(found.array.sum()) * voxel_mm3 / 1000.0,
            "note": found.auto.note if found.auto else None,
            "flags": mask_flags(found.array, breast, voxel_mm3)
            + ([f"no DICOM SEG written ({written.seg_error})"] if written.seg_error else [])}


def segment_tumours(manifest: str | Path, method: str, out: str | Path, *, known: list[str] | None = None,
                    cases: Sequence[str] | None = None, params: MRIParams | None = None, jobs: int = 1,
                    progress: Progress | None = None) -> list[SegmentedCase]:
    """The `method` (auto-ftv | auto-fcm) tumour mask of every case of a manifest's MRI section (or `cases`),
    written to `out`/<patient_id>; a case that fails is reported and the others carry on."""
    from radpath.mri.tumour import AUTO_METHODS
    from radpath.paths import output_dir

    if method not in AUTO_METHODS:
        from radpath.errors import ConfigError

        raise ConfigError(f"--method {method!r}: expected one of {', '.join(AUTO_METHODS)}")
    params = params or MRIParams()
    out = output_dir(out, "--out")
    _, found, _ = manifest_cases(manifest, known, cases)
    payloads = []
    for pid, case in found:
        forced = dict(case, mask=None, auto_mask=method)     # the automatic mask, even where a file is given
        payloads.append((pid, {"case": forced, "params": params.model_dump(), "out": str(out),
                               "threads": 1 if jobs > 1 else None}))
    results = []
    for result in run_cases(segment_case, payloads, jobs=jobs, progress=progress, description="tumour masks"):
        if result.ok:
            value = result.value
            results.append(SegmentedCase(result.case_id, True, value["files"], value["cm3"], value["note"],
                                         tuple(value["flags"])))
        else:
            results.append(SegmentedCase(result.case_id, False, [], error=result.error))
    return sorted(results, key=lambda r: r.case_id)
