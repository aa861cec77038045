-- 0010_segmentation: tissue-compartment masks of whole-slide images (radpath segment-wsi, TIGER labels).
-- One row per (cohort, patient_id); a re-run replaces the patient's row. Every row carries run_id.
-- Compartment areas and stromal TIL scores are in `features` (modality 'pathology', family
-- 'wsi_segmentation': STROMAL_TIL, STROMAL_TIL_PATCH, STROMA_AREA, TUMOR_AREA_SEG, TUMOR_STROMA_RATIO).

-- mask_path: tiled pyramidal TIFF, uint8 TIGER labels per pixel (0 glass, 1 invasive tumour,
-- 2 tumour-associated stroma, 3 in-situ tumour, 4 healthy glands, 5 necrosis, 6 inflamed stroma,
-- 7 rest), one top-level page per level, resolution tags = mask_mpp; openslide opens it.
-- overlay_png: the slide thumbnail with the compartments tinted.
CREATE TABLE seg_slides (
    cohort       VARCHAR,
    patient_id   VARCHAR,
    slide_path   VARCHAR,
    mask_path    VARCHAR,
    overlay_png  VARCHAR,
    mask_mpp     DOUBLE,             -- microns per mask pixel (level 0 of the mask TIFF)
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (cohort, patient_id)
);

-- How each mask was made: model, label set, tiles and the cell file used for STROMAL_TIL (if any).
CREATE TABLE seg_slide_details (
    cohort          VARCHAR NOT NULL,
    patient_id      VARCHAR NOT NULL,
    model_path      VARCHAR,
    label_set       VARCHAR,         -- 'tiger' or 'binary-stroma' (binary masks hold 2 = stroma, 0 = other)
    tile_px         INTEGER,
    margin_px       INTEGER,         -- context around each stitched tile core
    n_tiles         INTEGER,         -- tiles segmented (glass skipped)
    n_tiles_total   INTEGER,
    mask_width      INTEGER,
    mask_height     INTEGER,
    cells_path      VARCHAR,         -- cell file counted for STROMAL_TIL (NULL: none)
    lymphocyte_map  VARCHAR,         -- score-wsi map used for STROMAL_TIL_PATCH (NULL: none)
    run_id          VARCHAR NOT NULL,
    PRIMARY KEY (cohort, patient_id)
);

-- Stromal TIL scores beside the tumour-bed TIL_SCORE and the pathologists' stromal TIL reading.
CREATE VIEW seg_til_comparison AS
SELECT s.cohort, s.patient_id,
       max(f.value) FILTER (WHERE f.code = 'STROMAL_TIL') AS stromal_til,
       max(f.value) FILTER (WHERE f.code = 'STROMAL_TIL_PATCH') AS stromal_til_patch,
       max(f.value) FILTER (WHERE f.code = 'TIL_SCORE') AS til_score,
       max(f.value) FILTER (WHERE f.code = 'TUMOR_STROMA_RATIO') AS tumor_stroma_ratio,
       t.stromal_til_pct, t.til_category
FROM seg_slides s
LEFT JOIN features f ON f.cohort = s.cohort AND f.patient_id = s.patient_id AND f.modality = 'pathology'
LEFT JOIN til t ON t.cohort = s.cohort AND t.patient_id = s.patient_id
GROUP BY s.cohort, s.patient_id, t.stromal_til_pct, t.til_category;
