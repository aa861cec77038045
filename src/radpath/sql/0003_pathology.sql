-- 0003_pathology: placeholder owned by the pathology issue; it replaces this view with its own tables and views.
CREATE VIEW pathology_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'pathology';
