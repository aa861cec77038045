-- Table 4: univariate (Pearson r of each term with TIL, in column r) and multivariable (adjusted) / final OLS
-- (coefficient in column coef) analysis of TIL, with 95 % CI and P, per term of each fitted model version.
-- model_terms stores a univariate r in its coef column; this view moves it to r so no column means two things.
CREATE OR REPLACE VIEW table4_multivariable AS
SELECT t.model, t.version, mo.kind, mo.cohort, t.fit, t.term,
       CASE WHEN t.fit = 'univariate' THEN t.coef END AS r,
       CASE WHEN t.fit <> 'univariate' THEN t.coef END AS coef,
       t.se, t.ci_low, t.ci_high, t.p_value, t.n, t.r2
FROM model_terms t JOIN models mo ON mo.name = t.model AND mo.version = t.version
ORDER BY mo.created_at, t.model, t.version, t.fit, t.term = 'intercept', t.term;
