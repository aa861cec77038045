-- 0006_survival: `radpath validate-survival` — survival validation of a frozen TIL model on a cohort.
-- A run replaces the rows of its (cohort, model, version, endpoint, grouping); every row carries run_id.
-- Shared key columns of the tables below:
--   cohort    the cohort analysed (e.g. ispy1)          model, version  models.name / models.version
--   endpoint  outcomes.endpoint (rfs, os)               grouping  'low|intermediate|high' (3 groups) or
--             e.g. 'low|high+intermediate' (2 groups, merged levels joined by '+')
--   subgroup  'all' or a clinical.subtype value (HR+/HER2-, HER2+, TNBC)

-- One row per cohort x subgroup x model x statistic (x term). Statistics (`statistic`, `term`):
--   n_patients (estimate = patients analysed), n_excluded_missing_endpoint, n_excluded_missing_prediction;
--   km_median (term = TIL group; estimate = median days, CI from the KM band, NaN = not reached);
--   logrank (term = 'low vs high+intermediate' or 'k groups'; estimate = chi-square, df, p_value);
--   cox_hr (term = 'predicted' per unit of predicted TIL, or a TIL group vs the reference group; estimate = HR);
--   schoenfeld (term as cox_hr; estimate = chi-square of the PH test, p_value; P < 0.05 = PH doubtful);
--   c_index (term = 'predicted'; Harrell's C, higher predicted TIL = longer survival; bootstrap 95 % CI);
--   mann_whitney_recurrence (predicted TIL, term = 'no recurrence vs recurrence'; estimate = U);
--   mann_whitney_subtype (subgroup 'all', term e.g. 'TNBC vs HR+/HER2-'; estimate = U);
--   kruskal_subtype (subgroup 'all', term = 'subtypes'; estimate = H, df).
-- A statistic that cannot be estimated has estimable = false, NULL estimate and a note
-- such as 'not estimable (3 events)'.
CREATE TABLE survival_results (
    cohort      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    endpoint    VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,
    subgroup    VARCHAR NOT NULL,
    statistic   VARCHAR NOT NULL,
    term        VARCHAR NOT NULL,          -- '' when the statistic has no term
    estimate    DOUBLE,
    ci_lower    DOUBLE,                    -- 95 % CI of estimate (HR, C, median) where defined
    ci_upper    DOUBLE,
    df          DOUBLE,                    -- degrees of freedom of chi-square statistics
    p_value     DOUBLE,                    -- two-sided
    n           INTEGER,                   -- patients in the analysis
    n_events    INTEGER,                   -- events in the analysis
    estimable   BOOLEAN NOT NULL,
    note        VARCHAR NOT NULL,          -- '' or e.g. 'not estimable (3 events)'
    run_id      VARCHAR NOT NULL
);

-- Kaplan-Meier estimates (Fig. 8): one row per subgroup x TIL group x distinct time.
-- CI: Greenwood variance with the log transform (R survfit's default conf.type = "log").
CREATE TABLE survival_km (
    cohort      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    endpoint    VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,
    subgroup    VARCHAR NOT NULL,
    til_group   VARCHAR NOT NULL,
    time_days   DOUBLE NOT NULL,
    n_at_risk   INTEGER NOT NULL,          -- patients with time >= time_days
    n_events    INTEGER NOT NULL,
    n_censored  INTEGER NOT NULL,
    survival    DOUBLE NOT NULL,
    ci_lower    DOUBLE,
    ci_upper    DOUBLE,
    run_id      VARCHAR NOT NULL
);

-- Numbers at risk printed under the KM plot: one row per subgroup x TIL group x tick time.
CREATE TABLE survival_at_risk (
    cohort      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    endpoint    VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,
    subgroup    VARCHAR NOT NULL,
    til_group   VARCHAR NOT NULL,
    time_days   DOUBLE NOT NULL,
    n_at_risk   INTEGER NOT NULL,
    run_id      VARCHAR NOT NULL
);

-- Box-plot data of predicted TIL (Fig. 7 and the subtype comparison): one row per subgroup x split x level.
-- split: 'recurrence' (levels 'recurrence' / 'no recurrence' by the endpoint's event) or 'subtype'.
-- Whiskers: most extreme values within 1.5 IQR of the quartiles (Tukey).
CREATE TABLE survival_boxplot (
    cohort        VARCHAR NOT NULL,
    model         VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    endpoint      VARCHAR NOT NULL,
    grouping      VARCHAR NOT NULL,
    subgroup      VARCHAR NOT NULL,
    split         VARCHAR NOT NULL,
    level         VARCHAR NOT NULL,
    n             INTEGER NOT NULL,
    minimum       DOUBLE,
    q1            DOUBLE,
    median        DOUBLE,
    q3            DOUBLE,
    maximum       DOUBLE,
    whisker_low   DOUBLE,
    whisker_high  DOUBLE,
    run_id        VARCHAR NOT NULL
);

-- TIL group of each patient as analysed (thresholds of the frozen model, not re-tuned).
CREATE TABLE survival_groups (
    cohort      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    endpoint    VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,
    patient_id  VARCHAR NOT NULL,
    subtype     VARCHAR,
    predicted   DOUBLE NOT NULL,
    til_group   VARCHAR NOT NULL,          -- after merging, e.g. 'high+intermediate'
    time_days   DOUBLE NOT NULL,
    event       INTEGER NOT NULL,
    run_id      VARCHAR NOT NULL
);

-- KM figure files written by the run (PNG and SVG per subgroup).
CREATE TABLE survival_figures (
    cohort      VARCHAR NOT NULL,
    model       VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    endpoint    VARCHAR NOT NULL,
    grouping    VARCHAR NOT NULL,
    subgroup    VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,          -- png | svg
    path        VARCHAR NOT NULL,          -- absolute path
    run_id      VARCHAR NOT NULL
);
