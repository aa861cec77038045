"""TIGER's official tissue-segmentation evaluation, on plain label arrays.

The definition (DIAGNijmegen/pathology-tiger-algorithm-example, `evaluations/eval_segm.py`, restated here, no
code copied):

* Classes: TIGER's labels map to three classes, tumour (1 invasive tumour), stroma (2 tumour-associated
  stroma, 6 inflamed stroma) and rest (3 in-situ tumour, 4 healthy glands, 5 necrosis, 7 rest), in the ground
  truth and in the prediction alike. Any other predicted value (0 glass / unannotated, or a value outside
  0-7) maps to nothing.
* Pixels where the ground truth is 0 are not evaluated (the prediction there is zeroed first). By default
  (`ignore_pred_zero=True`, `eval_segm`'s `ignore_mask_zero`) pixels whose prediction maps to nothing are
  not evaluated either: a prediction of glass inside an annotated region costs nothing.
  `ignore_pred_zero=False` is the same repository's `eval_utils.TigerSegmScorer`: every prediction other
  than 1, 2 and 6 (0 included) counts as rest.
* One confusion matrix (rows ground truth, columns prediction; tumour, stroma, rest) per slide, summed over
  its ground-truth regions (bounding boxes of the annotated areas; since only annotated pixels count, this is
  the matrix of all the slide's annotated pixels). The slides' matrices are summed and the per-class scores
  come from the pooled matrix (pycm's class statistics): F1 = 2 TP / (2 TP + FP + FN), which is the Dice of
  that class; also Jaccard (IoU) TP / (TP + FP + FN), precision and recall. A class with no pixels in either
  has NaN.

radpath's own protocol (`tissue.dice_iou` over every pixel of the tiles, glass included, per label group)
scores unannotated pixels too; the two agree only where the ground truth covers every pixel and nothing is
predicted as glass.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

TIGER_CLASSES = ("tumour", "stroma", "rest")
# TIGER label 0..7 -> class index (tumour 0, stroma 1, rest 2), -1 = maps to nothing (eval_segm)
_CLASS_OF_LABEL = np.array([-1, 0, 1, 2, 2, 2, 1, 2], np.int64)


def _classes(labels: np.ndarray, unmapped: int) -> np.ndarray:
    """Class index per pixel of a label array; 0 and values outside 1..7 become `unmapped`."""
    values = np.asarray(labels).astype(np.int64, copy=False)
    inside = (values >= 0) & (values < len(_CLASS_OF_LABEL))
    out = np.full(values.shape, -1, np.int64)
    out[inside] = _CLASS_OF_LABEL[values[inside]]
    out[out < 0] = unmapped
    return out


def tiger_confusion(truth: np.ndarray, pred: np.ndarray, *, ignore_pred_zero: bool = True) -> np.ndarray:
    """3 x 3 confusion matrix (int64; rows ground truth, columns prediction: tumour, stroma, rest) of one
    region or slide: TIGER label arrays of the same shape (see the module docstring)."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground-truth shape {truth.shape}")
    t = _classes(truth, -1)
    p = _classes(pred, -1 if ignore_pred_zero else 2)
    keep = (t >= 0) & (p >= 0)
    n = len(TIGER_CLASSES)
    return np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n).astype(np.int64)


def tiger_scores(matrices: np.ndarray | Iterable[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per class of the pooled matrix (one 3 x 3 matrix or several summed): f1 (= Dice), jaccard, precision,
    recall, and the pixels tp, fp, fn."""
    cm = np.asarray(matrices, np.int64) if isinstance(matrices, np.ndarray) else sum(
        (np.asarray(m, np.int64) for m in matrices), np.zeros((3, 3), np.int64))
    cm = cm.reshape(-1, 3, 3).sum(axis=0)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    out: dict[str, dict[str, float]] = {}
    for k, name in enumerate(TIGER_CLASSES):
        tp = float(cm[k, k])
        fp, fn = float(cm[:, k].sum()) - tp, float(cm[k, :].sum()) - tp
        out[name] = {"f1": ratio(2 * tp, 2 * tp + fp + fn), "jaccard": ratio(tp, tp + fp + fn),
                     "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "tp": tp, "fp": fp, "fn": fn}
    return out
