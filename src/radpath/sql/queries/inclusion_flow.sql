-- Inclusion flow of every cohort (paper Figure S1): patients left after each criterion, and why the others were
-- excluded.
SELECT cohort, step, criterion, n_before, n_excluded, n_after, exclusion_reason
FROM inclusion_flow
ORDER BY cohort, step;
