-- 0004_genomics: expression samples, cytolytic activity, mutation burden and ComBat parameters
-- written by `radpath cytolytic` (radpath.genomics.pipeline). Per-patient scores also go to `features`
-- (modality 'genomics': GZMA, PRF1, CYT, CYT_log2, TMB, TMB_count). Every row carries the run_id.

-- Every expression or MAF sample seen, with the one-sample-per-patient decision (radpath.genomics.samples).
CREATE TABLE genomics_samples (
    cohort       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,     -- expression | mutations
    sample_id    VARCHAR NOT NULL,     -- TCGA sample/aliquot barcode, GEO GSM accession or matrix column
    patient_id   VARCHAR,              -- NULL when the sample carries no patient id
    file         VARCHAR,              -- file the sample's values come from
    sample_type  VARCHAR,              -- primary tumour | tumour | normal | control | unknown (non-TCGA ids)
    selected     BOOLEAN NOT NULL,     -- the sample used for the patient
    in_cohort    BOOLEAN NOT NULL,     -- the patient is listed in the cohort's clinical table
    note         VARCHAR,              -- why a sample was not used, or how it was chosen
    run_id       VARCHAR NOT NULL
);

-- Cytolytic activity per patient. `scale` is the scale of gzma/prf1/cyt: 'linear' (TPM; CYT = geometric
-- mean of TPM + 0.01) or 'log2' (CYT = mean of log2 values). cyt_log2 is log2 CYT on either scale.
-- harmonized: values after ComBat (then scale is 'log2' on the reference batch's log2 scale).
CREATE TABLE cytolytic_scores (
    cohort           VARCHAR NOT NULL,
    patient_id       VARCHAR NOT NULL,
    sample_id        VARCHAR NOT NULL,
    platform         VARCHAR,          -- manifest `expression.platform`
    scale            VARCHAR NOT NULL, -- linear | log2
    gzma             DOUBLE NOT NULL,
    prf1             DOUBLE NOT NULL,
    cyt              DOUBLE NOT NULL,  -- on `scale`
    cyt_log2         DOUBLE NOT NULL,
    cyt_linear       DOUBLE NOT NULL,  -- 2^cyt_log2: the value written to features as CYT
    harmonized       BOOLEAN NOT NULL,
    reference_batch  VARCHAR,          -- ComBat reference cohort (NULL: none or not harmonised)
    run_id           VARCHAR NOT NULL
);

-- Nonsynonymous somatic mutation burden per patient (radpath.genomics.tmb.NONSYNONYMOUS).
CREATE TABLE mutation_burden (
    cohort         VARCHAR NOT NULL,
    patient_id     VARCHAR NOT NULL,
    sample_id      VARCHAR NOT NULL,   -- Tumor_Sample_Barcode used
    n_mutations    INTEGER NOT NULL,   -- all MAF rows of that sample
    tmb_count      INTEGER NOT NULL,   -- nonsynonymous somatic mutations
    tmb_per_mb     DOUBLE NOT NULL,    -- tmb_count / exome_size_mb
    exome_size_mb  DOUBLE NOT NULL,
    run_id         VARCHAR NOT NULL
);

-- Fitted ComBat parameters, one row per (run, batch, gene), so new samples of a batch can be adjusted later:
-- adjusted = ((x - grand_mean - X beta) / sqrt(var_pooled) - gamma_star) / sqrt(delta_star) * sqrt(var_pooled)
--            + grand_mean + X beta. Batches are cohorts; the reference batch has gamma_star 0, delta_star 1.
CREATE TABLE combat_parameters (
    run_id           VARCHAR NOT NULL,
    batch            VARCHAR NOT NULL,
    gene             VARCHAR NOT NULL,
    gamma_hat        DOUBLE NOT NULL,
    delta_hat        DOUBLE NOT NULL,
    gamma_star       DOUBLE NOT NULL,
    delta_star       DOUBLE NOT NULL,
    grand_mean       DOUBLE NOT NULL,
    var_pooled       DOUBLE NOT NULL,
    reference_batch  VARCHAR
);

-- Per-gene covariate coefficients of a ComBat fit (empty without covariates).
CREATE TABLE combat_covariates (
    run_id     VARCHAR NOT NULL,
    gene       VARCHAR NOT NULL,
    term       VARCHAR NOT NULL,       -- covariate=level (categorical) or covariate (numeric)
    beta       DOUBLE NOT NULL
);

-- Public view: genomics feature values of the newest run (as in `features`).
CREATE VIEW genomics_feature_values AS
SELECT patient_id, cohort, code, value, run_id FROM features WHERE modality = 'genomics';
