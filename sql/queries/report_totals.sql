-- Report totals (migration 0003): moved by migration 0005's triggers in every statement that
-- writes bills and payments, read by the reports; compared with the rows and repaired by a
-- recount (domain/report_totals.py rebuild), rebuilt from scratch after a bulk load.

-- name: clear_bill_totals
-- Forget the bill totals (before a rebuild).
DELETE FROM bill_totals

-- name: clear_payment_totals
-- Forget the payment totals (before a rebuild).
DELETE FROM payment_totals

-- name: clear_customer_balances
-- Forget the customer balances (before a rebuild).
DELETE FROM customer_balances

-- name: rebuild_bill_totals
-- Recount the bill totals from the bills (after a bulk load; migration 0003's backfill).
INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed, collected,
                         open_bills, owed)
SELECT billing_month, due_date, bill_id MOD :bill_shards, COUNT(*), SUM(units_used),
       SUM(total_amount), SUM(amount_paid), SUM(payment_status <> 'paid'),
       SUM(total_amount - amount_paid)
FROM bills
GROUP BY billing_month, due_date, bill_id MOD :bill_shards

-- name: rebuild_payment_totals
-- Recount the payment totals from the non-void payments.
INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
SELECT DATE(date_of_payment), payment_method, bill_id MOD :payment_shards, COUNT(*),
       SUM(amount_paid)
FROM payments
WHERE voided_at IS NULL
GROUP BY DATE(date_of_payment), payment_method, bill_id MOD :payment_shards

-- name: rebuild_customer_balances
-- Recount every customer's open bills and amount owed.
INSERT INTO customer_balances (customer_id, open_bills, owed)
SELECT customer_id, SUM(payment_status <> 'paid'), SUM(total_amount - amount_paid)
FROM bills
GROUP BY customer_id

-- name: bill_totals_drift
-- The bill totals per billing month and due date that differ from a count of the bills
-- themselves, kept and counted side by side. One statement, so both sides are read at the
-- same moment (READ COMMITTED: a statement's own snapshot) and a payment committing meanwhile
-- is in both or in neither.
SELECT billing_month, due_date,
       SUM(IF(kept, bills, 0)) AS kept_bills, SUM(IF(kept, 0, bills)) AS counted_bills,
       SUM(IF(kept, units_used, 0)) AS kept_units_used,
       SUM(IF(kept, 0, units_used)) AS counted_units_used,
       SUM(IF(kept, billed, 0)) AS kept_billed, SUM(IF(kept, 0, billed)) AS counted_billed,
       SUM(IF(kept, collected, 0)) AS kept_collected,
       SUM(IF(kept, 0, collected)) AS counted_collected,
       SUM(IF(kept, open_bills, 0)) AS kept_open_bills,
       SUM(IF(kept, 0, open_bills)) AS counted_open_bills,
       SUM(IF(kept, owed, 0)) AS kept_owed, SUM(IF(kept, 0, owed)) AS counted_owed
FROM (
    SELECT billing_month, due_date, 1 AS kept, SUM(bills) AS bills,
           SUM(units_used) AS units_used, SUM(billed) AS billed, SUM(collected) AS collected,
           SUM(open_bills) AS open_bills, SUM(owed) AS owed
    FROM bill_totals
    GROUP BY billing_month, due_date
    UNION ALL
    SELECT billing_month, due_date, 0, COUNT(*), SUM(units_used), SUM(total_amount),
           SUM(amount_paid), SUM(payment_status <> 'paid'), SUM(total_amount - amount_paid)
    FROM bills
    GROUP BY billing_month, due_date
) AS sides
GROUP BY billing_month, due_date
HAVING kept_bills <> counted_bills OR kept_units_used <> counted_units_used
    OR kept_billed <> counted_billed OR kept_collected <> counted_collected
    OR kept_open_bills <> counted_open_bills OR kept_owed <> counted_owed
ORDER BY billing_month, due_date

-- name: payment_totals_drift
-- The payment totals per UTC day and method that differ from a count of the non-void
-- payments themselves, kept and counted side by side (one statement, as above).
SELECT payment_date, payment_method,
       SUM(IF(kept, payments, 0)) AS kept_payments,
       SUM(IF(kept, 0, payments)) AS counted_payments,
       SUM(IF(kept, amount, 0)) AS kept_amount, SUM(IF(kept, 0, amount)) AS counted_amount
FROM (
    SELECT payment_date, payment_method, 1 AS kept, SUM(payments) AS payments,
           SUM(amount) AS amount
    FROM payment_totals
    GROUP BY payment_date, payment_method
    UNION ALL
    SELECT DATE(date_of_payment), payment_method, 0, COUNT(*), SUM(amount_paid)
    FROM payments
    WHERE voided_at IS NULL
    GROUP BY DATE(date_of_payment), payment_method
) AS sides
GROUP BY payment_date, payment_method
HAVING kept_payments <> counted_payments OR kept_amount <> counted_amount
ORDER BY payment_date, payment_method

-- name: customer_balances_drift
-- The customer balances that differ from a count of each customer's open bills, kept and
-- counted side by side (one statement, as above).
SELECT customer_id,
       SUM(IF(kept, open_bills, 0)) AS kept_open_bills,
       SUM(IF(kept, 0, open_bills)) AS counted_open_bills,
       SUM(IF(kept, owed, 0)) AS kept_owed, SUM(IF(kept, 0, owed)) AS counted_owed
FROM (
    SELECT customer_id, 1 AS kept, open_bills, owed
    FROM customer_balances
    UNION ALL
    SELECT customer_id, 0, COUNT(*), SUM(total_amount - amount_paid)
    FROM bills
    WHERE payment_status <> 'paid'
    GROUP BY customer_id
) AS sides
GROUP BY customer_id
HAVING kept_open_bills <> counted_open_bills OR kept_owed <> counted_owed
ORDER BY customer_id

-- name: take_recount_turn
-- Start a recount: wait for any other recount to commit (its repairs must be counted before
-- this one counts), and note the time (migration 0010).
INSERT INTO totals_recount (recount_id, recounted_at) VALUES (1, UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE recounted_at = VALUES(recounted_at)

-- name: repair_bill_totals
-- Add what a recount found missing (or take off what it found too much) to the bill totals,
-- in the repair shard, which no trigger writes (domain/report_totals.py).
INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed, collected,
                         open_bills, owed)
VALUES (:billing_month, :due_date, :shard, :bills, :units_used, :billed, :collected,
        :open_bills, :owed)
ON DUPLICATE KEY UPDATE bills = bills + VALUES(bills),
                        units_used = units_used + VALUES(units_used),
                        billed = billed + VALUES(billed),
                        collected = collected + VALUES(collected),
                        open_bills = open_bills + VALUES(open_bills),
                        owed = owed + VALUES(owed)

-- name: repair_payment_totals
-- The same for the payment totals.
INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
VALUES (:payment_date, :payment_method, :shard, :payments, :amount)
ON DUPLICATE KEY UPDATE payments = payments + VALUES(payments),
                        amount = amount + VALUES(amount)

-- name: repair_customer_balances
-- The same for customers' balances (one row each: a payment of that customer's may wait for
-- the repair's COMMIT).
INSERT INTO customer_balances (customer_id, open_bills, owed)
VALUES (:customer_id, :open_bills, :owed)
ON DUPLICATE KEY UPDATE open_bills = open_bills + VALUES(open_bills),
                        owed = owed + VALUES(owed)
