"""A tiny real study for the viewer: a DuckDB warehouse (migrated by radpath), a pyramidal TIFF slide read by
openslide, its Tumour-TIL map PNG, a tiled pyramidal uint8 label TIFF (tissue compartments) and a Parquet cell
file, with `seg_slides` and `cell_files` created in exactly the schema their stages write."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tifffile
from PIL import Image
from starlette.testclient import TestClient

from radpath.pathology.cellfile import cell_frame, write_cells
from radpath.synth.slides import render_section, write_pyramid
from radpath.viewer.store import slide_id
from radpath.warehouse import open_warehouse

HEIGHT, WIDTH = 1200, 1600      # level-0 slide pixels
MPP = 0.5                       # slide microns per pixel
PATCH_UM = 50.0                 # Tumour-TIL grid patch: 100 level-0 px -> a 12 x 16 grid
GRID = (12, 16)
MASK_MPP = 2.0                  # label mask: 300 x 400 px covering the slide
CELLS = [  # (x_px, y_px, class) on level 0
    (200.0, 300.0, "lymphocyte"), (210.0, 300.0, "lymphocyte"), (1300.0, 900.0, "ki67_positive"),
    (1350.0, 100.0, "plasma_cell"), (800.0, 600.0, "other"),
]
RUN = "run-test"
# the pathology features of P-001 as the slide stages write them: (stage, modality, registry, {code: value})
PATHOLOGY_FEATURES = [
    ("score-wsi", "pathology", "radpath.pathology.til.scores:FEATURE_DEFS",
     {"TIL_SCORE": 27.5, "TIL_INTRATUMORAL": 20.0, "TIL_PERITUMORAL": 31.0, "TIL_NONTUMOR": 4.5,
      "TISSUE_AREA": 0.48, "TUMOR_AREA": 0.21}),
    ("segment-wsi", "pathology", "radpath.pathology.segmentation.features:FEATURE_DEFS",
     {"STROMAL_TIL": 18.25, "STROMAL_TIL_PATCH": 22.75, "STROMA_AREA": 0.117, "TUMOR_AREA_SEG": 0.0585,
      "TUMOR_STROMA_RATIO": 66.67}),
    ("detect-cells", "cells", "radpath.pathology.cells.scoring:HE_FEATURE_DEFS",
     {"HE_LYMPHOCYTE_DENSITY": 812.5, "HE_CELL_TISSUE_AREA": 0.455}),
    ("detect-cells", "cells", "radpath.pathology.cells.scoring:FEATURE_DEFS",
     {"KI67_INDEX": 23.5, "TIL_CELL_SCORE": 12.0, "LYMPHOCYTE_DENSITY": 640.0}),
]

# IF NOT EXISTS: once a stage's migration creates the table (cell_files: 0011_cells), the fixture uses it
SEG_DDL = ("CREATE TABLE IF NOT EXISTS seg_slides (cohort VARCHAR, patient_id VARCHAR, slide_path VARCHAR, "
           "mask_path VARCHAR, overlay_png VARCHAR, mask_mpp DOUBLE, run_id VARCHAR)")
SEG_COLUMNS = "cohort, patient_id, slide_path, mask_path, overlay_png, mask_mpp, run_id"  # later migrations add more
CELL_COLUMNS = "cohort, patient_id, source_path, cells_path, n_cells, mpp, run_id"   # later migrations add more
CELL_DDL = ("CREATE TABLE IF NOT EXISTS cell_files (cohort VARCHAR, patient_id VARCHAR, source_path VARCHAR, "
            "cells_path VARCHAR, n_cells INTEGER, mpp DOUBLE, run_id VARCHAR)")


@dataclass
class ViewerStudy:
    db: Path
    slide: Path
    slide_id: str
    missing_id: str          # registered slide whose file is gone
    rgb_map: np.ndarray      # the combined map written for the slide (rows x cols x 3)
    labels: np.ndarray       # label mask level 0 (rows x cols)


def rgb_map() -> np.ndarray:
    """Left half tumour (G = 255), top-right lymphocytes (R = 200), bottom-right glass (B = 0)."""
    rgb = np.zeros((*GRID, 3), np.uint8)
    rgb[..., 2] = 255
    rgb[:, :8, 1] = 255
    rgb[:6, 8:, 0] = 200
    rgb[6:, 8:, :] = 0
    return rgb


def label_mask() -> np.ndarray:
    labels = np.zeros((int(HEIGHT * MPP / MASK_MPP), int(WIDTH * MPP / MASK_MPP)), np.uint8)   # 300 x 400
    labels[20:150, 20:200] = 1     # invasive tumour, top-left
    labels[20:150, 200:380] = 2    # tumour-associated stroma, top-right
    labels[150:280, 20:200] = 6    # inflamed stroma, bottom-left
    labels[150:280, 200:380] = 5   # necrosis, bottom-right
    return labels


def write_label_tiff(path: Path, labels: np.ndarray) -> None:
    """A tiled pyramidal uint8 label TIFF (level 0 plus a x2 sub-resolution, nearest)."""
    with tifffile.TiffWriter(path) as tif:
        tif.write(labels, tile=(64, 64), subifds=1, photometric="minisblack", metadata=None)
        tif.write(labels[::2, ::2], tile=(64, 64), subfiletype=1, photometric="minisblack", metadata=None)


def write_pathology_features(con: duckdb.DuckDBPyConnection) -> None:
    """P-001's PATHOLOGY_FEATURES, each stage's written by a recorded run with the registry's definitions."""
    import importlib

    import pandas as pd

    from radpath.warehouse.runs import finish_run, start_run
    from radpath.warehouse.write import register_feature_defs, write_features

    for stage, modality, registry, values in PATHOLOGY_FEATURES:
        module, name = registry.split(":")
        register_feature_defs(con, modality, getattr(importlib.import_module(module), name))
        run = start_run(con, stage, {"registry": registry})
        write_features(con, run, "tcga_brca", modality, pd.DataFrame(
            {"patient_id": "P-001", "code": list(values), "value": list(values.values())}))
        finish_run(con, run, "ok")


