-- depends: 0017_tariffs_readings_bill_lines
-- Monthly bill runs (issue 15 §3, /billrun): every customer without a bill for a month gets
-- one from that month's reading (estimated where there is none), set-based, a chunk of
-- customers per transaction (domain/billrun.py, domain/ledger.py).
--
--   * one row per billing month: the run that holds the month's turn (its audit entry, which
--     each of its bills names in bills.import_audit_id, as a CSV import's do), who started it,
--     and its heartbeat. A run takes the row (an upsert: it need not exist yet) and keeps it
--     while it works; every chunk locks the row first and checks the turn is still its own,
--     so two runs of one month never write at once; a run that died (no heartbeat for a
--     while) loses its turn to the next. UNIQUE(customer_id, billing_month) on bills is the
--     last word either way: a customer is billed once per month whoever else issues bills.
CREATE TABLE bill_runs (
    billing_month  DATE            NOT NULL,
    run_audit_id   BIGINT UNSIGNED NULL,
    admin_id       BIGINT UNSIGNED NULL,
    started_at     DATETIME(6)     NULL,
    heartbeat_at   DATETIME(6)     NULL,
    finished_at    DATETIME(6)     NULL,
    PRIMARY KEY (billing_month),
    CONSTRAINT fk_bill_runs_admin FOREIGN KEY (admin_id) REFERENCES admins (admin_id),
    CONSTRAINT ck_bill_runs_month CHECK (DAYOFMONTH(billing_month) = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
