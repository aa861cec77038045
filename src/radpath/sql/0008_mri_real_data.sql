-- 0008_mri_real_data: what real scanner data needed recorded per case (issue 15, items 1-3).
ALTER TABLE mri_case_qc ADD COLUMN phase_split VARCHAR;          -- series | TemporalPositionIdentifier | slice-position repetition | time clustering (tolerance N s) | sidecar
ALTER TABLE mri_case_qc ADD COLUMN field_strength_unit VARCHAR;  -- T, or '15000 G read as gauss' when the header gave gauss (converted to tesla)
ALTER TABLE mri_case_qc ADD COLUMN breast_source VARCHAR;        -- user (a breast mask was given) | auto (body-air boundary, chest wall excluded)
ALTER TABLE mri_case_qc ADD COLUMN skin_band_mm DOUBLE;          -- skin band removed from the breast before fuzzy C-means (0: none)
ALTER TABLE mri_case_qc ADD COLUMN parenchyma_cluster VARCHAR;   -- which FCM cluster was taken as parenchyma, and why

CREATE OR REPLACE VIEW mri_cases AS
SELECT * EXCLUDE (rn) FROM (
    SELECT q.*, row_number() OVER (PARTITION BY cohort, patient_id ORDER BY r.started_at DESC) AS rn
    FROM mri_case_qc q JOIN run_log r USING (run_id)
) WHERE rn = 1;
