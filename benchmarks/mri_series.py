"""Finding the DCE series of a real-sized exam (issue 22 §1): the header scan against reading the folder's files.

The exam is what a GE breast DCE download holds (`radpath.synth.exams.write_exam`, TCIA folder layout): a
3-plane localiser (3 slices), an axial T2 (60), the DCE in one series (3 phases x 60 = 180), the derived PE1 and
SER maps (60 each) and a breast SEG; 256 x 256 slices, `--private` GE-like private elements per header (real GE
headers hold hundreds). Timed in the same run, best of `--repeat`, files in the page cache (a cold disk makes
every pixel read dearer, so the ratios below are the least the scan saves):

* scan: `find_dce_series`: every header read without pixel data, only the elements radpath uses, then grouped,
  classified and chosen;
* whole headers: every file's complete header (pydicom `stop_before_pixels`, no element filter), the read
  before issue 22;
* every pixel: every file read with its pixel data decoded: what reading the skipped series would cost;
* read_dce: the scan plus the chosen series' pixels (SimpleITK), what `extract-mri` now reads for the images;
* folder hash: sha256 of every file below the case folder, what `extract-mri` hashed per case before issue 22
  (now only the files read are hashed: `radpath.mri.pipeline.input_digest`).

"MiB read" is what the process asked read calls for (Linux rchar; the page cache may read ahead more).

Run: .venv/bin/python benchmarks/mri_series.py [--slices 60] [--size 256] [--repeat 3] [--private 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def read_bytes() -> int:
    """Bytes this process has asked read calls for so far (Linux /proc/self/io rchar; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def best(fn: Callable[[], object], repeat: int) -> tuple[float, float, int]:
    """(wall, CPU) seconds, best of `repeat` (CPU time is what the work costs on a loaded machine), and the
    bytes read by one call."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu, before = time.perf_counter(), time.process_time(), read_bytes()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        read = read_bytes() - before
    return min(walls), min(cpus), read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--private", type=int, default=300, help="private elements per header")
    args = parser.parse_args()

    import numpy as np
    import pydicom

    from radpath.files import walk_files
    from radpath.mri.io import read_dce
    from radpath.mri.pipeline import CaseInput, input_digest
    from radpath.mri.series import find_dce_series
    from radpath.synth.exams import Visit, write_exam
    from radpath.warehouse.runs import hash_inputs

    rng = np.random.default_rng(22)
    shape = (args.slices, args.size, args.size)
    pre = rng.uniform(50, 1000, shape)
    phases = [pre, pre * 1.8, pre * 1.6]
    breast = np.zeros(shape, bool)
    breast[:, args.size // 4: -args.size // 4, 8:-8] = True
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "UCSF-BR-99"
        start = time.perf_counter()
        (visit,) = write_exam(case, [Visit("20020315", phases, times_s=(0.0, 120.0, 420.0))], breast=breast,
                              spacing=1.0, private_tags=args.private)
        written = time.perf_counter() - start
        files = list(walk_files(case))
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        header = pydicom.dcmread(next(visit.folders["dce"].glob("*.dcm")), stop_before_pixels=True)
        print(f"exam: {len(files)} files, {size_mb:.0f} MiB, headers ~{len(header.to_json()) // 1024} KiB of JSON "
              f"each (written in {written:.1f} s)")
        choice = find_dce_series(case, "B")
        read = sum(len(group) for group in choice.phases)
        print(f"chosen: {[s.label for s in choice.acquisition.series]}, {read} files; skipped: "
              + ", ".join(f"{e.get('number')} ({e['reason'][:24]})" for e in choice.skipped))

        def every_pixel() -> None:
            for f in files:
                ds = pydicom.dcmread(f)
                if "PixelData" in ds:
                    ds.pixel_array  # noqa: B018

        def read_case() -> None:
            dce = read_dce(case, "B")
            input_digest(CaseInput("B", str(case), ""), dce.phase_files)

        timings = {
            "every pixel (baseline)": best(every_pixel, args.repeat),
            "whole headers": best(lambda: [pydicom.dcmread(f, stop_before_pixels=True) for f in files], args.repeat),
            "scan (find_dce_series)": best(lambda: find_dce_series(case, "B"), args.repeat),
            "read_dce + input digest": best(read_case, args.repeat),
            "folder hash (before)": best(lambda: hash_inputs([case]), args.repeat),
        }
    base = timings["every pixel (baseline)"][1]
    print(f"{'':28s} {'wall s':>7s} {'CPU s':>7s}  {'CPU ms/file':>11s}  {'MiB read':>8s}  CPU vs every pixel")
    for name, (wall, cpu, read) in timings.items():
        print(f"{name:28s} {wall:7.3f} {cpu:7.3f}  {cpu / len(files) * 1000:11.2f}  {read / 2**20:8.1f}  "
              f"{base / cpu:5.1f}x faster")


if __name__ == "__main__":
    main()
