-- depends: 0002_bill_reminders
-- Report totals kept in the same transactions as the writes (issue 6), so the staff reports
-- read a few hundred summary rows instead of scanning 1.2M bills and 1M payments.
--
-- Each row of bill_totals is split over 64 shards and each row of payment_totals over 16
-- (domain/report_totals.py BILL_SHARDS, PAYMENT_SHARDS): a transaction adds to the shard of
-- its database connection, so concurrent payments update different rows instead of queueing
-- on one hot row until each other's COMMIT. A report adds the shards up; the backfill below
-- and a recount spread the rows by bill id.
-- tests/test_domain_report_totals.py proves the totals always equal a recount.

-- Per billing month and due date: the trend report (units, billed, collected) and the
-- outstanding report's total and ageing (open bills and what is owed, by due date).
CREATE TABLE bill_totals (
    billing_month DATE              NOT NULL,
    due_date      DATE              NOT NULL,
    shard         TINYINT UNSIGNED  NOT NULL,
    bills         INT               NOT NULL DEFAULT 0,
    units_used    DECIMAL(20,2)     NOT NULL DEFAULT 0,
    billed        DECIMAL(20,2)     NOT NULL DEFAULT 0,
    collected     DECIMAL(20,2)     NOT NULL DEFAULT 0,
    open_bills    INT               NOT NULL DEFAULT 0,
    owed          DECIMAL(20,2)     NOT NULL DEFAULT 0,
    PRIMARY KEY (billing_month, due_date, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Per UTC day of payment and method: the revenue report (non-void payments only).
CREATE TABLE payment_totals (
    payment_date   DATE             NOT NULL,
    payment_method VARCHAR(32)      NOT NULL,
    shard          TINYINT UNSIGNED NOT NULL,
    payments       INT              NOT NULL DEFAULT 0,
    amount         DECIMAL(20,2)    NOT NULL DEFAULT 0,
    PRIMARY KEY (payment_date, payment_method, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Per customer: open bills and what they owe (top debtors, customers owing).
CREATE TABLE customer_balances (
    customer_id BIGINT UNSIGNED NOT NULL,
    open_bills  INT             NOT NULL DEFAULT 0,
    owed        DECIMAL(20,2)   NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id),
    -- top debtors: largest first, ties by customer, read straight off the index
    KEY ix_customer_balances_owed (owed DESC, customer_id),
    CONSTRAINT fk_customer_balances_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Backfill from what is already there (the same recount as report_totals.rebuild).
INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed, collected,
                         open_bills, owed)
SELECT billing_month, due_date, bill_id MOD 64, COUNT(*), SUM(units_used), SUM(total_amount),
       SUM(amount_paid), SUM(payment_status <> 'paid'), SUM(total_amount - amount_paid)
FROM bills
GROUP BY billing_month, due_date, bill_id MOD 64;

INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
SELECT DATE(date_of_payment), payment_method, bill_id MOD 16, COUNT(*), SUM(amount_paid)
FROM payments
WHERE voided_at IS NULL
GROUP BY DATE(date_of_payment), payment_method, bill_id MOD 16;

INSERT INTO customer_balances (customer_id, open_bills, owed)
SELECT customer_id, SUM(payment_status <> 'paid'), SUM(total_amount - amount_paid)
FROM bills
GROUP BY customer_id;
