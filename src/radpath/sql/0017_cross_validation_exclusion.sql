-- 0017_cross_validation_exclusion: estimates that are not in-sample, and exclusion reasons that read as reasons.

-- Fold predictions of a fitted model on its training cohort: one row per repeat x fold x patient. A
-- signature's rows come from the fits of its repeated k-fold LASSO (each fit predicts every patient;
-- held_out marks the patients of the fold it left out); a composite's from its OLS refitted within the same
-- folds on those predictions and its molecular terms. The out-of-fold prediction of a patient is the mean of
-- its held-out rows over the repeats (radpath.stats.crossval). A refit adds the rows of its new version.
CREATE TABLE cv_predictions (
    model       VARCHAR NOT NULL,          -- models.name
    version     INTEGER NOT NULL,          -- models.version
    cohort      VARCHAR NOT NULL,          -- the training cohort
    rep         INTEGER NOT NULL,          -- repeat 0 .. repeats - 1
    fold        INTEGER NOT NULL,          -- fold 0 .. folds - 1 of that repeat
    patient_id  VARCHAR NOT NULL,
    predicted   DOUBLE NOT NULL,           -- predicted stromal TIL (%) by the fold's fit
    held_out    BOOLEAN NOT NULL,          -- the patient was not used to fit this fold's model
    run_id      VARCHAR NOT NULL
);

-- Table 3 beside the apparent (in-sample) AUC of a model fitted on the evaluated cohort: the AUC of its
-- out-of-fold predictions (DeLong 95% CI) on the evaluation's patients that the cross-validation covered.
-- NULL for models not fitted on the cohort (nothing to cross-validate) or fitted before this migration.
-- threshold_source gains 'fixed': a published model's category boundaries (low <= 10 %, high > 40 %).
ALTER TABLE classification_metrics ADD COLUMN cv_auc DOUBLE;
ALTER TABLE classification_metrics ADD COLUMN cv_auc_ci_low DOUBLE;
ALTER TABLE classification_metrics ADD COLUMN cv_auc_ci_high DOUBLE;
ALTER TABLE classification_metrics ADD COLUMN cv_n INTEGER;        -- patients of the pair with an out-of-fold prediction
ALTER TABLE classification_metrics ADD COLUMN cv_repeats INTEGER;  -- repeats averaged

-- Why the patients of a criterion were excluded, as a reason ('no pre-treatment DCE-MRI'), beside the
-- criterion they failed ('pre-treatment DCE-MRI present'); patients.exclusion_reason holds the same text.
-- Step 0 (all patients in the clinical table) has none.
ALTER TABLE inclusion_flow ADD COLUMN exclusion_reason VARCHAR;
