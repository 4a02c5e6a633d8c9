-- name: claim_update
-- Take an update to handle, leased until :lease_us from now; 0 rows when an instance took it
-- already (domain/once.py).
INSERT IGNORE INTO processed_updates (update_id, claimed_at, claimed_by, lease_until)
VALUES (:update_id, UTC_TIMESTAMP(6), :claimed_by,
        UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND)

-- name: update_claim
-- Who holds an update's claim, whether it is finished, and whether its lease ran out.
SELECT claimed_by, finished_at IS NOT NULL AS finished,
       COALESCE(lease_until < UTC_TIMESTAMP(6), 1) AS lapsed
FROM processed_updates WHERE update_id = :update_id

-- name: take_over_update
-- Take the claim of an update its holder (:old_holder) left unfinished past its lease (its
-- instance died); 0 rows when another claimant took it over first, or it was finished or
-- renewed meanwhile.
UPDATE processed_updates
SET claimed_by = :claimed_by, claimed_at = UTC_TIMESTAMP(6),
    lease_until = UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND
WHERE update_id = :update_id AND claimed_by = :old_holder AND finished_at IS NULL
  AND (lease_until IS NULL OR lease_until < UTC_TIMESTAMP(6))

-- name: renew_update
-- Extend the lease of an update this instance holds and is still handling.
UPDATE processed_updates SET lease_until = UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND
WHERE update_id = :update_id AND claimed_by = :claimed_by AND finished_at IS NULL

-- name: finish_update
-- Mark an update this instance holds handled; 0 rows when another instance took it over.
UPDATE processed_updates SET finished_at = UTC_TIMESTAMP(6)
WHERE update_id = :update_id AND claimed_by = :claimed_by AND finished_at IS NULL

-- name: forget_old_updates
-- Drop the ids of updates taken before :before (Telegram no longer redelivers them).
DELETE FROM processed_updates WHERE claimed_at < :before

-- name: claim_job_run
-- Take a job's run for a period; 0 rows when the row is there already.
INSERT IGNORE INTO job_runs (job_name, period, claimed_by, claimed_at, lease_until)
VALUES (:job_name, :period, :claimed_by, UTC_TIMESTAMP(6),
        UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND)

-- name: take_over_job_run
-- Take a run whose instance stopped renewing its lease before finishing it; 0 rows when it
-- is finished, its lease still runs, or it has been tried :max_attempts times.
UPDATE job_runs
SET claimed_by = :claimed_by, claimed_at = UTC_TIMESTAMP(6),
    lease_until = UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND, attempts = attempts + 1
WHERE job_name = :job_name AND period = :period AND finished_at IS NULL
  AND lease_until < UTC_TIMESTAMP(6) AND attempts < :max_attempts

-- name: job_run_claimed_by
-- Who holds a job's run for a period, and whether it is finished.
SELECT claimed_by, finished_at FROM job_runs WHERE job_name = :job_name AND period = :period

-- name: renew_job_run
-- Extend the lease of a run this instance holds and has not finished.
UPDATE job_runs SET lease_until = UTC_TIMESTAMP(6) + INTERVAL :lease_us MICROSECOND
WHERE job_name = :job_name AND period = :period AND claimed_by = :claimed_by
  AND finished_at IS NULL

-- name: release_job_run
-- Give up a run that failed: its lease ends now, so the next check may take it over.
UPDATE job_runs SET lease_until = UTC_TIMESTAMP(6)
WHERE job_name = :job_name AND period = :period AND claimed_by = :claimed_by
  AND finished_at IS NULL

-- name: finish_job_run
-- Mark a run this instance holds finished; 0 rows when another instance took it over.
UPDATE job_runs SET finished_at = UTC_TIMESTAMP(6)
WHERE job_name = :job_name AND period = :period AND claimed_by = :claimed_by
  AND finished_at IS NULL

-- name: abandoned_job_runs
-- The runs of :period left unfinished by an instance whose lease ran out, retries left.
SELECT job_name FROM job_runs
WHERE period = :period AND finished_at IS NULL AND lease_until < UTC_TIMESTAMP(6)
  AND attempts < :max_attempts
ORDER BY job_name

-- name: forget_old_job_runs
-- Drop the job runs of periods before :before.
DELETE FROM job_runs WHERE period < :before
