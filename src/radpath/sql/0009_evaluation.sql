-- 0009_evaluation: one evaluation, one set of patients. `radpath evaluate` stores the predictions it evaluated
-- (every model on the same patients) and the patients dropped at each step; Table 3, the model comparison,
-- the ROC and box-plot figures read these rows instead of recomputing predictions. `fit-composite` writes its
-- own flow (training patients, the adjusted fit's complete cases) for Table 4's footnote.

-- The patients and predictions of an evaluation. An evaluation is keyed by (cohort, model): the primary model
-- of `evaluate --model M [--compare ...]`; a re-run replaces its rows.
CREATE TABLE evaluation_predictions (
    cohort        VARCHAR NOT NULL,
    evaluation    VARCHAR NOT NULL,        -- the primary model's name (`evaluate --model`)
    model         VARCHAR NOT NULL,        -- models.name (the primary model or one of --compare)
    version       INTEGER NOT NULL,        -- models.version
    patient_id    VARCHAR NOT NULL,
    observed_til  DOUBLE NOT NULL,         -- pathologists' stromal TIL (%)
    til_category  VARCHAR NOT NULL,        -- low | intermediate | high from observed_til
    predicted     DOUBLE NOT NULL,         -- the model's predicted TIL (%), as the linear model gives it
    below_zero    BOOLEAN NOT NULL,        -- predicted < 0 %: flagged, not clipped (see the model card)
    run_id        VARCHAR NOT NULL
);

-- Patients left after each step of an analysis, from the included patients on (the cohort's inclusion
-- criteria are in inclusion_flow). analysis: 'evaluate' or 'fit-composite'; subject: the evaluation's or
-- model's name. A step with n_dropped > 0 is printed as a footnote under the tables that use the analysis.
CREATE TABLE analysis_flow (
    cohort      VARCHAR NOT NULL,
    analysis    VARCHAR NOT NULL,
    subject     VARCHAR NOT NULL,
    step        INTEGER NOT NULL,          -- 1, 2, ... in order
    description VARCHAR NOT NULL,          -- e.g. 'with a prediction of every model'
    n_before    INTEGER NOT NULL,
    n_dropped   INTEGER NOT NULL,
    n_after     INTEGER NOT NULL,
    run_id      VARCHAR NOT NULL
);

-- The newest evaluation per (cohort, evaluation): what Table 3 and the evaluation figures show.
CREATE VIEW latest_evaluation_predictions AS
SELECT e.* FROM evaluation_predictions e
WHERE e.run_id = (SELECT x.run_id FROM evaluation_predictions x JOIN runs r USING (run_id)
                  WHERE x.cohort = e.cohort AND x.evaluation = e.evaluation
                  ORDER BY r.started_at DESC LIMIT 1);

-- The newest flow per (cohort, analysis, subject).
CREATE VIEW latest_analysis_flow AS
SELECT f.* FROM analysis_flow f
WHERE f.run_id = (SELECT x.run_id FROM analysis_flow x JOIN runs r USING (run_id)
                  WHERE x.cohort = f.cohort AND x.analysis = f.analysis AND x.subject = f.subject
                  ORDER BY r.started_at DESC LIMIT 1);
