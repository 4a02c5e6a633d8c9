-- name: revenue_total
-- Non-void payments: sum and count, optionally in [start, end).
SELECT COALESCE(SUM(amount_paid), 0) AS total, COUNT(*) AS payments
FROM payments
WHERE voided_at IS NULL
  AND (:start IS NULL OR date_of_payment >= :start)
  AND (:end IS NULL OR date_of_payment < :end)

-- name: revenue_by_method
-- Non-void payments per method, optionally in [start, end).
SELECT payment_method, COALESCE(SUM(amount_paid), 0) AS total, COUNT(*) AS payments
FROM payments
WHERE voided_at IS NULL
  AND (:start IS NULL OR date_of_payment >= :start)
  AND (:end IS NULL OR date_of_payment < :end)
GROUP BY payment_method
ORDER BY total DESC, payment_method

-- name: revenue_by_month
-- Non-void payments per calendar month of payment (UTC), optionally in [start, end).
SELECT DATE_FORMAT(date_of_payment, '%Y-%m-01') AS month,
       COALESCE(SUM(amount_paid), 0) AS total, COUNT(*) AS payments
FROM payments
WHERE voided_at IS NULL
  AND (:start IS NULL OR date_of_payment >= :start)
  AND (:end IS NULL OR date_of_payment < :end)
GROUP BY month
ORDER BY month

-- name: outstanding_summary
-- Open bills: total owed, bill and customer counts, and ageing by days past due.
SELECT COALESCE(SUM(total_amount - amount_paid), 0) AS total,
       COUNT(*) AS bills,
       COUNT(DISTINCT customer_id) AS customers,
       COALESCE(SUM(IF(due_date >= :today, total_amount - amount_paid, 0)), 0) AS not_due,
       COALESCE(SUM(IF(due_date < :today AND DATEDIFF(:today, due_date) <= 30,
                       total_amount - amount_paid, 0)), 0) AS days_0_30,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) BETWEEN 31 AND 60,
                       total_amount - amount_paid, 0)), 0) AS days_31_60,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) BETWEEN 61 AND 90,
                       total_amount - amount_paid, 0)), 0) AS days_61_90,
       COALESCE(SUM(IF(DATEDIFF(:today, due_date) > 90,
                       total_amount - amount_paid, 0)), 0) AS days_over_90
FROM bills
WHERE payment_status IN ('unpaid', 'partial')

-- name: top_debtors
-- Customers who owe the most across their open bills.
SELECT c.customer_id, c.meter_number, c.full_name, d.owed, d.bills
FROM (
    SELECT customer_id, SUM(total_amount - amount_paid) AS owed, COUNT(*) AS bills
    FROM bills
    WHERE payment_status IN ('unpaid', 'partial')
    GROUP BY customer_id
    ORDER BY owed DESC, customer_id
    LIMIT :limit
) d
JOIN customers c ON c.customer_id = d.customer_id
ORDER BY d.owed DESC, c.customer_id

-- name: usage_trend
-- Per billing month in [start, end]: units, billed, collected.
SELECT billing_month, SUM(units_used) AS units, SUM(total_amount) AS billed,
       SUM(amount_paid) AS collected, COUNT(*) AS bills
FROM bills
WHERE billing_month BETWEEN :start AND :end
GROUP BY billing_month
ORDER BY billing_month
