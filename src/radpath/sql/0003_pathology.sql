-- 0003_pathology: whole-slide TIL maps and scores (radpath score-wsi, radpath import-til-maps).
-- One row per (cohort, patient_id) in each table; a re-run replaces the patient's rows. Every row carries run_id.

-- Each scored slide: geometry, the lymphocyte grid its combined map lives on, and the map files.
-- Map files: .npy float32 arrays, one value per patch (row i = slide y), NaN = glass; tissue_map is bool;
-- rgb_map is the paper's combined Tumour-TIL PNG (R = lymphocyte prob x 255, G = tumour prob x 255,
-- B = 255 tissue / 0 glass) on the lymphocyte grid; overlay_png is that map over the slide thumbnail.
CREATE TABLE pathology_slides (
    cohort            VARCHAR NOT NULL,
    patient_id        VARCHAR NOT NULL,
    slide_path        VARCHAR NOT NULL,   -- slide file scored (or the imported map PNG)
    vendor            VARCHAR,            -- openslide.vendor ('tumor-til-map' for imported maps)
    mpp               DOUBLE,             -- level-0 microns per pixel used (NaN for imported maps)
    width             INTEGER,            -- level-0 pixels
    height            INTEGER,
    levels            INTEGER,            -- pyramid levels openslide sees
    grid_rows         INTEGER,            -- lymphocyte-grid rows (= rows of rgb_map)
    grid_cols         INTEGER,
    patch_um          DOUBLE,             -- side of one lymphocyte-grid patch in microns
    n_tissue_patches  INTEGER,            -- tissue patches on the lymphocyte grid
    tumor_map         VARCHAR,            -- tumour probabilities on the tumour model's grid (.npy)
    tumor_agg_map     VARCHAR,            -- after window aggregation (Max, w = 4 by default) (.npy)
    lymphocyte_map    VARCHAR,            -- lymphocyte probabilities (.npy)
    tissue_map        VARCHAR,            -- tissue mask on the lymphocyte grid (.npy, bool)
    rgb_map           VARCHAR,            -- combined Tumour-TIL map (.png)
    overlay_png       VARCHAR,            -- combined map over the thumbnail (.png)
    run_id            VARCHAR NOT NULL,
    PRIMARY KEY (cohort, patient_id)
);

-- TIL scores of each slide (percentages of TIL-positive patches in a region; areas in mm2) and the
-- thresholds they were computed with. The same values are in `features` (modality 'pathology', codes
-- TIL_SCORE, TIL_INTRATUMORAL, TIL_PERITUMORAL, TIL_NONTUMOR, TISSUE_AREA, TUMOR_AREA).
CREATE TABLE pathology_scores (
    cohort                VARCHAR NOT NULL,
    patient_id            VARCHAR NOT NULL,
    til_score             DOUBLE,     -- TIL+ patches / patches of the tumour bed (tumour + peritumoral band), %
    til_intratumoral      DOUBLE,     -- TIL+ patches / tumour patches, %
    til_peritumoral       DOUBLE,     -- TIL+ patches / band patches (within band_um of tumour), %
    til_nontumor          DOUBLE,     -- TIL+ patches / other tissue patches, %
    tissue_area_mm2       DOUBLE,
    tumor_area_mm2        DOUBLE,
    tumor_threshold       DOUBLE,     -- tumour probability threshold
    lymphocyte_threshold  DOUBLE,     -- lymphocyte probability threshold
    band_um               DOUBLE,     -- peritumoral band width, microns
    source                VARCHAR,    -- 'score-wsi' or 'import-til-maps'
    run_id                VARCHAR NOT NULL,
    PRIMARY KEY (cohort, patient_id)
);

-- The pathology rows of `features` (newest run per patient and code).
CREATE VIEW pathology_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'pathology';

-- Computational TIL score beside the pathologists' reading (for the report's correlation figure).
CREATE VIEW pathology_til_comparison AS
SELECT s.cohort, s.patient_id, s.til_score, s.til_intratumoral, s.til_peritumoral, s.til_nontumor,
       t.stromal_til_pct, t.til_category, s.run_id
FROM pathology_scores s LEFT JOIN til t USING (cohort, patient_id);
