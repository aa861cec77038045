-- Per-case failures of every run, newest first.
SELECT run_id, stage, cohort, case_id, error, file, recorded_at
FROM case_failures
ORDER BY recorded_at DESC;
