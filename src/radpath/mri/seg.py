"""DICOM SEG masks as real tools write them, placed on the image grid by each frame's position.

highdicom reads SEGs that follow its expectations; SEGs from public data often do not (a FRACTIONAL
"Breast" segment whose 42 frames carry only Image Position (Patient) in a one-dimensional Dimension
Index makes highdicom fail with "no such column: FrameLUT.ReferencedSegmentNumber"). This reader
needs only what every SEG has:

* each frame's Image Position (Patient) (per-frame Plane Position Sequence) and the image orientation and
  pixel spacing (per-frame or shared functional groups);
* the frame's segment (Segment Identification Sequence; a SEG with one segment needs none);
* the pixel data: BINARY frames are 0/1; FRACTIONAL frames are 0..Maximum Fractional Value and a pixel
  is inside when its value exceeds half the maximum (probability or occupancy above 0.5).

Every inside pixel is mapped to its physical point and from there to the nearest voxel of the reference
grid; all segments are combined; pixels beyond the image are dropped (a SEG wholly outside it is then empty,
which the caller reports). Frame pixels coarser than the grid are sampled at sub-pixel offsets so that
they leave no holes in plane.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class SegError(ValueError):
    """A DICOM SEG that cannot be placed on the reference grid (the message says why)."""


def _group(ds: Any, index: int, sequence: str) -> Any:
    """Item of a functional-group sequence for frame `index`: per-frame first, shared otherwise."""
    for groups in (ds.get("PerFrameFunctionalGroupsSequence"), ds.get("SharedFunctionalGroupsSequence")):
        if not groups:
            continue
        item = groups[index] if groups is ds.get("PerFrameFunctionalGroupsSequence") else groups[0]
        if sequence in item and len(item[sequence].value):
            return item[sequence].value[0]
    return None


def frame_geometry(ds: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(position, row direction, column direction, row spacing, column spacing) of frame `index` (mm)."""
    position = _group(ds, index, "PlanePositionSequence")
    orientation = _group(ds, index, "PlaneOrientationSequence")
    measures = _group(ds, index, "PixelMeasuresSequence")
    if position is None or "ImagePositionPatient" not in position:
        raise SegError(f"frame {index + 1} has no Image Position (Patient)")
    if orientation is None or "ImageOrientationPatient" not in orientation:
        raise SegError(f"frame {index + 1} has no Image Orientation (Patient)")
    if measures is None or "PixelSpacing" not in measures:
        raise SegError(f"frame {index + 1} has no Pixel Spacing")
    cosines = np.array([float(v) for v in orientation.ImageOrientationPatient])
    row_spacing, column_spacing = (float(v) for v in measures.PixelSpacing)
    return (np.array([float(v) for v in position.ImagePositionPatient]), cosines[:3], cosines[3:],
            row_spacing, column_spacing)


def frame_segment(ds: Any, index: int) -> int:
    item = _group(ds, index, "SegmentIdentificationSequence")
    if item is not None and "ReferencedSegmentNumber" in item:
        return int(item.ReferencedSegmentNumber)
    segments = ds.get("SegmentSequence") or []
    if len(segments) > 1:
        raise SegError(f"frame {index + 1} names no segment in a SEG of {len(segments)} segments")
    return int(segments[0].SegmentNumber) if segments else 1


def inside(ds: Any, frames: np.ndarray) -> np.ndarray:
    """Boolean frames: BINARY > 0, FRACTIONAL > Maximum Fractional Value / 2."""
    kind = str(ds.get("SegmentationType", "BINARY")).upper()
    if kind == "FRACTIONAL":
        maximum = float(ds.get("MaximumFractionalValue") or 255)
        return np.asarray(frames > maximum / 2.0)
    if kind != "BINARY":
        raise SegError(f"segmentation type {kind} is neither BINARY nor FRACTIONAL")
    return np.asarray(frames > 0)


def read_seg_on(path: str | Path, reference: Any) -> Any:
    """A DICOM SEG as a uint8 SimpleITK image on `reference`'s grid (all segments combined)."""
    import pydicom
    import SimpleITK as sitk

    ds = pydicom.dcmread(str(path))
    if str(ds.get("Modality", "")) != "SEG":
        raise SegError(f"modality is {ds.get('Modality')!r}, not SEG")
    frames = np.asarray(ds.pixel_array)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    frames = frames.reshape(n_frames, int(ds.Rows), int(ds.Columns))
    masks = inside(ds, frames)
    origin = np.array(reference.GetOrigin())
    spacing = np.array(reference.GetSpacing())
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    to_index = np.linalg.inv(direction * spacing)           # physical offset -> continuous (x, y, z) index
    size = np.array(reference.GetSize())
    out = np.zeros(tuple(size[::-1]), dtype=np.uint8)
    for k in range(n_frames):
        frame_segment(ds, k)                                  # checks the frame names a segment
        position, row_dir, column_dir, row_spacing, column_spacing = frame_geometry(ds, k)
        rows_i, columns_i = np.nonzero(masks[k])
        if rows_i.size == 0:
            continue
        factor = max(1, int(np.ceil(max(row_spacing, column_spacing) / float(spacing.min()) - 1e-6)))
        offsets = (np.arange(factor) + 0.5) / factor - 0.5
        dr, dc = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
        rows = (rows_i[:, None] + dr[None, :]).ravel()
        columns = (columns_i[:, None] + dc[None, :]).ravel()
        # DICOM: the row direction cosine runs along the columns (x of the frame), spaced by column spacing
        points = (position[None, :] + columns[:, None] * column_spacing * row_dir[None, :]
                  + rows[:, None] * row_spacing * column_dir[None, :])
        index = np.rint((points - origin) @ to_index.T).astype(np.int64)
        within = np.all((index >= 0) & (index < size), axis=1)   # pixels beyond the image are dropped
        x, y, z = index[within].T
        out[z, y, x] = 1
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(reference)
    return image
