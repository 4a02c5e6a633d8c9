-- Report totals (migration 0003): moved by migration 0005's triggers in every statement that
-- writes bills and payments, read by the reports, recounted by the tests and by a rebuild.

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

-- name: kept_bill_totals
-- The kept bill totals per billing month and due date (shards added up).
SELECT billing_month, due_date, SUM(bills) AS bills, SUM(units_used) AS units_used,
       SUM(billed) AS billed, SUM(collected) AS collected, SUM(open_bills) AS open_bills,
       SUM(owed) AS owed
FROM bill_totals
GROUP BY billing_month, due_date

-- name: recount_bill_totals
-- The same figures counted from the bills themselves.
SELECT billing_month, due_date, COUNT(*) AS bills, SUM(units_used) AS units_used,
       SUM(total_amount) AS billed, SUM(amount_paid) AS collected,
       SUM(payment_status <> 'paid') AS open_bills, SUM(total_amount - amount_paid) AS owed
FROM bills
GROUP BY billing_month, due_date

-- name: kept_payment_totals
-- The kept payment totals per UTC day and method (shards added up).
SELECT payment_date, payment_method, SUM(payments) AS payments, SUM(amount) AS amount
FROM payment_totals
GROUP BY payment_date, payment_method

-- name: recount_payment_totals
-- The same figures counted from the non-void payments themselves.
SELECT DATE(date_of_payment) AS payment_date, payment_method, COUNT(*) AS payments,
       SUM(amount_paid) AS amount
FROM payments
WHERE voided_at IS NULL
GROUP BY DATE(date_of_payment), payment_method

-- name: kept_customer_balances
-- The kept balances of customers who owe something (or whose row is not back to zero).
SELECT customer_id, open_bills, owed FROM customer_balances
WHERE open_bills <> 0 OR owed <> 0

-- name: recount_customer_balances
-- The same figures counted from the open bills themselves.
SELECT customer_id, COUNT(*) AS open_bills, SUM(total_amount - amount_paid) AS owed
FROM bills
WHERE payment_status <> 'paid'
GROUP BY customer_id
