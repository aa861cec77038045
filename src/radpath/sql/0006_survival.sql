-- 0006_survival: placeholder owned by the survival issue; it replaces this view with its own tables and views.
CREATE VIEW survival_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'survival';
