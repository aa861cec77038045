-- 0005_models: placeholder owned by the model issue; it replaces this view with its own tables and views.
CREATE VIEW model_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'model';
