-- 0004_genomics: placeholder owned by the genomics issue; it replaces this view with its own tables and views.
CREATE VIEW genomics_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'genomics';
