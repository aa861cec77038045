"""TIGER's segmentation evaluation (DIAGNijmegen/pathology-tiger-algorithm-example `evaluations/eval_segm.py`
and `eval_utils.TigerSegmScorer`) against hand-computed matrices and a plain re-implementation with
scikit-learn's confusion_matrix, as the official code computes it."""

from __future__ import annotations

import math
from pathlib import Path

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


def label_decoder() -> object:
    """A 1 x 1 convolution whose argmax reads the TIGER label painted into the red channel (red = 30 x label):
    logit_k = k v - k^2 / 2 with v = red / 30 is largest at k = v. A model that is exactly right, so the
    stitched regions can be checked pixel by pixel."""
    import torch

    net = torch.nn.Conv2d(3, 8, 1)
    with torch.no_grad():
        net.weight.zero_()
        k = torch.arange(8, dtype=torch.float32)
        net.weight[:, 0, 0, 0] = k * 255.0 / 30.0
        net.bias.copy_(-(k**2) / 2)
    return net.eval()


def test_regions_are_stitched_whole_and_scored_per_slide(tmp_path: Path) -> None:
    from PIL import Image

    from radpath.pathology.segmentation.evaluate import _tiger, default_protocol, segment_region, slide_of
    from radpath.pathology.segmentation.labels import label_set

    rng = np.random.default_rng(0)
    meta = {"tile_px": 32, "mpp": 0.5, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    tiger = label_set("tiger")
    # a 70 x 100 region: tiles at 0, 32 and the last flush with the edge (overlapping); one 20 x 24 region
    # smaller than a tile (padded)
    big = rng.integers(0, 8, (70, 100)).astype(np.uint8)
    small = rng.integers(0, 8, (20, 24)).astype(np.uint8)
    for truth in (big, small):
        rgb = np.stack([truth * 30, np.zeros_like(truth), np.zeros_like(truth)], axis=-1).astype(np.uint8)
        assert (segment_region(label_decoder(), meta, tiger, rgb, "cpu") == truth).all()
    # a WSIROIS folder: two regions of slide S1, one of S2; the masks' 7s are painted as 1 in the image, so
    # those pixels are rest called tumour
    root = tmp_path / "wsirois"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    names = ["S1_[0, 0, 100, 70]", "S1_[200, 0, 224, 20]", "S2_[5, 5, 105, 75]"]
    for name, truth in zip(names, (big, small, big[::-1]), strict=True):
        shown = np.where(truth == 7, 1, truth)
        rgb = np.stack([shown * 30, np.zeros_like(shown), np.zeros_like(shown)], axis=-1).astype(np.uint8)
        Image.fromarray(rgb).save(root / "images" / f"{name}.png")
        Image.fromarray(truth).save(root / "masks" / f"{name}.png")
    assert default_protocol(root) == "tiger" and slide_of(names[0]) == "S1" and slide_of("plain_name") == "plain_name"
    out = _tiger(label_decoder(), meta, tiger, root, None, "cpu", "ignore")
    assert (out["n_slides"], out["n_regions"]) == (2, 3)
    all_truth = np.concatenate([big.ravel(), small.ravel(), big.ravel()])
    counts = [int(np.isin(all_truth, g).sum()) for g in ((1,), (2, 6), (3, 4, 5))]
    sevens = int((all_truth == 7).sum())
    assert out["confusion"] == [[counts[0], 0, 0], [0, counts[1], 0], [sevens, 0, counts[2]]]
    assert out["classes"]["stroma"]["f1"] == 1.0
    assert out["classes"]["tumour"]["precision"] == pytest.approx(counts[0] / (counts[0] + sevens))
