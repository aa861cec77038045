"""The shared cell file: round trip, micron coordinates, and clear errors for bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radpath.errors import PathologyError
from radpath.pathology.cellfile import CELL_COLUMNS, cell_file_path, cell_frame, read_cells, write_cells


def test_round_trip_keeps_columns_and_converts_pixels_to_microns(tmp_path):
    frame = cell_frame("fov_1.png", np.array([10.0, 20.5]), np.array([4.0, 8.0]), ["lymphocyte", "ki67_positive"],
                       mpp=0.25, score=np.array([0.9, 0.4]))
    path = write_cells(cell_file_path(tmp_path, "c", "P1"), frame)
    assert path == tmp_path / "c" / "P1" / "cells.parquet"
    back = read_cells(path, "P1")
    assert tuple(back.columns) == CELL_COLUMNS
    assert back["x_um"].tolist() == [2.5, 5.125]   # 10 * 0.25, 20.5 * 0.25
    assert back["y_um"].tolist() == [1.0, 2.0]
    assert back["class"].tolist() == ["lymphocyte", "ki67_positive"]
    assert back["score"].to_numpy() == pytest.approx([0.9, 0.4])


def test_unknown_class_missing_column_and_unreadable_file_name_the_file(tmp_path):
    bad = tmp_path / "c" / "P2" / "cells.parquet"
    bad.parent.mkdir(parents=True)
    pd.DataFrame({"image": ["a"], "x_px": [1.0], "y_px": [1.0], "x_um": [1.0], "y_um": [1.0],
                  "class": ["macrophage"], "score": [1.0]}).to_parquet(bad)
    with pytest.raises(PathologyError, match=r"case P2, file .*cells.parquet: unknown cell classes \['macrophage'\]"):
        read_cells(bad, "P2")
    pd.DataFrame({"image": ["a"], "x_px": [1.0]}).to_parquet(bad)
    with pytest.raises(PathologyError, match="lacks columns"):
        read_cells(bad, "P2")
    bad.write_bytes(b"not parquet")
    with pytest.raises(PathologyError, match="not a readable Parquet cell file"):
        read_cells(bad, "P2")
    with pytest.raises(PathologyError, match="does not exist"):
        read_cells(tmp_path / "none.parquet", "P3")
