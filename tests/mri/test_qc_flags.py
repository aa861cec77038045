"""Quality flags (issue 22, section 3): a phase far from its target time, a tumour mask that is small, touches the
image border or lies mostly outside the breast; stored in mri_cases and printed one line each."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np

from radpath.mri.params import MRIParams
from radpath.mri.phases import choose_phases
from radpath.mri.qc import border_faces, mask_flags, phase_flags

from .helpers import write_nifti_case
from .tumour_data import SPACING, mri_cohort, planted_exam, run_cli


def test_a_first_post_phase_at_584_s_is_flagged_as_early() -> None:
    # starts 0, 524, 644 s: effective early = 524 + 120 / 2 = 584 s, late = 644 + 120 / 2 = 704 s
    choice = choose_phases([0.0, 524.0, 644.0])
    assert phase_flags(choice, MRIParams()) == [
        "early phase 1 is centred at 584 s, 434 s from its 150 s target (tolerance 90 s)",
        "late phase 2 is centred at 704 s, 254 s from its 450 s target (tolerance 90 s)",
    ]
    assert phase_flags(choose_phases([0.0, 60.0, 360.0]), MRIParams()) == []      # 210 s and 510 s: within 90 s


def test_mask_flags_on_constructed_masks() -> None:
    breast = np.zeros((10, 20, 20), bool)
    breast[:, :, :10] = True
    inside = np.zeros_like(breast)
    inside[3:7, 5:15, 2:8] = True                 # 240 voxels of 8 mm3: 1.92 cm3, inside, off the border
    assert mask_flags(inside, breast, 8.0) == []
    small = np.zeros_like(breast)
    small[4:6, 8:10, 4:6] = True                  # 8 voxels x 8 mm3 = 0.064 cm3
    assert mask_flags(small, breast, 8.0) == ["tumour mask covers 0.064 cm3 (< 0.5 cm3)"]
    border = inside.copy()
    border[3:7, 5:15, 0:2] = True                 # reaches x = 0
    assert mask_flags(border, breast, 8.0) == ["tumour mask touches the image border (x-first)"]
    outside = np.zeros_like(breast)
    outside[3:7, 5:15, 6:16] = True               # 6 of 10 columns beyond the breast: 60 % outside
    assert mask_flags(outside, breast, 8.0) == ["tumour mask lies 60 % outside the breast region"]
    corner = np.zeros_like(breast)
    corner[0, 0, 0] = corner[-1, -1, -1] = True
    assert border_faces(corner) == ["z-first", "z-last", "y-first", "y-last", "x-first", "x-last"]


def test_extract_prints_and_stores_the_flags(tmp_path: Path) -> None:
    exam = planted_exam(0)
    tumour = exam["tumour"]
    z, y, _ = (int(np.median(a)) for a in np.nonzero(tumour))
    tumour[z, y, : np.nonzero(tumour[z, y])[0].min() + 1] = True         # a stroke to the x-first border
    cohort = tmp_path / "flagged"
    write_nifti_case(cohort / "mri" / "Q1", exam, [0.0, 524.0, 644.0], SPACING)
    manifest = mri_cohort(cohort, "flagged", ["Q1"], "  root: mri\n  mask: mask.nii.gz\n")
    (tmp_path / "p.yaml").write_text("extended: false\n")
    db = tmp_path / "w.duckdb"
    run_cli("ingest", str(manifest), "--db", str(db))
    output = run_cli("extract-mri", str(manifest), "--db", str(db), "--params", str(tmp_path / "p.yaml"))
    lines = [line for line in output.splitlines() if line.startswith("QC ")]
    assert lines == ["QC Q1: early phase 1 is centred at 584 s, 434 s from its 150 s target (tolerance 90 s)",
                     "QC Q1: late phase 2 is centred at 704 s, 254 s from its 450 s target (tolerance 90 s)",
                     "QC Q1: tumour mask touches the image border (x-first)"]
    with duckdb.connect(str(db), read_only=True) as con:
        stored, source = con.execute("SELECT qc_flags, mask_source FROM mri_cases").fetchone()
    assert json.loads(stored) == [line.removeprefix("QC Q1: ") for line in lines] and source == "given"
