-- Inclusion flow of every cohort (paper Figure S1): patients left after each criterion.
SELECT cohort, step, criterion, n_before, n_excluded, n_after
FROM inclusion_flow
ORDER BY cohort, step;
