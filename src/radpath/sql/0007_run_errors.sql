-- 0007_run_errors: a failed run keeps its reason. `run_log.error` holds the error text of a run that
-- ended 'failed' (the exception that stopped it) or 'partial' (how many cases failed, the first reason);
-- NULL for runs that succeeded or are still running. `radpath status` shows the last failed runs.
ALTER TABLE run_log ADD COLUMN error VARCHAR;

CREATE OR REPLACE VIEW runs AS
SELECT run_id, command, params_hash, params, versions, input_hashes, started_at, finished_at, status, error
FROM run_log;
