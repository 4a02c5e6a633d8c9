-- depends: 0023_bulk_import_totals
-- Several bot instances on one database (issue 16): each update handled once, each daily
-- job run once per period (domain/once.py, docs/scaling.md).
--
--   * processed_updates: one row per Telegram update an instance took to handle, claimed
--     by an INSERT before any handler runs; Telegram's redelivery of the same update, at
--     this instance or another, finds the row and is dropped. claimed_by names the instance
--     and the claim (so a claim whose COMMIT answer was lost is known as its own when
--     retried). Rows older than two days go in the daily clean-up job: Telegram gives up
--     redelivering long before.
--   * job_runs: one row per (job, period) — the period is the local date in the utility's
--     time zone. The instance that inserts the row runs the job; the others skip it. While
--     it runs the instance renews lease_until; finished_at is set when the job is done. A
--     row found unfinished with its lease run out (its instance died half-way) is taken over
--     by another instance, which runs the job again (every job is safe to re-run) and
--     finishes it; attempts counts the runs, and caps the retries of a job that keeps failing.
CREATE TABLE processed_updates (
    update_id   BIGINT          NOT NULL,
    claimed_at  DATETIME(6)     NOT NULL,
    claimed_by  VARCHAR(100)    NOT NULL,
    PRIMARY KEY (update_id),
    KEY ix_processed_updates_claimed_at (claimed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE job_runs (
    job_name     VARCHAR(64)     NOT NULL,
    period       DATE            NOT NULL,
    claimed_by   VARCHAR(100)    NOT NULL,
    claimed_at   DATETIME(6)     NOT NULL,
    lease_until  DATETIME(6)     NOT NULL,
    finished_at  DATETIME(6)     NULL,
    attempts     INT UNSIGNED    NOT NULL DEFAULT 1,
    PRIMARY KEY (job_name, period),
    KEY ix_job_runs_unfinished (period, finished_at, lease_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
