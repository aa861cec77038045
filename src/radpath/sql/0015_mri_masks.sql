-- 0015_mri_masks: automatic tumour masks and quality flags of DCE-MRI cases (issue 22, sections 2-3).
ALTER TABLE mri_case_qc ADD COLUMN mask_source VARCHAR;   -- given | auto-ftv | auto-fcm
ALTER TABLE mri_case_qc ADD COLUMN mask_voi VARCHAR;      -- VOI of an automatic mask: breast mask | box | breast region
ALTER TABLE mri_case_qc ADD COLUMN mask_note VARCHAR;     -- how an automatic mask was made (voxels, background threshold, components)
ALTER TABLE mri_case_qc ADD COLUMN mask_file VARCHAR;     -- the automatic mask written for review (DICOM SEG, or NIfTI for NIfTI cases)
ALTER TABLE mri_case_qc ADD COLUMN tumour_cm3 DOUBLE;     -- tumour mask volume on the acquisition grid (voxel count x voxel volume)
ALTER TABLE mri_case_qc ADD COLUMN qc_flags VARCHAR;      -- JSON list of quality flags (phase far from its target, small/border/outside mask)

CREATE OR REPLACE VIEW mri_cases AS
SELECT * EXCLUDE (rn) FROM (
    SELECT q.*, row_number() OVER (PARTITION BY cohort, patient_id ORDER BY r.started_at DESC) AS rn
    FROM mri_case_qc q JOIN run_log r USING (run_id)
) WHERE rn = 1;
