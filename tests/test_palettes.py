"""One palette per label set: names agree with the label definitions, pictures use the palette's colours."""

from __future__ import annotations

import numpy as np

from radpath.palettes import (
    CELLS,
    COMPARTMENTS,
    TUMOR_TIL,
    blend,
    decode_tumor_til_map,
    map_labels,
    tumor_til_labels,
    with_legend,
)
from radpath.pathology.cellfile import CELL_CLASSES
from radpath.pathology.segmentation.labels import TIGER_LABELS


def test_palettes_cover_their_label_sets() -> None:
    assert [k for k, _, _ in COMPARTMENTS.entries] == list(TIGER_LABELS)
    assert [n for _, n, _ in COMPARTMENTS.entries] == list(TIGER_LABELS.values())
    assert [k for k, _, _ in CELLS.entries] == list(CELL_CLASSES)
    for palette in (TUMOR_TIL, COMPARTMENTS, CELLS):
        colours = [rgb for _, _, rgb in palette.shown]
        assert len(set(colours)) == len(colours), palette.name   # one colour, one meaning


def test_tumor_til_classes_at_the_thresholds() -> None:
    tumour = np.array([[0.9, 0.2, 0.6, np.nan]])
    lymph = np.array([[0.1, 0.7, 0.5, np.nan]])
    tissue = np.array([[True, True, True, False]])
    # by hand: tumour only -> 2; lymphocyte only -> 3; both (0.6 >= 0.5 and 0.5 >= 0.5) -> TIL-positive 3; glass 0
    assert tumor_til_labels(tumour, lymph, tissue).tolist() == [[2, 3, 3, 0]]
    assert tumor_til_labels(tumour, lymph, tissue, lymphocyte_threshold=0.8).tolist() == [[2, 1, 2, 0]]
    rgb = np.array([[[26, 230, 255], [179, 51, 255], [128, 153, 255], [0, 0, 0]]], np.uint8)
    t, ly, ti = decode_tumor_til_map(rgb)
    assert ti.tolist() == [[True, True, True, False]] and np.isnan(t[0, 3])
    assert map_labels(rgb).tolist() == [[2, 3, 3, 0]]


def test_blend_and_legend_draw_the_palette_colours() -> None:
    thumb = np.full((20, 40, 3), 200, np.uint8)
    labels = np.zeros((2, 4), np.uint8)
    labels[0, 0], labels[1, 3] = 2, 3
    out = blend(thumb, labels, TUMOR_TIL, 0.5)
    # top-left quarter-block is tumour: 0.5 * 200 + 0.5 * (255, 210, 0) = (227.5, 205, 100) -> uint8 227, 205, 100
    assert out[0, 0].tolist() == [227, 205, 100]
    assert out[19, 39].tolist() == [210, 115, 115] and out[0, 39].tolist() == [200, 200, 200]
    picture = with_legend(out, TUMOR_TIL)
    assert picture.shape[0] > 20 and (picture[:20, :40] == out).all()
    for _, _, rgb in TUMOR_TIL.shown:
        assert (picture[20:] == np.array(rgb, np.uint8)).all(axis=-1).sum() >= 50
