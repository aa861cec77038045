-- 0014_mri_series_choice: which study and series of a DICOM exam a case was read from, and every series
-- skipped with its reason (issue 22 §1, radpath.mri.series). NULL for NIfTI cases and rows written before.
ALTER TABLE mri_case_qc ADD COLUMN study_uid VARCHAR;          -- StudyInstanceUID of the chosen visit
ALTER TABLE mri_case_qc ADD COLUMN study_date VARCHAR;         -- its StudyDate (YYYYMMDD, as in the header)
ALTER TABLE mri_case_qc ADD COLUMN study_description VARCHAR;
ALTER TABLE mri_case_qc ADD COLUMN visit INTEGER;              -- 1-based among the studies holding a dynamic series, by date
ALTER TABLE mri_case_qc ADD COLUMN n_visits INTEGER;
ALTER TABLE mri_case_qc ADD COLUMN study_rule VARCHAR;         -- the manifest's mri.study (first | last | index | date | glob)
ALTER TABLE mri_case_qc ADD COLUMN series_rule VARCHAR;        -- automatic | 'mri.series: <glob or number>'
ALTER TABLE mri_case_qc ADD COLUMN series VARCHAR;             -- JSON list of the series read: uid, number, description, date, time, image_type, modality, files, time_points
ALTER TABLE mri_case_qc ADD COLUMN skipped_series VARCHAR;     -- JSON list of the series not read, each with its reason (and files that are not DICOM)

CREATE OR REPLACE VIEW mri_cases AS
SELECT * EXCLUDE (rn) FROM (
    SELECT q.*, row_number() OVER (PARTITION BY cohort, patient_id ORDER BY r.started_at DESC) AS rn
    FROM mri_case_qc q JOIN run_log r USING (run_id)
) WHERE rn = 1;
