-- Included patients by cohort, subtype and TIL category (the counts behind the paper's Table 2).
SELECT p.cohort, coalesce(c.subtype, 'unknown') AS subtype, coalesce(t.til_category, 'no reading') AS til_category,
       count(*) AS n
FROM patients p
JOIN clinical c USING (cohort, patient_id)
LEFT JOIN til t USING (cohort, patient_id)
WHERE p.included
GROUP BY ALL
ORDER BY ALL;
