-- 0001_core: cohorts, patients and inclusion, clinical attributes, TIL readings, outcomes,
-- long-format features with their definitions, runs (provenance) and per-case status/failures.
-- Internal tables end in a noun; the public contract is the set of views at the end of this file.

-- One row per ingested cohort (re-ingest replaces it).
CREATE TABLE cohort_registry (
    cohort          VARCHAR PRIMARY KEY,   -- manifest `name`
    role            VARCHAR NOT NULL,      -- training | validation | other
    description     VARCHAR,
    manifest_path   VARCHAR NOT NULL,      -- absolute path of the manifest at ingest
    manifest_hash   VARCHAR NOT NULL,      -- sha256 of the manifest file
    run_id          VARCHAR NOT NULL
);

-- Every patient the cohort's clinical table lists, with the inclusion decision.
CREATE TABLE patient_registry (
    cohort            VARCHAR NOT NULL,
    patient_id        VARCHAR NOT NULL,    -- the manifest's identifier (never a name or MRN)
    included          BOOLEAN NOT NULL,
    exclusion_step    INTEGER,             -- 1-based index of the first failed criterion
    exclusion_reason  VARCHAR,             -- that criterion's label
    run_id            VARCHAR NOT NULL
);

-- The inclusion flow (paper Figure S1): patients remaining after each criterion, in order.
CREATE TABLE inclusion_flow (
    cohort       VARCHAR NOT NULL,
    step         INTEGER NOT NULL,         -- 0 = all patients in the clinical table
    criterion    VARCHAR NOT NULL,
    n_before     INTEGER NOT NULL,
    n_excluded   INTEGER NOT NULL,
    n_after      INTEGER NOT NULL,
    run_id       VARCHAR NOT NULL
);

-- Clinical attributes, normalised to a fixed vocabulary (see radpath.attributes).
-- er/pr/her2: positive | negative | equivocal | indeterminate; hr: positive | negative;
-- subtype: HR+/HER2- | HER2+ | TNBC; t_stage T0-T4/TX; n_stage N0-N3/NX; m_stage M0/M1/MX;
-- stage I-IV; histology IDC | ILC | other; pam50 LumA | LumB | Her2 | Basal | Normal.
CREATE TABLE clinical (
    cohort      VARCHAR NOT NULL,
    patient_id  VARCHAR NOT NULL,
    age         DOUBLE,
    er          VARCHAR,
    pr          VARCHAR,
    her2        VARCHAR,
    hr          VARCHAR,
    subtype     VARCHAR,
    t_stage     VARCHAR,
    n_stage     VARCHAR,
    m_stage     VARCHAR,
    stage       VARCHAR,
    histology   VARCHAR,
    pam50       VARCHAR,
    run_id      VARCHAR NOT NULL
);

-- Pathologist TIL readings: percent stromal TILs (0-100), following the TIL working group.
CREATE TABLE til_readings (
    cohort           VARCHAR NOT NULL,
    patient_id       VARCHAR NOT NULL,
    stromal_til_pct  DOUBLE NOT NULL CHECK (stromal_til_pct BETWEEN 0 AND 100),
    reader           VARCHAR,
    run_id           VARCHAR NOT NULL
);

-- Time-to-event outcomes (one row per patient and endpoint; missing endpoints are not stored).
CREATE TABLE outcome_values (
    cohort      VARCHAR NOT NULL,
    patient_id  VARCHAR NOT NULL,
    endpoint    VARCHAR NOT NULL,          -- rfs | os | ...
    time_days   DOUBLE NOT NULL,
    event       INTEGER NOT NULL CHECK (event IN (0, 1)),
    run_id      VARCHAR NOT NULL
);

-- Long-format feature values of every modality. A stage re-run replaces the rows of its
-- (cohort, patient, modality, params_hash); values computed with other parameters stay as history
-- with current = false. The `features` view shows the current (most recently written) values.
CREATE TABLE feature_values (
    cohort       VARCHAR NOT NULL,
    patient_id   VARCHAR NOT NULL,
    modality     VARCHAR NOT NULL,         -- mri | pathology | genomics | model | ...
    code         VARCHAR NOT NULL,
    value        DOUBLE,
    params_hash  VARCHAR NOT NULL,
    run_id       VARCHAR NOT NULL,
    current      BOOLEAN NOT NULL DEFAULT TRUE  -- the newest value of (cohort, patient, modality, code)
);

-- Feature definitions (paper Table 1), written from each modality's feature registry.
CREATE TABLE feature_defs (
    code         VARCHAR PRIMARY KEY,
    modality     VARCHAR NOT NULL,
    family       VARCHAR NOT NULL,
    name         VARCHAR NOT NULL,
    unit         VARCHAR,
    formula      VARCHAR
);

-- Provenance of every command that writes: one row per run, inserted when it starts.
-- A run killed mid-way stays with status 'running' and finished_at NULL.
CREATE TABLE run_log (
    run_id        VARCHAR PRIMARY KEY,
    command       VARCHAR NOT NULL,
    params_hash   VARCHAR NOT NULL,
    params        VARCHAR NOT NULL,        -- JSON
    versions      VARCHAR NOT NULL,        -- JSON: package -> version
    input_hashes  VARCHAR NOT NULL,        -- JSON: path -> sha256
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    status        VARCHAR NOT NULL         -- running | ok | partial | failed
);

-- Latest outcome of each case in each per-case stage, for --retry-failed and restarts.
CREATE TABLE case_status (
    stage        VARCHAR NOT NULL,
    cohort       VARCHAR NOT NULL,
    case_id      VARCHAR NOT NULL,
    params_hash  VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,         -- ok | failed
    run_id       VARCHAR NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- Per-case failures of every run (the run carries on).
CREATE TABLE case_failures (
    run_id       VARCHAR NOT NULL,
    cohort       VARCHAR,
    case_id      VARCHAR NOT NULL,
    stage        VARCHAR NOT NULL,
    error        VARCHAR NOT NULL,
    file         VARCHAR,
    recorded_at  TIMESTAMP NOT NULL
);

-- ---------------------------------------------------------------- public views (stable contract)
CREATE VIEW patients AS
SELECT patient_id, cohort, included, exclusion_reason FROM patient_registry;

CREATE VIEW outcomes AS
SELECT patient_id, endpoint, time_days, event, cohort FROM outcome_values;

CREATE VIEW runs AS
SELECT run_id, command, params_hash, params, versions, input_hashes, started_at, finished_at, status
FROM run_log;

CREATE VIEW features AS
SELECT patient_id, cohort, modality, code, value, run_id
FROM feature_values
WHERE current;

CREATE VIEW cohorts AS
SELECT c.cohort, c.role, c.description,
       count(p.patient_id) AS n_patients,
       count(p.patient_id) FILTER (WHERE p.included) AS n_included
FROM cohort_registry c LEFT JOIN patient_registry p USING (cohort)
GROUP BY ALL;

-- Stromal TILs per patient (mean over readers) with the paper's categories: low <= 10 %, intermediate > 10-40 %, high > 40 %.
CREATE VIEW til AS
SELECT cohort, patient_id, avg(stromal_til_pct) AS stromal_til_pct, count(*) AS n_readings,
       CASE WHEN avg(stromal_til_pct) <= 10 THEN 'low'
            WHEN avg(stromal_til_pct) <= 40 THEN 'intermediate'
            ELSE 'high' END AS til_category
FROM til_readings
GROUP BY cohort, patient_id;