def build_warehouse(folder: Path, *, with_slides: bool = True, with_stage_tables: bool = True) -> ViewerStudy:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "radpath.duckdb"
    slide = folder / "P-001.tiff"
    section = render_section(np.random.default_rng(5), 40.0, shape=(HEIGHT, WIDTH))
    write_pyramid(slide, section["rgb"], mpp=MPP, levels=3)
    rgb = rgb_map()
    Image.fromarray(rgb).save(folder / "tumor_til.png")
    labels = label_mask()
    write_label_tiff(folder / "mask.tiff", labels)
    frame = cell_frame(slide_id(str(slide)), np.array([c[0] for c in CELLS]), np.array([c[1] for c in CELLS]),
                       [c[2] for c in CELLS], mpp=MPP)
    write_cells(folder / "cells" / "cells.parquet", frame)
    missing = str(folder / "gone.tiff")
    with open_warehouse(db) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('tcga_brca', 'training', 'test cohort', ?, 'h', ?)",
                    [str(folder / "manifest.yaml"), RUN])
        for pid, included, step, reason in (("P-001", True, None, None), ("P-002", True, None, None),
                                            ("P-003", True, None, None), ("P-004", False, 1, "no MRI")):
            con.execute("INSERT INTO patient_registry VALUES ('tcga_brca', ?, ?, ?, ?, ?)",
                        [pid, included, step, reason, RUN])
        con.execute("INSERT INTO inclusion_flow VALUES ('tcga_brca', 0, 'all patients', 4, 0, 4, ?, NULL), "
                    "('tcga_brca', 1, 'has MRI', 4, 1, 3, ?, 'no MRI')", [RUN, RUN])
        for pid, age, subtype in (("P-001", 51.0, "TNBC"), ("P-002", 63.0, "HR+/HER2-"), ("P-003", 45.0, "HER2+")):
            con.execute("INSERT INTO clinical (cohort, patient_id, age, subtype, stage, run_id) "
                        "VALUES ('tcga_brca', ?, ?, ?, 'II', ?)", [pid, age, subtype, RUN])
        for pid, til in (("P-001", 35.0), ("P-002", 5.0), ("P-003", 60.0)):
            con.execute("INSERT INTO til_readings VALUES ('tcga_brca', ?, ?, 'reader 1', ?)", [pid, til, RUN])
        con.execute("INSERT INTO outcome_values VALUES ('tcga_brca', 'P-001', 'rfs', 1234.0, 1, ?)", [RUN])
        con.execute("INSERT INTO feature_defs VALUES ('FTV', 'mri', 'ftv', 'functional tumour volume', 'cm3', 'f'), "
                    "('SER_mean', 'mri', 'tsbpe', 'mean SER', NULL, 'f')")
        for pid, ftv, ser in (("P-001", 12.5, 1.1), ("P-002", 3.0, 0.9), ("P-003", 30.0, 1.3)):
            for code, value in (("FTV", ftv), ("SER_mean", ser)):
                con.execute("INSERT INTO feature_values VALUES ('tcga_brca', ?, 'mri', ?, ?, 'p', ?, true)",
                            [pid, code, value, RUN])
        con.execute("INSERT INTO feature_values VALUES ('tcga_brca', 'P-001', 'genomics', 'CYT', 42.5, 'p', ?, true),"
                    " ('tcga_brca', 'P-001', 'genomics', 'TMB', 1.75, 'p', ?, true)", [RUN, RUN])
        con.execute("INSERT INTO model_predictions VALUES ('composite', 1, 'tcga_brca', 'P-001', 31.25, "
                    "'intermediate', ?), ('mri_signature', 2, 'tcga_brca', 'P-001', 12.0, 'intermediate', ?), "
                    "('mri_signature', 1, 'tcga_brca', 'P-001', 8.0, 'low', ?)", [RUN, RUN, RUN])
        con.execute("INSERT INTO survival_results (cohort, model, version, endpoint, grouping, subgroup, statistic, "
                    "term, estimable, note, run_id) VALUES ('tcga_brca', 'composite', 1, 'rfs', "
                    "'low|intermediate|high', 'all', 'n_patients', '', true, '', ?)", [RUN])
        if with_slides:
            con.execute(
                "INSERT INTO pathology_slides VALUES ('tcga_brca', 'P-001', ?, 'generic-tiff', ?, ?, ?, 3, ?, ?, ?, "
                "150, NULL, NULL, NULL, NULL, ?, NULL, ?, NULL)",   # geojson last (0019)
                [str(slide), MPP, WIDTH, HEIGHT, GRID[0], GRID[1], PATCH_UM, str(folder / "tumor_til.png"), RUN])
            con.execute(
                "INSERT INTO pathology_slides VALUES ('tcga_brca', 'P-002', ?, 'generic-tiff', 0.5, 100, 100, 1, "
                "1, 1, 50, 1, NULL, NULL, NULL, NULL, NULL, NULL, ?, NULL)", [missing, RUN])
            con.execute("INSERT INTO pathology_scores (cohort, patient_id, til_score, source, run_id) "
                        "VALUES ('tcga_brca', 'P-001', 27.5, 'score-wsi', ?)", [RUN])
        if with_slides:
            write_pathology_features(con)
        if with_stage_tables:
            con.execute(SEG_DDL)
            con.execute(CELL_DDL)
            if with_slides:
                con.execute(f"INSERT INTO seg_slides ({SEG_COLUMNS}) VALUES ('tcga_brca', 'P-001', ?, ?, NULL, ?, ?)",
                            [str(slide), str(folder / "mask.tiff"), MASK_MPP, RUN])
                con.execute(f"INSERT INTO cell_files ({CELL_COLUMNS}) VALUES ('tcga_brca', 'P-001', ?, ?, ?, ?, ?)",
                            [str(slide), str(folder / "cells" / "cells.parquet"), len(CELLS), MPP, RUN])
    return ViewerStudy(db=db, slide=slide, slide_id=slide_id(str(slide)), missing_id=slide_id(missing),
                       rgb_map=rgb, labels=labels)


