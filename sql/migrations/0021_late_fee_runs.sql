-- depends: 0017_tariffs_readings_bill_lines
-- The daily late-fee run (issue 15 §4): a record of each day's run and of every fee it
-- charged, so the run is safe to repeat and to resume after a restart, and each customer is
-- told of their fee once.
--
--   * late_fee_runs: one row per local day the run was started; finished_at is set when
--     every bill has been looked at (a run found unfinished is resumed, one found finished
--     does nothing);
--   * late_fee_charges: one row per fee a run charged, written in the transaction that
--     writes the fee's bill line, moves the bill and writes its audit entry
--     (domain/ledger.py, "Late fees, set-based"). Its key is the fee line's own (bill,
--     fee period), so a fee can be charged once; line_id is set last in that transaction,
--     which marks the row as done; notified_at is set when the customer's notice is claimed.
--     What a fee was charged on (the bill's total and what was owed) is kept for the audit
--     and the notice.

CREATE TABLE late_fee_runs (
    run_date    DATE            NOT NULL,
    started_at  DATETIME(6)     NOT NULL,
    finished_at DATETIME(6)     NULL,
    fees        INT             NOT NULL DEFAULT 0,
    amount      DECIMAL(20,2)   NOT NULL DEFAULT 0,
    PRIMARY KEY (run_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE late_fee_charges (
    bill_id      BIGINT UNSIGNED NOT NULL,
    fee_period   DATE            NOT NULL,
    run_date     DATE            NOT NULL,
    customer_id  BIGINT UNSIGNED NOT NULL,
    total_before DECIMAL(12,2)   NOT NULL,
    overdue      DECIMAL(12,2)   NOT NULL,
    percent      DECIMAL(5,2)    NULL,
    amount       DECIMAL(12,2)   NOT NULL,
    line_id      BIGINT UNSIGNED NULL,
    notified_at  DATETIME(6)     NULL,
    PRIMARY KEY (bill_id, fee_period),
    KEY ix_late_fee_charges_run (run_date, notified_at),
    CONSTRAINT fk_late_fee_charges_run FOREIGN KEY (run_date) REFERENCES late_fee_runs (run_date),
    CONSTRAINT fk_late_fee_charges_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT fk_late_fee_charges_line FOREIGN KEY (line_id) REFERENCES bill_lines (line_id),
    CONSTRAINT ck_late_fee_charges_amount CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
