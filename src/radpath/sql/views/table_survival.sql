-- Survival results per subgroup (log-rank, Cox HR, C-index, KM medians ...), newest run per analysis.
CREATE OR REPLACE VIEW table_survival AS
SELECT s.cohort, s.model, s.version, s.endpoint, s.grouping, s.subgroup, s.statistic, s.term, s.estimate,
       s.ci_lower, s.ci_upper, s.df, s.p_value, s.n, s.n_events, s.estimable, s.note
FROM survival_results s
WHERE s.run_id = (SELECT x.run_id FROM survival_results x JOIN runs r USING (run_id)
                  WHERE x.cohort = s.cohort AND x.model = s.model AND x.version = s.version
                    AND x.endpoint = s.endpoint AND x.grouping = s.grouping
                  ORDER BY r.started_at DESC LIMIT 1)
ORDER BY s.cohort, s.model, s.endpoint, s.grouping, s.subgroup = 'all' DESC, s.subgroup, s.statistic, s.term;
