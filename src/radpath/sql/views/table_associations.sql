-- Univariate associations of features with TIL, TMB and CYT (Pearson r, Fisher-z CI, P, BH-FDR),
-- newest run per (cohort, modality, target), with the feature's name from Table 1.
CREATE OR REPLACE VIEW table_associations AS
SELECT a.cohort, a.modality, a.code, d.name, a.target, a.n, a.r, a.ci_low, a.ci_high, a.p_value, a.fdr, a.significant
FROM feature_associations a
LEFT JOIN feature_defs d USING (code)
WHERE a.run_id = (SELECT b.run_id FROM feature_associations b JOIN runs r USING (run_id)
                  WHERE b.cohort = a.cohort AND b.modality = a.modality AND b.target = a.target
                  ORDER BY r.started_at DESC LIMIT 1)
ORDER BY a.cohort, a.target, a.p_value;
