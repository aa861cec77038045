"""TIGER's segmentation evaluation (DIAGNijmegen/pathology-tiger-algorithm-example `evaluations/eval_segm.py`
and `eval_utils.TigerSegmScorer`) against hand-computed matrices and a plain re-implementation with
scikit-learn's confusion_matrix, as the official code computes it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from radpath.pathology.segmentation.metrics import tiger_confusion, tiger_scores
from radpath.pathology.tissue import dice_iou

# eval_utils' own example: 5 pixels of ground truth 0, 3 tumour, 2 stroma (2 and 6), 4 rest (3, 3, 4, 5)
GT = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 6, 3, 3, 4, 5])
PRED = np.array([0, 0, 0, 7, 0, 0, 1, 1, 9, 2, 6, 5, 1, 1])


def test_ignoring_predicted_zero_by_hand() -> None:
    # eval_segm (default): ground truth 0 ignored; of the 9 annotated pixels, the prediction 0 at the first
    # tumour pixel and the 9 (mapped to nothing) at the first stroma pixel are ignored too. Left:
    # (1,1) (1,1) | (6,2) | (3,6) (3,5) (4,1) (5,1) -> rows tumour [2,0,0], stroma [0,1,0], rest [2,1,1]
    cm = tiger_confusion(GT, PRED)
    assert cm.tolist() == [[2, 0, 0], [0, 1, 0], [2, 1, 1]]
    s = tiger_scores(cm)
    # tumour: TP 2, FP 2 (two rest pixels called tumour), FN 0 -> F1 4/6; stroma 2/3; rest TP 1, FN 3 -> 2/5
    assert s["tumour"]["f1"] == pytest.approx(2 / 3) and s["stroma"]["f1"] == pytest.approx(2 / 3)
    assert s["rest"]["f1"] == pytest.approx(0.4) and s["rest"]["jaccard"] == pytest.approx(0.25)
    assert s["tumour"]["precision"] == 0.5 and s["tumour"]["recall"] == 1.0


def test_predicted_zero_as_rest_is_tigersegmscorers_matrix() -> None:
    # eval_utils' test expects, in pycm's class order rest, stroma, tumour: [[1,1,2],[1,1,0],[1,0,2]]
    cm = tiger_confusion(GT, PRED, ignore_pred_zero=False)
    order = [2, 1, 0]
    assert cm[np.ix_(order, order)].tolist() == [[1, 1, 2], [1, 1, 0], [1, 0, 2]]


def test_pooled_over_regions_and_against_radpaths_protocol() -> None:
    # two regions of one slide: the pooled matrix is the sum, the scores come from it (not a mean of regions)
    a = tiger_confusion(GT[:7], PRED[:7])
    b = tiger_confusion(GT[7:], PRED[7:])
    assert (a + b).tolist() == tiger_confusion(GT, PRED).tolist()
    assert tiger_scores([a, b]) == tiger_scores(a + b)
    # radpath's own Dice counts every pixel: the prediction 7 on a ground-truth-0 pixel and the 0 / 9 predictions
    # inside annotated tissue all count: tumour Dice = 2 * 2 / (4 + 3) instead of 2/3
    assert dice_iou(PRED, GT, [1])[1]["dice"] == pytest.approx(4 / 7)


def reference_matrix(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """eval_segm as its text reads: map both with {1: Tumor, 2: Stroma, 6: Stroma, 3/4/5/7: Rest}, everything
    else 0; zero the prediction outside the ground truth; keep gt != 0 and pred != 0; sklearn's matrix."""
    mapping = {1: 1, 2: 2, 3: 3, 4: 3, 5: 3, 6: 2, 7: 3}
    t = np.zeros_like(gt)
    p = np.zeros_like(pred)
    for k, v in mapping.items():
        t[gt == k] = v
        p[pred == k] = v
    p = p * (t > 0)
    keep = (t != 0) & (p != 0)
    return confusion_matrix(t[keep], p[keep], labels=[1, 2, 3])


@pytest.mark.parametrize("seed", range(5))
def test_equals_the_official_definition_on_random_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 8, (40, 50))
    pred = rng.integers(0, 10, (40, 50))
    assert tiger_confusion(gt, pred).tolist() == reference_matrix(gt, pred).tolist()


def test_empty_class_and_shape_check() -> None:
    s = tiger_scores(tiger_confusion(np.array([[1, 1]]), np.array([[1, 1]])))
    assert s["tumour"]["f1"] == 1.0 and math.isnan(s["stroma"]["f1"]) and math.isnan(s["rest"]["recall"])
    with pytest.raises(ValueError, match="differs"):
        tiger_confusion(np.zeros((2, 2)), np.zeros((2, 3)))
