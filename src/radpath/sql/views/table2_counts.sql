-- Table 2 counts: included patients by attribute level and TIL category (long format).
CREATE OR REPLACE VIEW table2_counts AS
SELECT cohort, attribute, coalesce(level, 'unknown') AS level, til_category, count(*) AS n
FROM (
    UNPIVOT (SELECT cohort, patient_id, til_category, t_stage, n_stage, m_stage, stage, histology, er, pr, her2,
                    subtype, pam50 FROM table2_patients)
    ON t_stage, n_stage, m_stage, stage, histology, er, pr, her2, subtype, pam50
    INTO NAME attribute VALUE level
)
GROUP BY ALL
ORDER BY ALL;
