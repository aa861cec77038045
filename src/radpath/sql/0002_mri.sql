-- 0002_mri: placeholder owned by the mri issue; it replaces this view with its own tables and views.
CREATE VIEW mri_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'mri';
