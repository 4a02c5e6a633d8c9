-- Staff reports, read from the report totals of migration 0003 (kept with every write) rather
-- than by scanning every bill and payment. Shards are added up here.

-- name: revenue_lines
-- Non-void payments per method and UTC month of payment: the kept totals for the whole UTC
-- days in [:first_day, :last_day), the payments themselves for the part-days at the period's
-- edges, [:head_start, :head_end) and [:tail_start, :tail_end) (NULL bounds: none).
SELECT payment_method, month, SUM(amount) AS total, SUM(payments) AS payments
FROM (
    SELECT payment_method, DATE_FORMAT(payment_date, '%Y-%m-01') AS month, amount, payments
    FROM payment_totals
    WHERE (:first_day IS NULL OR payment_date >= :first_day)
      AND (:last_day IS NULL OR payment_date < :last_day)
    UNION ALL
    SELECT payment_method, DATE_FORMAT(date_of_payment, '%Y-%m-01'), amount_paid, 1
    FROM payments
    WHERE voided_at IS NULL
      AND ((date_of_payment >= :head_start AND date_of_payment < :head_end)
        OR (date_of_payment >= :tail_start AND date_of_payment < :tail_end))
) AS parts
GROUP BY payment_method, month

-- name: revenue_in_windows
-- Non-void payments in each window of the JSON array :windows of ["start", "end") pairs
-- (naive UTC; a few hours each, around the starts of local months), by the window's number
-- (1 on), read off ix_payments_date.
SELECT w.window_number AS `window`, SUM(p.amount_paid) AS total, COUNT(*) AS payments
FROM JSON_TABLE(:windows, '$[*]' COLUMNS (
         window_number FOR ORDINALITY,
         starts DATETIME(6) PATH '$[0]',
         ends DATETIME(6) PATH '$[1]'
     )) w
JOIN payments p ON p.date_of_payment >= w.starts AND p.date_of_payment < w.ends
WHERE p.voided_at IS NULL
GROUP BY w.window_number

-- name: outstanding_summary
-- Open bills: total owed, bill and customer counts, and ageing by days past due.
SELECT COALESCE(SUM(owed), 0) AS total,
       COALESCE(SUM(open_bills), 0) AS bills,
       (SELECT COUNT(*) FROM customer_balances WHERE owed > 0) AS customers,
       COALESCE(SUM(IF(due_date >= :today, owed, 0)), 0) AS not_due,
       COALESCE(SUM(IF(due_date < :today AND DATEDIFF(:today, due_date) <= 30, owed, 0)), 0)
           AS days_0_30,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) BETWEEN 31 AND 60, owed, 0)), 0)
           AS days_31_60,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) BETWEEN 61 AND 90, owed, 0)), 0)
           AS days_61_90,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) > 90, owed, 0)), 0) AS days_over_90
FROM bill_totals

-- name: top_debtors
-- Customers who owe the most across their open bills (a scan of the balances: one small row
-- per customer, ~10 ms at 100,000; migration 0004).
SELECT c.customer_id, c.meter_number, c.full_name, d.owed, d.open_bills AS bills
FROM (
    SELECT customer_id, owed, open_bills
    FROM customer_balances
    WHERE owed > 0
    ORDER BY owed DESC, customer_id
    LIMIT :limit
) d
JOIN customers c ON c.customer_id = d.customer_id
ORDER BY d.owed DESC, c.customer_id

-- name: usage_trend
-- Per billing month in [start, end]: units, billed, collected, bills.
SELECT billing_month, SUM(units_used) AS units, SUM(billed) AS billed,
       SUM(collected) AS collected, SUM(bills) AS bills
FROM bill_totals
WHERE billing_month BETWEEN :start AND :end
GROUP BY billing_month
HAVING SUM(bills) > 0
ORDER BY billing_month
