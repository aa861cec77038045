-- How many included patients have each modality's features, per cohort.
SELECT f.cohort, f.modality, count(DISTINCT f.code) AS features, count(DISTINCT f.patient_id) AS patients
FROM features f
JOIN patients p USING (cohort, patient_id)
WHERE p.included
GROUP BY ALL
ORDER BY ALL;
