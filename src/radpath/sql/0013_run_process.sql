-- 0013_run_process: which process a run belongs to, so that a run whose process is gone (killed by SIGKILL, a
-- power cut, an out-of-memory kill) is marked 'interrupted' instead of staying 'running' forever.
-- `pid` and `host` say where it ran; `process_started` is the process's start time as the kernel gives it
-- (Linux: boot id and start tick), so that a later process with the same pid is not taken for the run's own.
-- Every write-open of the warehouse marks the gone ones (`radpath.warehouse.runs.mark_interrupted`).
ALTER TABLE run_log ADD COLUMN pid INTEGER;
ALTER TABLE run_log ADD COLUMN host VARCHAR;
ALTER TABLE run_log ADD COLUMN process_started VARCHAR;

-- Runs left 'running' before this migration have no process recorded; the process applying it holds the only
-- write lock, so none of them can still be writing.
UPDATE run_log SET status = 'interrupted',
    error = 'interrupted: the process ended without finishing the run (killed, or the machine stopped)'
WHERE status = 'running';

CREATE OR REPLACE VIEW runs AS
SELECT run_id, command, params_hash, params, versions, input_hashes, started_at, finished_at, status, error, pid, host
FROM run_log;
