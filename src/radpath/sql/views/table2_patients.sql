-- Table 2 input: included patients of each cohort with their TIL category and clinical attributes
-- (one row per patient). radpath.report.tables adds counts, row percentages, Fisher and Kruskal-Wallis P.
CREATE OR REPLACE VIEW table2_patients AS
SELECT p.cohort, p.patient_id, t.stromal_til_pct, t.til_category,
       c.age, c.t_stage, c.n_stage, c.m_stage, c.stage, c.histology, c.er, c.pr, c.her2, c.subtype, c.pam50
FROM patients p
JOIN clinical c USING (cohort, patient_id)
JOIN til t USING (cohort, patient_id)
WHERE p.included;
