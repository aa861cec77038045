-- 0005_models: fitted TIL models (artifacts and predictions) and the results of the stats commands
-- (`radpath associate`, `fit-signature`, `fit-composite`, `evaluate`, `apply`). Every row carries run_id.

-- Versioned model artifacts. Contract read by survival (#7) and report (#8).
-- artifact JSON keys: features [{modality, code}], coefficients {code: float}, intercept, means {code: float},
-- sds {code: float} (standardisation learned on the training cohort; coefficients apply to standardised
-- values (x - mean) / sd; a composite's inputs are its terms, e.g. the signature's prediction and CYT),
-- thresholds {low_vs_intermediate, low_vs_high, intermediate_vs_high} (Youden cut-offs on the predicted TIL,
-- learned on the training cohort), plus kind-specific extras (selection summary, terms, parameters).
CREATE TABLE models (
    name        VARCHAR NOT NULL,          -- e.g. 'mri_signature', 'composite'
    version     INTEGER NOT NULL,          -- 1, 2, ... per name; a refit adds a version
    kind        VARCHAR NOT NULL,          -- signature | composite
    cohort      VARCHAR NOT NULL,          -- the cohort it was trained on
    target      VARCHAR NOT NULL,          -- 'til' (stromal TIL %)
    artifact    VARCHAR NOT NULL,          -- JSON, see above
    data_hash   VARCHAR NOT NULL,          -- sha256 of the training matrix (patients, features, target)
    created_at  TIMESTAMP NOT NULL,
    run_id      VARCHAR NOT NULL,
    PRIMARY KEY (name, version)
);

-- Predicted TIL of each patient by a model version (the training cohort by the fit commands, others by `apply`).
CREATE TABLE model_predictions (
    model       VARCHAR NOT NULL,          -- models.name
    version     INTEGER NOT NULL,          -- models.version
    cohort      VARCHAR NOT NULL,
    patient_id  VARCHAR NOT NULL,
    predicted   DOUBLE NOT NULL,           -- predicted stromal TIL (%)
    til_group   VARCHAR NOT NULL,          -- low | intermediate | high by the model's thresholds
    run_id      VARCHAR NOT NULL
);

-- `radpath associate`: Pearson correlation of each feature with a target (paper Fig. 3 heat map data).
CREATE TABLE feature_associations (
    cohort      VARCHAR NOT NULL,
    modality    VARCHAR NOT NULL,          -- modality of the feature
    code        VARCHAR NOT NULL,          -- feature code
    target      VARCHAR NOT NULL,          -- til | CYT | TMB
    n           INTEGER NOT NULL,          -- complete cases used
    r           DOUBLE,                    -- Pearson r
    ci_low      DOUBLE,                    -- 95% CI by Fisher z: tanh(atanh(r) -/+ 1.96 / sqrt(n - 3))
    ci_high     DOUBLE,
    p_value     DOUBLE,                    -- two-sided t test of r = 0 (n - 2 df)
    fdr         DOUBLE,                    -- Benjamini-Hochberg q over the features of this (cohort, modality, target)
    significant BOOLEAN NOT NULL,          -- p_value < alpha and fdr < fdr threshold of the run
    run_id      VARCHAR NOT NULL
);

-- `radpath fit-signature`: how often each candidate feature was selected by LASSO over folds x repeats.
CREATE TABLE signature_selection (
    model       VARCHAR NOT NULL,          -- models.name
    version     INTEGER NOT NULL,          -- models.version
    modality    VARCHAR NOT NULL,
    code        VARCHAR NOT NULL,
    frequency   DOUBLE NOT NULL,           -- fraction of the folds x repeats LASSO fits with a non-zero coefficient
    mean_coef   DOUBLE,                    -- mean standardised LASSO coefficient over the fits that selected it
    selected    BOOLEAN NOT NULL,          -- frequency > min_frequency: entered the final OLS
    run_id      VARCHAR NOT NULL
);

-- Coefficients of fitted OLS models: the signature's final OLS and the composite's Table 4 fits.
CREATE TABLE model_terms (
    model       VARCHAR NOT NULL,          -- models.name
    version     INTEGER NOT NULL,
    fit         VARCHAR NOT NULL,          -- 'final' (the saved model) | 'adjusted' (Table 4 with adjustments)
    term        VARCHAR NOT NULL,          -- 'intercept', a feature code, a signature name, CYT, TMB, stage, ...
    coef        DOUBLE,                    -- coefficient (per SD of the term for standardised inputs)
    se          DOUBLE,                    -- standard error
    t_value     DOUBLE,
    p_value     DOUBLE,
    ci_low      DOUBLE,                    -- 95% CI of coef
    ci_high     DOUBLE,
    n           INTEGER NOT NULL,          -- patients in the fit
    r2          DOUBLE,                    -- R^2 of that fit (repeated on each of its rows)
    run_id      VARCHAR NOT NULL
);

-- `radpath evaluate`: correlation of predicted with observed TIL per model and cohort.
CREATE TABLE model_correlation (
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    cohort      VARCHAR NOT NULL,
    n           INTEGER NOT NULL,
    r           DOUBLE,
    ci_low      DOUBLE,
    ci_high     DOUBLE,
    p_value     DOUBLE,
    run_id      VARCHAR NOT NULL
);

-- `radpath evaluate`: discrimination of TIL categories by a model's prediction (paper Table 3).
CREATE TABLE classification_metrics (
    model        VARCHAR NOT NULL,
    version      INTEGER NOT NULL,
    cohort       VARCHAR NOT NULL,
    comparison   VARCHAR NOT NULL,         -- low_vs_intermediate | low_vs_high | intermediate_vs_high
    n_negative   INTEGER NOT NULL,         -- patients of the lower category
    n_positive   INTEGER NOT NULL,         -- patients of the higher category
    auc          DOUBLE NOT NULL,
    auc_ci_low   DOUBLE,                   -- DeLong 95% CI (logit-free, clipped to [0, 1])
    auc_ci_high  DOUBLE,
    p_value      DOUBLE,                   -- Mann-Whitney U, two-sided, against AUC = 0.5
    threshold    DOUBLE,                   -- cut-off on predicted TIL (Youden J on the training cohort)
    threshold_source VARCHAR NOT NULL,     -- 'youden' (learned on this cohort = training) | 'model' (frozen)
    sensitivity  DOUBLE,                   -- at threshold: higher category called when predicted > threshold
    specificity  DOUBLE,
    accuracy     DOUBLE,
    run_id       VARCHAR NOT NULL
);

-- `radpath evaluate --compare`: paired DeLong tests between two models' AUCs on the same patients.
CREATE TABLE auc_comparisons (
    cohort      VARCHAR NOT NULL,
    comparison  VARCHAR NOT NULL,          -- low_vs_intermediate | low_vs_high | intermediate_vs_high
    model_a     VARCHAR NOT NULL,
    version_a   INTEGER NOT NULL,
    model_b     VARCHAR NOT NULL,
    version_b   INTEGER NOT NULL,
    n           INTEGER NOT NULL,          -- patients with both predictions
    auc_a       DOUBLE NOT NULL,
    auc_b       DOUBLE NOT NULL,
    z           DOUBLE,                    -- (auc_a - auc_b) / SE by DeLong's paired covariance
    p_value     DOUBLE,                    -- two-sided
    run_id      VARCHAR NOT NULL
);

-- Model predictions as features (modality 'model', code = model name), as written to `features`.
CREATE VIEW model_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'model';

-- The newest version of each model.
CREATE VIEW latest_models AS
SELECT * FROM models QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1;
