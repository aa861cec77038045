"""Mask metrics, the stromal TIL formulas and the compartment features against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radpath.pathology.segmentation.features import patch_map_positive, slide_features
from radpath.pathology.segmentation.labels import LABEL_SETS
from radpath.pathology.tissue import dice_iou, stromal_til_score


def test_dice_iou_by_hand() -> None:
    truth = np.array([[1, 1, 2, 2],
                      [1, 1, 2, 6],
                      [0, 0, 6, 6]])
    pred = np.array([[1, 1, 1, 2],
                     [1, 2, 2, 2],
                     [0, 0, 0, 6]])
    s = dice_iou(pred, truth, [1, (2, 6), 6, 5])
    # label 1: pred 4 px, truth 4 px, overlap 3 -> Dice 6/8, IoU 3/5
    assert s[1]["dice"] == pytest.approx(0.75) and s[1]["iou"] == pytest.approx(0.6)
    # stroma (2 + 6): pred 5 px {(0,3),(1,1),(1,2),(1,3),(2,3)}, truth 6 px, overlap 4 -> Dice 8/11, IoU 4/7
    assert s[(2, 6)]["dice"] == pytest.approx(8 / 11) and s[(2, 6)]["iou"] == pytest.approx(4 / 7)
    # label 6: pred 1 px (2,3), truth 3 px, overlap 1 -> Dice 2/4, IoU 1/3
    assert s[6]["dice"] == pytest.approx(0.5) and s[6]["iou"] == pytest.approx(1 / 3)
    assert math.isnan(s[5]["dice"]) and math.isnan(s[5]["iou"])   # absent from both
    with pytest.raises(ValueError, match="differs"):
        dice_iou(pred, truth[:2], [1])


def test_stromal_til_score_by_hand() -> None:
    stroma = np.zeros((10, 10), bool)
    stroma[:, :5] = True                       # 50 px at 2 um/px = 200 um2 of stroma
    cells = np.array([[1.0, 1.0], [9.9, 19.9], [10.1, 3.0], [-1.0, 2.0], [3.0, 25.0]])
    # inside stroma: (1,1) -> px (0,0); (9.9,19.9) -> col 4 row 9; (10.1, 3) -> col 5 (not stroma);
    # (-1, 2) and (3, 25) fall off the mask -> 2 TILs x 64 um2 / 200 um2 = 64 %
    assert stromal_til_score(cells, stroma, 2.0) == pytest.approx(64.0)
    assert stromal_til_score(cells, stroma, 2.0, cell_area_um2=16.0) == pytest.approx(16.0)
    assert stromal_til_score(np.repeat(cells[:1], 10, 0), stroma, 2.0) == 100.0     # capped
    assert math.isnan(stromal_til_score(cells, np.zeros((3, 3), bool), 2.0))
    assert stromal_til_score(np.zeros((0, 2)), stroma, 2.0) == 0.0


def test_slide_features_by_hand() -> None:
    labels = np.zeros((4, 6), np.uint8)
    labels[:, :2] = 1          # 8 px tumour
    labels[:, 2:4] = 2         # 8 px stroma
    labels[:2, 4:] = 6         # 4 px inflamed stroma
    labels[2:, 4:] = 5         # necrosis: neither
    # mask at 10 um/px: a pixel is 1e-4 mm2; stroma 12 px, tumour 8 px
    lymph = np.array([[0.9, 0.1, 0.7], [0.2, np.nan, 0.6]])   # 20-um patches: 2 x 3 map over 40 x 60 um
    cells = np.array([[25.0, 5.0], [45.0, 15.0], [5.0, 5.0]])   # stroma, inflamed stroma, tumour
    f = slide_features(labels, 10.0, label_set="tiger", cells_xy_um=cells, lymph_map=lymph, patch_um=20.0)
    assert f["STROMA_AREA"] == pytest.approx(12e-4) and f["TUMOR_AREA_SEG"] == pytest.approx(8e-4)
    assert f["TUMOR_STROMA_RATIO"] == pytest.approx(100 * 12 / 20)
    assert f["STROMAL_TIL"] == pytest.approx(100 * 2 * 64 / 1200)
    # positive patches: (0,0) covers columns 0-1 rows 0-1 (tumour), (0,2) columns 4-5 rows 0-1 (4 px inflamed
    # stroma), (1,2) columns 4-5 rows 2-3 (necrosis); stroma on them: 4 of 12 px
    assert f["STROMAL_TIL_PATCH"] == pytest.approx(100 * 4 / 12)
    binary = slide_features(np.where(np.isin(labels, (2, 6)), 2, 0).astype(np.uint8), 10.0, label_set="binary-stroma")
    assert set(binary) == {"STROMA_AREA"} and binary["STROMA_AREA"] == pytest.approx(12e-4)
    pos = patch_map_positive(np.array([[1.0]]), 20.0, (3, 3), 10.0)
    assert pos.tolist() == [[True, True, False], [True, True, False], [False, False, False]]


def test_label_sets_map_tiger_labels() -> None:
    binary = LABEL_SETS["binary-stroma"]
    labels = np.arange(8)
    assert binary.classes_of(labels).tolist() == [0, 0, 1, 0, 0, 0, 1, 0]
    assert binary.labels_of(np.array([0, 1])).tolist() == [0, 2] and binary.n_classes == 2
    tiger = LABEL_SETS["tiger"]
    assert tiger.labels_of(tiger.classes_of(labels)).tolist() == list(range(8)) and tiger.n_classes == 8


@pytest.mark.parametrize(("arch", "encoder", "depth"), [("unet", "resnet10t", 3), ("fpn", "resnet10t", 3),
                                                        ("fpn", "resnet10t", 4), ("unet", "resnet18", 4)])
def test_networks_keep_the_tile_size(arch: str, encoder: str, depth: int) -> None:
    import torch

    from radpath.pathology.segmentation.nets import build_net

    net = build_net(arch, encoder, 8, depth).eval()
    with torch.inference_mode():
        assert net(torch.rand(1, 3, 64, 64)).shape == (1, 8, 64, 64)


def test_til_agreement_by_hand(con) -> None:  # type: ignore[no-untyped-def]
    from scipy import stats

    from radpath.pathology.segmentation.pipeline import til_agreement

    stromal = [10.0, 30.0, 35.0, 80.0]
    reading = [5.0, 40.0, 20.0, 60.0]
    for k, (s, r) in enumerate(zip(stromal, reading, strict=True)):
        pid = f"P{k}"
        con.execute("INSERT INTO seg_slides (cohort, patient_id, slide_path, mask_path, overlay_png, mask_mpp, run_id) "
                    "VALUES ('c', ?, 's', 'm', 'o', 2.0, 'r')", [pid])
        con.execute("INSERT INTO feature_values VALUES ('c', ?, 'pathology', 'STROMAL_TIL', ?, 'h', 'r', true)",
                    [pid, s])
        con.execute("INSERT INTO til_readings VALUES ('c', ?, ?, 'A', 'r')", [pid, r])
    (row,) = til_agreement(con, "c").itertuples(index=False)
    assert row.measure == "stromal_til" and row.n == 4
    assert row.pearson_r == pytest.approx(stats.pearsonr(stromal, reading)[0])
    assert row.spearman_rho == pytest.approx(0.8)          # ranks 1 2 3 4 against 1 3 2 4: 1 - 6 * 2 / 60
    diff = np.subtract(stromal, reading)                    # 5, -10, 15, 20: mean 7.5, SD sqrt(525 / 3)
    assert row.bias == pytest.approx(7.5)
    assert row.loa_high - row.loa_low == pytest.approx(2 * 1.96 * math.sqrt(525 / 3))
    assert diff.mean() == row.bias
