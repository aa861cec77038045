"""Per-slide QC flags: what a run noticed about a slide that makes its numbers less trustworthy.

A flag never changes or removes a value (the `features` rows of a flagged slide keep theirs); it is stored
with its reason in `slide_qc` (one row per flag, replaced when the same stage re-runs the slide), printed by
the command in one line per run, and counted in the manuscript tables' footnotes. Codes (`CODES`):

* `mpp_mismatch`: the slide's own microns per pixel differ from the given one (`--mpp`, slides.mpp) by more
  than 5 %; the slide's own value is used (radpath.pathology.slides).
* `synthetic_model`: a model trained on synthetic data (its card's `training_data.synthetic`) applied to a
  slide that is not synthetic (`SlideInfo.synthetic`: the TIFF ImageDescription marker of radpath's synth).
* `colour_distance`: the optical-density distance between the slide's tissue colour and the model's training
  tissue (radpath.pathology.cards) exceeds COLOUR_DISTANCE_MAX.
* `no_tumour`: the tumour classifier found no tumour patch; TIL_SCORE (defined on the tumour bed) is NaN.
* `roi_empty`: the slide's annotated regions of interest hold no tissue.

COLOUR_DISTANCE_MAX (radpath.pathology.cards.colour_distance, OD units) was chosen from measurements on the
patch classifiers of the synthetic study (tumour 176 px -> 48 px, lymphocyte 100 px -> 32 px, trained on
`render_patch_dataset`): six slides drawn like the study's (compartments planted) lie 0.012-0.021 from the
training tissue; the same slides stain-shifted in OD space along Ruifrok and Johnston's H&E vectors lie
0.048-0.053 (haematoxylin x 1.3, eosin x 0.6: the stain-shifted slide of tests/pathology/test_qc.py),
0.043-0.047 (eosin x 0.6), 0.034-0.043 (both x 1.3) and 0.030-0.042 (eosin's hue moved halfway to
(0.2, 0.8, 0.55)); haematoxylin x 1.2 alone, within the training augmentation's jitter, lies 0.020-0.033.
The demo's 126 study slides under its models (measured 2026-12-07 with the sampling below): tumour classifier
0.011-0.020, lymphocyte classifier 0.013-0.024, tissue-compartment segmenter (trained on
`render_segmentation_dataset`) 0.011-0.032 (median 0.016, 99th percentile 0.029) — at 0.03 it flagged two
study slides. 0.035 lies above every study slide of every demo model and below the two strong shifts and most
of the milder ones; a flag is a warning, never a changed value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from radpath.pathology.cards import colour_distance, tissue_od
from radpath.pathology.slides import SlideInfo

COLOUR_DISTANCE_MAX = 0.035
N_SAMPLES = 32      # tissue squares read per slide and model for the colour check
SAMPLE_PX = 128     # their largest side in model pixels
CODES = {
    "mpp_mismatch": "slide's own µm/px differs from the given one",
    "synthetic_model": "model trained on synthetic data, slide not synthetic",
    "colour_distance": "slide's tissue colour far from the model's training tissue",
    "no_tumour": "no tumour found: TIL_SCORE is NaN",
    "roi_empty": "no tissue inside the annotated regions",
}


@dataclass(frozen=True)
class QCFlag:
    """One flag of one slide: `code` (one of CODES), a one-line `reason`, the model it concerns, and the
    measured value with the threshold it crossed where there is one."""

    code: str
    reason: str
    model: str | None = None
    value: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slide_flags(info: SlideInfo) -> list[QCFlag]:
    """Flags from reading the slide alone (the µm/px rule)."""
    warning = info.mpp_warning
    if warning is None:
        return []
    assert info.mpp_given is not None
    return [QCFlag("mpp_mismatch", warning, value=info.mpp, threshold=info.mpp_given)]


def roi_flags(mask: np.ndarray) -> list[QCFlag]:
    """A flag when the tissue inside the annotated regions (`mask`, tissue and ROI) is empty."""
    if np.asarray(mask).any():
        return []
    return [QCFlag("roi_empty", "the annotated regions of interest hold no tissue: nothing was analysed")]


def model_view(meta: dict[str, Any]) -> tuple[float, int]:
    """(side in model pixels at the model's mpp, pixels the network sees it at) of the squares the colour check
    reads: a patch classifier's patch at its input size; a tissue or cell network's tile (at most 128 px)."""
    if meta.get("patch_px") and meta.get("input_px"):
        return float(meta["patch_px"]), int(meta["input_px"])
    side = min(int(meta.get("tile_px") or meta.get("input_px") or SAMPLE_PX), SAMPLE_PX)
    return float(side), side


def sample_tissue(info: SlideInfo, mask: np.ndarray, side0: float, out_px: int, case_id: str,
                  n: int = N_SAMPLES, seed: int = 0) -> np.ndarray:
    """(k, out_px, out_px, 3) squares of side `side0` level-0 pixels centred on up to `n` tissue pixels of the
    thumbnail-resolution `mask` (a seeded random choice), read as the model reads its input."""
    from radpath.pathology.slides import open_slide, read_patch

    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return np.zeros((0, out_px, out_px, 3), np.uint8)
    pick = np.random.default_rng(seed).choice(len(rows), min(n, len(rows)), replace=False)
    sy, sx = info.height / mask.shape[0], info.width / mask.shape[1]
    size0 = max(1, int(round(side0)))
    slide, _ = open_slide(info.path, case_id, info.mpp)
    try:
        return np.stack([read_patch(slide, info, int((cols[i] + 0.5) * sx - size0 / 2),
                                    int((rows[i] + 0.5) * sy - size0 / 2), size0, out_px, case_id) for i in pick])
    finally:
        slide.close()


def model_flags(meta: dict[str, Any], info: SlideInfo, mask: np.ndarray, model: str, case_id: str) -> list[QCFlag]:
    """Flags of applying the model whose metadata is `meta` (named `model` in the reasons) to a slide with the
    thumbnail tissue `mask`: a synthetic-trained model on a non-synthetic slide, and the slide's tissue colour far
    from the training tissue (N_SAMPLES tissue squares read at the model's geometry). A model whose card records
    neither (a published zoo model) gives no flag."""
    flags = []
    data = meta.get("training_data") or {}
    if data.get("synthetic") and not info.synthetic:
        flags.append(QCFlag(
            "synthetic_model", f"the {model} model was trained on synthetic data ({data.get('dataset')}); "
            "this slide is not synthetic, its numbers are not meaningful", model=model))
    training = meta.get("colour")
    if training and training.get("centres") is not None and meta.get("mpp"):
        side, out_px = model_view(meta)
        tiles = sample_tissue(info, mask, side * float(meta["mpp"]) / info.mpp, out_px, case_id)
        distance = colour_distance(tissue_od(tiles), training)
        if np.isfinite(distance) and distance > COLOUR_DISTANCE_MAX:
            flags.append(QCFlag(
                "colour_distance", f"the slide's tissue colours lie {distance:.3f} OD from the {model} model's "
                f"training tissue (threshold {COLOUR_DISTANCE_MAX}): stain or scanner unlike its training data",
                model=model, value=distance, threshold=COLOUR_DISTANCE_MAX))
    return flags


def unique(flags: Iterable[QCFlag]) -> list[dict[str, Any]]:
    """Flags as dicts (what a worker returns), without repeats (the same model given twice)."""
    seen, out = set(), []
    for flag in flags:
        key = (flag.code, flag.reason)
        if key not in seen:
            seen.add(key)
            out.append(flag.as_dict())
    return out


def write_flags(con: Any, run: Any, cohort: str, patient_id: str, stage: str, flags: list[dict[str, Any]],
                source: str | None = None) -> None:
    """Replace this slide's flags from `stage` (inside the caller's transaction)."""
    import pandas as pd

    from radpath.warehouse.write import replace_rows

    frame = pd.DataFrame([{"cohort": cohort, "patient_id": patient_id, "stage": stage, "source_path": source,
                           "code": f["code"], "model": f.get("model"), "reason": f["reason"],
                           "value": f.get("value"), "threshold": f.get("threshold"), "run_id": run.run_id}
                          for f in flags],
                         columns=["cohort", "patient_id", "stage", "source_path", "code", "model", "reason", "value",
                                  "threshold", "run_id"])
    key: dict[str, Any] = {"cohort": cohort, "patient_id": patient_id, "stage": stage}
    if source is not None:
        key["source_path"] = source
    replace_rows(con, "slide_qc", frame, key)


def run_line(con: Any, run_id: str) -> str | None:
    """The one line a command prints about its run's flags (None when no slide was flagged), e.g.
    "QC: 2 of 3 slides flagged (synthetic_model 2, colour_distance 1); see radpath sql "SELECT * FROM slide_qc"".
    """
    rows = con.execute("SELECT code, count(DISTINCT patient_id) FROM slide_qc WHERE run_id = ? GROUP BY code "
                       "ORDER BY code", [run_id]).fetchall()
    if not rows:
        return None
    flagged = con.execute("SELECT count(DISTINCT patient_id) FROM slide_qc WHERE run_id = ?", [run_id]).fetchone()
    total = con.execute("SELECT count(*) FROM case_status WHERE run_id = ? AND status = 'ok'", [run_id]).fetchone()
    counts = ", ".join(f"{code} {n}" for code, n in rows)
    of = f" of {total[0]}" if total and total[0] else ""
    return (f"QC: {flagged[0] if flagged else 0}{of} slides flagged ({counts}); values kept, reasons in "
            f"radpath sql \"SELECT * FROM slide_qc WHERE run_id = '{run_id}'\"")


def run_lines(con: Any, run_id: str, limit: int = 10) -> list[str]:
    """What a command prints after a run: `run_line`, then each µm/px warning (the first `limit`)."""
    line = run_line(con, run_id)
    if line is None:
        return []
    warnings = con.execute("SELECT patient_id, reason FROM slide_qc WHERE run_id = ? AND code = 'mpp_mismatch' "
                           "ORDER BY patient_id LIMIT ?", [run_id, limit]).fetchall()
    return [line] + [f"  warning: {pid}: {reason}" for pid, reason in warnings]
