-- 0019_slide_qc: per-slide QC flags with their reasons (radpath.pathology.qc), and where each slide stage wrote its
-- QuPath GeoJSON (radpath.pathology.geojson: level-0 pixel coordinates, one FeatureCollection per slide).
-- A flag never changes a value: `features` rows of flagged slides keep theirs; the manuscript tables count them.
-- One row per flag; a stage re-running a slide replaces that slide's flags from that stage.
CREATE TABLE slide_qc (
    cohort       VARCHAR NOT NULL,
    patient_id   VARCHAR NOT NULL,
    stage        VARCHAR NOT NULL,   -- score-wsi | segment-wsi | detect-cells
    source_path  VARCHAR,            -- the slide (detect-cells keeps one row set per source)
    code         VARCHAR NOT NULL,   -- mpp_mismatch | synthetic_model | colour_distance | no_tumour | roi_empty
    model        VARCHAR,            -- the model the flag concerns (tumor, lymphocyte, tissue, cells), if any
    reason       VARCHAR NOT NULL,   -- one line for people
    value        DOUBLE,             -- what was measured (the slide's mpp, the colour distance), if anything
    threshold    DOUBLE,             -- what it was compared with (the given mpp, the distance threshold)
    run_id       VARCHAR NOT NULL
);

-- Flagged patients per cohort and code (the newest flags of every stage), for the manuscript tables' footnotes.
CREATE VIEW slide_qc_summary AS
SELECT cohort, code, count(DISTINCT patient_id) AS n_patients
FROM slide_qc GROUP BY cohort, code;

ALTER TABLE pathology_slides ADD COLUMN geojson VARCHAR;
ALTER TABLE seg_slides ADD COLUMN geojson VARCHAR;
ALTER TABLE cell_files ADD COLUMN geojson VARCHAR;
