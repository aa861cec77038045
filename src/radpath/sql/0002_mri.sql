-- 0002_mri: tables and views of DCE-MRI feature extraction (issue 3). Feature values themselves go to
-- feature_values (modality 'mri') and their definitions to feature_defs; these tables hold what else a
-- reader of the paper's methods needs: per-case acquisition and processing facts, and the redundancy reduction.

-- One row per case and parameter set (newest run replaces): what was read and chosen for the case.
-- No header PHI is stored: patient_id is the manifest's identifier.
CREATE TABLE mri_case_qc (
    cohort VARCHAR NOT NULL,
    patient_id VARCHAR NOT NULL,
    params_hash VARCHAR NOT NULL,         -- hash of the MRIParams used
    run_id VARCHAR NOT NULL,
    format VARCHAR,                       -- nifti | dicom
    vendor VARCHAR,                       -- manufacturer from the DICOM header or NIfTI sidecar
    field_strength_t DOUBLE,
    n_phases INTEGER,                     -- phases found (pre + post-contrast)
    times_s VARCHAR,                      -- JSON list of header start times, s after the pre-contrast start
    time_source VARCHAR,                  -- sidecar | TriggerTime | AcquisitionTime | ContentTime | SeriesTime
    pre_phase INTEGER,                    -- 0-based indices of the chosen phases
    early_phase INTEGER,
    late_phase INTEGER,
    early_s DOUBLE,                       -- effective (centre-of-acquisition) times of the chosen phases
    late_s DOUBLE,
    spacing VARCHAR,                      -- JSON [x, y, z] mm of the acquisition grid
    size VARCHAR,                         -- JSON [x, y, z] voxels
    parenchyma_source VARCHAR,            -- fcm | user
    normalisation_scale DOUBLE,           -- mean of the interquartile pre-contrast parenchyma voxels (after N4)
    tumour_voxels_iso INTEGER,            -- tumour voxels on the 1 mm grid
    pe_masked_tumour INTEGER,             -- tumour voxels whose PE denominator was not positive
    ser_masked_tumour INTEGER,            -- tumour voxels whose SER denominator was not positive (or SER beyond clip)
    ser_masked_parenchyma INTEGER,
    seconds VARCHAR,                      -- JSON seconds per pipeline step
    PRIMARY KEY (cohort, patient_id, params_hash)
);

-- One row per feature considered by `radpath mri reduce` (paper: 110 -> 17 by correlation and robustness).
CREATE TABLE mri_reduction (
    run_id VARCHAR NOT NULL,
    cohort VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    kept BOOLEAN NOT NULL,
    icc DOUBLE,                           -- ICC(3,1) between values from the given mask and eroded/dilated masks
    dropped_for VARCHAR,                  -- the kept feature it correlated with (NULL when kept)
    correlation DOUBLE,                   -- |Pearson r| with that feature
    threshold DOUBLE,                     -- correlation threshold used
    reason VARCHAR,
    PRIMARY KEY (run_id, code)
);

-- Feature values of the mri modality (newest run per patient and code).
CREATE VIEW mri_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'mri';

-- The paper's Table 1: the 17 feature definitions (extended features have family 'extended_*').
CREATE VIEW mri_table1 AS
SELECT family, code, name, unit, formula FROM feature_defs
WHERE modality = 'mri' AND family IN ('morphology', 'texture', 'ftv', 'bpe', 'tsbpe')
ORDER BY CASE family WHEN 'morphology' THEN 1 WHEN 'texture' THEN 2 WHEN 'ftv' THEN 3 WHEN 'bpe' THEN 4 ELSE 5 END,
         code;

-- Latest chosen phases and acquisition facts per case (newest run wins across parameter sets).
CREATE VIEW mri_cases AS
SELECT * EXCLUDE (rn) FROM (
    SELECT q.*, row_number() OVER (PARTITION BY cohort, patient_id ORDER BY r.started_at DESC) AS rn
    FROM mri_case_qc q JOIN run_log r USING (run_id)
) WHERE rn = 1;
