-- Table 4: univariate (signature's final OLS, composite) and multivariable (adjusted) analysis of TIL:
-- coefficient, SE, 95 % CI and P per term of each fitted model version.
CREATE OR REPLACE VIEW table4_multivariable AS
SELECT t.model, t.version, mo.kind, mo.cohort, t.fit, t.term, t.coef, t.se, t.ci_low, t.ci_high, t.p_value, t.n, t.r2
FROM model_terms t JOIN models mo ON mo.name = t.model AND mo.version = t.version
ORDER BY mo.created_at, t.model, t.version, t.fit, t.term = 'intercept', t.term;
