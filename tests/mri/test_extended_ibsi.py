"""The extended (pyradiomics) set against the IBSI digital phantom: every registered non-shape extended feature
is mapped to an IBSI reference value (or listed with the reason it has none), and the mapped ones match."""

from __future__ import annotations

import SimpleITK as sitk

from radpath.mri.features import feature_defs
from radpath.mri.features.extended import IBSI_TAGS, NO_IBSI, region_features
from radpath.mri.features.regions import mask_shape
from radpath.mri.params import MRIParams

from .helpers import IBSI, ibsi_reference

REF = ibsi_reference()


def _registered() -> set[str]:
    """class.feature of every registered extended feature (X_<region>_<map>_<class>_<name>, X_TUM_shape_<name>)."""
    names = set()
    for row in feature_defs(MRIParams()):
        if row["family"] == "extended_shape":
            names.add("shape." + row["code"].split("_", 3)[3])
        elif row["family"].startswith("extended_"):
            _, _, _, cls, name = row["code"].split("_", 4)
            names.add(f"{cls}.{name}")
    return names


def test_every_extended_feature_has_an_ibsi_value_or_a_reason_and_every_mapping_a_feature() -> None:
    registered = _registered()
    assert registered == set(IBSI_TAGS) | set(NO_IBSI)
    assert not set(IBSI_TAGS) & set(NO_IBSI)
    assert all(tag in REF for tag, _ in IBSI_TAGS.values())


def test_extended_extractor_matches_ibsi_on_the_digital_phantom() -> None:
    image = sitk.ReadImage(str(IBSI / "phantom.nii.gz"))
    levels = sitk.GetArrayFromImage(image).astype(float)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(IBSI / "mask.nii.gz"))) > 0
    spacing = image.GetSpacing()[0]
    classes = sorted({name.split(".")[0] for name in IBSI_TAGS} - {"shape"})
    result = region_features(levels, mask, spacing, classes, 1.0)        # the one-pass path radpath runs
    result.update({f"shape_{name}": value for name, value in mask_shape(mask, spacing).items()})
    values = {key.replace("_", "."): float(v) for key, v in result.items()}
    wrong = {}
    for name, (tag, offset) in IBSI_TAGS.items():
        expected, tolerance = REF[tag]
        if abs(values[name] - (expected + offset)) > tolerance:
            wrong[name] = (values[name], expected + offset)
    assert not wrong