def add_slides(study: ViewerStudy, n: int) -> list[str]:
    """Register `n` more slides (copies of the study's slide file, patients S-01 ...): their viewer ids."""
    import shutil

    ids = []
    with open_warehouse(study.db) as con:
        for i in range(1, n + 1):
            pid = f"S-{i:02d}"
            copy = shutil.copyfile(study.slide, study.slide.parent / f"{pid}.tiff")
            con.execute("INSERT INTO patient_registry VALUES ('tcga_brca', ?, true, NULL, NULL, ?)", [pid, RUN])
            con.execute("INSERT INTO pathology_slides (cohort, patient_id, slide_path, mpp, width, height, run_id) "
                        "VALUES ('tcga_brca', ?, ?, ?, ?, ?, ?)", [pid, str(copy), MPP, WIDTH, HEIGHT, RUN])
            ids.append(slide_id(str(copy)))
    return ids


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> ViewerStudy:
    return build_warehouse(tmp_path_factory.mktemp("viewer"))


def viewer_client(app: object) -> TestClient:
    """A test client of the viewer that names itself `localhost` (the viewer answers no other Host)."""
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")   # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: object, head_timeout: float = 10.0) -> Iterator[str]:
    """`app` served by uvicorn (the viewer's protocol) on a free loopback port in a background thread; its URL."""
    import uvicorn

    from radpath.viewer.server import protocol

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                                           http=protocol(head_timeout)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the viewer did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def live_server(study: ViewerStudy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The viewer served by uvicorn on a free loopback port in a background thread; yields its base URL."""
    from radpath.viewer.app import ViewerConfig, create_app

    app = create_app(ViewerConfig(db=study.db, work_dir=tmp_path_factory.mktemp("drawings")))
    with serving(app) as url:
        yield url
