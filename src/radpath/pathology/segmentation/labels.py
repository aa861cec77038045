"""TIGER's tissue labels and the label sets a segmentation network is trained for.

TIGER (Tumor InfiltratinG lymphocytes in breast cancER) labels: 0 unannotated / glass, 1 invasive
tumour, 2 tumour-associated stroma, 3 in-situ tumour, 4 healthy glands, 5 necrosis (not in situ),
6 inflamed stroma, 7 rest. A label set maps those values to network classes and back:

- `tiger`: 8 classes, class k = label k;
- `binary-stroma` (the paper's binary task): class 1 = stroma (labels 2 and 6), class 0 = everything
  else; its masks are written back as label 2 (stroma) and 0.

TIGER's evaluation: Dice of tumour (1) against the rest and of stroma (2 + 6) against the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIGER_LABELS: dict[int, str] = {
    0: "glass / unannotated", 1: "invasive tumour", 2: "tumour-associated stroma", 3: "in-situ tumour",
    4: "healthy glands", 5: "necrosis", 6: "inflamed stroma", 7: "rest",
}
TUMOUR: tuple[int, ...] = (1,)
STROMA: tuple[int, ...] = (2, 6)
MAX_LABEL = 7


@dataclass(frozen=True)
class LabelSet:
    """How TIGER label values map to network classes (`to_class`) and classes back to labels (`to_label`)."""

    name: str
    to_class: tuple[int, ...]     # index: TIGER label 0..7 -> class
    to_label: tuple[int, ...]     # index: class -> TIGER label written in masks
    class_names: tuple[str, ...]
    evaluated: tuple[tuple[str, tuple[int, ...]], ...]   # (name, label group) reported by evaluate-seg

    @property
    def n_classes(self) -> int:
        return len(self.to_label)

    def classes_of(self, labels: np.ndarray) -> np.ndarray:
        """Network classes (int64) of a TIGER label array (values already checked to be 0..7)."""
        return np.asarray(self.to_class, np.int64)[labels]

    def labels_of(self, classes: np.ndarray) -> np.ndarray:
        """TIGER labels (uint8) of a class array."""
        return np.asarray(self.to_label, np.uint8)[classes]


LABEL_SETS: dict[str, LabelSet] = {
    "tiger": LabelSet(
        "tiger", tuple(range(8)), tuple(range(8)), tuple(TIGER_LABELS.values()),
        (("tumour", TUMOUR), ("stroma", STROMA), *((TIGER_LABELS[k], (k,)) for k in range(1, 8))),
    ),
    "binary-stroma": LabelSet(
        "binary-stroma", (0, 0, 1, 0, 0, 0, 1, 0), (0, 2), ("other", "stroma"), (("stroma", STROMA),),
    ),
}


def label_set(name: str) -> LabelSet:
    from radpath.errors import ConfigError

    if name not in LABEL_SETS:
        raise ConfigError(f"unknown label set {name!r}; known: {sorted(LABEL_SETS)}")
    return LABEL_SETS[name]
