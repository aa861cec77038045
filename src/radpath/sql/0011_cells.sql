-- 0011_cells: cell detection and counting (radpath detect-cells): Ki-67 index and cell-level TIL score.
-- One row per (cohort, patient_id) in each table; a re-run replaces the patient's rows. Every row carries run_id.

-- Where each case's detected cells are: a Parquet cell file (radpath.pathology.cellfile: image, x_px, y_px,
-- x_um, y_um, class, score), written by detect-cells at <out>/<cohort>/<patient_id>/cells.parquet.
-- source_path is the slide scored, or the folder / first image of the patient's fields of view.
CREATE TABLE cell_files (
    cohort       VARCHAR,
    patient_id   VARCHAR,
    source_path  VARCHAR,
    cells_path   VARCHAR,
    n_cells      INTEGER,
    mpp          DOUBLE,     -- microns per pixel of the cell coordinates (level 0 for a slide)
    run_id       VARCHAR NOT NULL
);

-- Per patient over all its images (or its slide): counts, tissue area, scores and categories. The same
-- scores are in `features` (modality 'cells', codes KI67_INDEX, TIL_CELL_SCORE, KI67_CATEGORY,
-- TIL_CELL_CATEGORY, KI67_POS_DENSITY, KI67_NEG_DENSITY, LYMPHOCYTE_DENSITY, CELL_TISSUE_AREA).
CREATE TABLE cell_scores (
    cohort             VARCHAR NOT NULL,
    patient_id         VARCHAR NOT NULL,
    source_kind        VARCHAR,    -- 'images' (fields of view) or 'slide'
    method             VARCHAR,    -- 'density' (PathoNet) or 'patch' (patch classifier + NMS)
    n_images           INTEGER,    -- fields of view (1 for a slide)
    n_ki67_positive    INTEGER,
    n_ki67_negative    INTEGER,
    n_lymphocyte       INTEGER,    -- lymphocytes + plasma cells
    tissue_area_mm2    DOUBLE,
    ki67_index         DOUBLE,     -- %, positive / (positive + negative)
    til_cell_score     DOUBLE,     -- %, lymphocytes / (lymphocytes + positive + negative)
    ki67_category      VARCHAR,    -- low (< 16 %) | intermediate (16-30 %) | high (> 30 %)
    til_cell_category  VARCHAR,    -- low (<= 10 %) | intermediate | high (>= 40 %)
    model_path         VARCHAR,
    run_id             VARCHAR NOT NULL,
    PRIMARY KEY (cohort, patient_id)
);
