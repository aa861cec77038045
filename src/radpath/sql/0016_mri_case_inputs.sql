-- 0016_mri_case_inputs: the input provenance of an MRI case is the files it was read from (issue 22: a case
-- folder holds every series and visit of an exam; extract-mri no longer hashes whole folders, which read the
-- pixel data of every skipped series). NULL for rows written before.
ALTER TABLE mri_case_qc ADD COLUMN input_files INTEGER;        -- files read: the chosen phases' files and the masks given
ALTER TABLE mri_case_qc ADD COLUMN input_sha256 VARCHAR;       -- sha256 over (path below the case folder, file sha256) of those files

CREATE OR REPLACE VIEW mri_cases AS
SELECT * EXCLUDE (rn) FROM (
    SELECT q.*, row_number() OVER (PARTITION BY cohort, patient_id ORDER BY r.started_at DESC) AS rn
    FROM mri_case_qc q JOIN run_log r USING (run_id)
) WHERE rn = 1;
