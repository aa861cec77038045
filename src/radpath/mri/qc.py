"""Quality flags of an extracted case: what is unusual enough that a reader of the results should look.

Each flag is one line of text, stored in `mri_cases.qc_flags` (a JSON list) and printed by `radpath extract-mri`:

* a chosen early or late phase whose effective time is more than `PHASE_TOLERANCE_S` from its target (a protocol
  whose first post-contrast phase is centred at 584 s has no 2-3 min phase: its "early" phase is late);
* a tumour mask under `MIN_TUMOUR_CM3` (a few voxels: texture and shape are noise), one that touches the border of
  the image (the field of view cuts the tumour), or one mostly (more than half) outside the breast region (the
  mask belongs to another image or grid, or an automatic mask took the heart or a vessel).
"""

from __future__ import annotations

import numpy as np

from radpath.mri.params import MRIParams
from radpath.mri.phases import PhaseChoice

PHASE_TOLERANCE_S = 90.0
MIN_TUMOUR_CM3 = 0.5
MAX_OUTSIDE_BREAST = 0.5
AXES = ("z", "y", "x")


def phase_flags(choice: PhaseChoice, params: MRIParams, tolerance_s: float = PHASE_TOLERANCE_S) -> list[str]:
    out = []
    for name, index, seconds, target in (("early", choice.early, choice.early_s, params.early_target_s),
                                          ("late", choice.late, choice.late_s, params.late_target_s)):
        if abs(seconds - target) > tolerance_s:
            out.append(f"{name} phase {index} is centred at {seconds:.0f} s, {abs(seconds - target):.0f} s from its "
                       f"{target:.0f} s target (tolerance {tolerance_s:.0f} s)")
    return out


def border_faces(mask: np.ndarray) -> list[str]:
    """The faces of the array (z, y, x) that the mask touches, as 'x-first', 'z-last', ..."""
    faces = []
    for axis, name in enumerate(AXES):
        for side, index in (("first", 0), ("last", mask.shape[axis] - 1)):
            if np.take(mask, index, axis=axis).any():
                faces.append(f"{name}-{side}")
    return faces


def mask_flags(tumour: np.ndarray, breast: np.ndarray, voxel_mm3: float) -> list[str]:
    out = []
    cm3 = float(tumour.sum()) * voxel_mm3 / 1000.0
    if cm3 < MIN_TUMOUR_CM3:
        out.append(f"tumour mask covers {cm3:.3g} cm3 (< {MIN_TUMOUR_CM3:g} cm3)")
    faces = border_faces(tumour)
    if faces:
        out.append(f"tumour mask touches the image border ({', '.join(faces)})")
    if tumour.any():
        outside = float((tumour & ~breast).sum()) / float(tumour.sum())
        if outside > MAX_OUTSIDE_BREAST:
            out.append(f"tumour mask lies {100 * outside:.0f} % outside the breast region")
    return out


def flags(choice: PhaseChoice, params: MRIParams, tumour: np.ndarray, breast: np.ndarray,
          voxel_mm3: float) -> list[str]:
    """Every flag of a case: its phases, then its tumour mask (on the acquisition grid, with the breast region)."""
    return phase_flags(choice, params) + mask_flags(tumour, breast, voxel_mm3)
