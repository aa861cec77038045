-- Table 3: discrimination of TIL categories per model and category pair (AUC with DeLong CI,
-- Mann-Whitney P, Youden threshold with sensitivity, specificity and accuracy), newest run per row key.
CREATE OR REPLACE VIEW table3_classification AS
SELECT m.cohort, m.model, m.version, m.comparison, m.n_negative, m.n_positive, m.auc, m.auc_ci_low,
       m.auc_ci_high, m.p_value, m.threshold, m.threshold_source, m.sensitivity, m.specificity, m.accuracy
FROM classification_metrics m JOIN runs r USING (run_id)
QUALIFY row_number() OVER (PARTITION BY m.cohort, m.model, m.version, m.comparison ORDER BY r.started_at DESC) = 1
ORDER BY m.cohort, m.model, m.version,
         list_position(['low_vs_intermediate', 'low_vs_high', 'intermediate_vs_high'], m.comparison);
