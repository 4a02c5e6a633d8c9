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
--     fee period), so a fee can be charged once; batch names the transaction that staged
--     it (its later statements pick their rows by it); notified_at is set when the
--     customer's notice is claimed.
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
    -- the bill as the fee was worked out on it (a bill changed before it was locked is
    -- left for the next run)
    due_date     DATE            NOT NULL,
    version_id   BIGINT UNSIGNED NOT NULL,
    total_before DECIMAL(12,2)   NOT NULL,
    overdue      DECIMAL(12,2)   NOT NULL,
    percent      DECIMAL(5,2)    NULL,
    amount       DECIMAL(12,2)   NOT NULL,
    batch        BIGINT UNSIGNED NOT NULL,
    notified_at  DATETIME(6)     NULL,
    PRIMARY KEY (batch, bill_id),
    UNIQUE KEY uq_late_fee_charges_fee (bill_id, fee_period),
    KEY ix_late_fee_charges_run (run_date, notified_at),
    CONSTRAINT fk_late_fee_charges_run FOREIGN KEY (run_date) REFERENCES late_fee_runs (run_date),
    CONSTRAINT fk_late_fee_charges_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT ck_late_fee_charges_amount CHECK (amount > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The late-fee run moves many bills' totals at once: the report totals and balances of its
-- fees are moved by one GROUP BY statement per table (domain/ledger.py) instead of two
-- upserts per bill in this trigger (docs/benchmarks.md, Late fees). The trigger leaves a
-- row to the run only when the session names the run's batch (@ebb_late_fee_batch) and
-- the change is exactly that batch's fee on that bill: the total up by the staged amount,
-- nothing else of the figures moved, the bill open before and after. No other write can
-- look like that (the customer account cannot change a total at all), so every other
-- change, in any session, moves the totals here as before.
DROP TRIGGER bills_after_update;

CREATE TRIGGER bills_after_update AFTER UPDATE ON bills FOR EACH ROW
BEGIN
    DECLARE was_open, is_open INT;
    DECLARE by_late_fee_run BOOLEAN DEFAULT FALSE;
    SET was_open = OLD.payment_status <> 'paid', is_open = NEW.payment_status <> 'paid';
    IF @ebb_late_fee_batch IS NOT NULL AND was_open = 1 AND is_open = 1
       AND NEW.amount_paid = OLD.amount_paid AND NEW.units_used = OLD.units_used
       AND NEW.billing_month = OLD.billing_month AND NEW.due_date = OLD.due_date THEN
        SET by_late_fee_run = COALESCE(
            (SELECT c.amount = NEW.total_amount - OLD.total_amount
             FROM late_fee_charges c
             WHERE c.batch = @ebb_late_fee_batch AND c.bill_id = NEW.bill_id), FALSE);
    END IF;
    IF NOT by_late_fee_run THEN
        IF NEW.billing_month = OLD.billing_month AND NEW.due_date = OLD.due_date THEN
            IF NEW.units_used <> OLD.units_used OR NEW.total_amount <> OLD.total_amount
               OR NEW.amount_paid <> OLD.amount_paid OR is_open <> was_open THEN
                INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used,
                                         billed, collected, open_bills, owed)
                VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 0,
                        NEW.units_used - OLD.units_used, NEW.total_amount - OLD.total_amount,
                        NEW.amount_paid - OLD.amount_paid, is_open - was_open,
                        (NEW.total_amount - NEW.amount_paid)
                        - (OLD.total_amount - OLD.amount_paid))
                ON DUPLICATE KEY UPDATE
                    units_used = units_used + (NEW.units_used - OLD.units_used),
                    billed = billed + (NEW.total_amount - OLD.total_amount),
                    collected = collected + (NEW.amount_paid - OLD.amount_paid),
                    open_bills = open_bills + (is_open - was_open),
                    owed = owed + ((NEW.total_amount - NEW.amount_paid)
                                   - (OLD.total_amount - OLD.amount_paid));
            END IF;
        ELSE
            -- The bill moved to another month or due date: out of the old row, into the new.
            INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                     collected, open_bills, owed)
            VALUES (OLD.billing_month, OLD.due_date, CONNECTION_ID() MOD 64, -1,
                    -OLD.units_used, -OLD.total_amount, -OLD.amount_paid, -was_open,
                    -(OLD.total_amount - OLD.amount_paid))
            ON DUPLICATE KEY UPDATE bills = bills - 1,
                                    units_used = units_used - OLD.units_used,
                                    billed = billed - OLD.total_amount,
                                    collected = collected - OLD.amount_paid,
                                    open_bills = open_bills - was_open,
                                    owed = owed - (OLD.total_amount - OLD.amount_paid);
            INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                     collected, open_bills, owed)
            VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 1, NEW.units_used,
                    NEW.total_amount, NEW.amount_paid, is_open,
                    NEW.total_amount - NEW.amount_paid)
            ON DUPLICATE KEY UPDATE bills = bills + 1,
                                    units_used = units_used + NEW.units_used,
                                    billed = billed + NEW.total_amount,
                                    collected = collected + NEW.amount_paid,
                                    open_bills = open_bills + is_open,
                                    owed = owed + (NEW.total_amount - NEW.amount_paid);
        END IF;
        IF is_open <> was_open
           OR (NEW.total_amount - NEW.amount_paid) <> (OLD.total_amount - OLD.amount_paid) THEN
            INSERT INTO customer_balances (customer_id, open_bills, owed)
            VALUES (NEW.customer_id, is_open - was_open,
                    (NEW.total_amount - NEW.amount_paid) - (OLD.total_amount - OLD.amount_paid))
            ON DUPLICATE KEY UPDATE
                open_bills = open_bills + (is_open - was_open),
                owed = owed + ((NEW.total_amount - NEW.amount_paid)
                               - (OLD.total_amount - OLD.amount_paid));
        END IF;
    END IF;
END;
