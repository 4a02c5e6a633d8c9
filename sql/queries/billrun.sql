-- Monthly bill runs (domain/billrun.py): the month's turn, estimated readings, what a run
-- reports. The bills and their lines are written by the ledger (ledger.sql, "Bill runs").

-- name: billrun_customer_span
-- The lowest and highest customer id: a run walks the customers in chunks of ids.
SELECT COALESCE(MIN(customer_id), 0) AS first_customer,
       COALESCE(MAX(customer_id), 0) AS last_customer
FROM customers

-- name: billrun_take_turn
-- Make sure the month has its row, and lock it (an upsert: the row need not exist yet).
INSERT INTO bill_runs (billing_month) VALUES (:billing_month)
ON DUPLICATE KEY UPDATE billing_month = VALUES(billing_month)

-- name: billrun_turn
-- The run holding the month's turn, locked until the transaction ends.
SELECT run_audit_id, started_at, heartbeat_at, finished_at
FROM bill_runs WHERE billing_month = :billing_month FOR UPDATE

-- name: billrun_claim_turn
-- Give the month's turn to run :run_id.
UPDATE bill_runs
SET run_audit_id = :run_id, admin_id = :admin_id, started_at = :now, heartbeat_at = :now,
    finished_at = NULL
WHERE billing_month = :billing_month

-- name: billrun_heartbeat
-- Run :run_id is still working (a chunk committed).
UPDATE bill_runs SET heartbeat_at = :now
WHERE billing_month = :billing_month AND run_audit_id = :run_id

-- name: billrun_finish_turn
-- Run :run_id has finished: the month's turn is free.
UPDATE bill_runs SET heartbeat_at = :now, finished_at = :now
WHERE billing_month = :billing_month AND run_audit_id = :run_id

-- name: billrun_estimate_readings
-- An estimated reading for :billing_month for each customer :first_customer..:last_customer
-- with no bill and no reading for it: the previous reading plus the average units of their
-- last three bills (to the cent, half up), rolled over past the register's end. Customers
-- with no previous reading or no earlier bill get none (the run reports them).
INSERT INTO meter_readings (customer_id, billing_month, reading, source, status)
SELECT e.customer_id, :billing_month,
       MOD(e.previous_reading + e.average_units, e.register_size), 'estimate', 'accepted'
FROM (
    SELECT c.customer_id,
           CAST(POWER(10, c.meter_digits) AS DECIMAL(12,0)) AS register_size,
           COALESCE(
               (SELECT pr.reading FROM meter_readings pr
                WHERE pr.customer_id = c.customer_id
                  AND pr.billing_month < :billing_month AND pr.status = 'accepted'
                ORDER BY pr.billing_month DESC LIMIT 1),
               (SELECT pb.current_reading FROM bills pb
                WHERE pb.customer_id = c.customer_id AND pb.billing_month < :billing_month
                ORDER BY pb.billing_month DESC LIMIT 1)) AS previous_reading,
           (SELECT ROUND(AVG(h.units_used), 2) FROM bills h
            WHERE h.customer_id = c.customer_id AND h.billing_month < :billing_month
              AND h.billing_month >= COALESCE(
                  (SELECT h3.billing_month FROM bills h3
                   WHERE h3.customer_id = c.customer_id AND h3.billing_month < :billing_month
                   ORDER BY h3.billing_month DESC LIMIT 2, 1), '1000-01-01')) AS average_units
    -- The customers who need an estimate, found first (GROUP BY keeps this derived table
    -- from being merged, so the look-ups above run for them alone, not for the whole chunk).
    FROM (
        SELECT k.customer_id, k.meter_digits
        FROM customers k
        WHERE k.customer_id BETWEEN :first_customer AND :last_customer
          AND NOT EXISTS (SELECT 1 FROM bills x
                          WHERE x.customer_id = k.customer_id
                            AND x.billing_month = :billing_month)
          AND NOT EXISTS (SELECT 1 FROM meter_readings r
                          WHERE r.customer_id = k.customer_id
                            AND r.billing_month = :billing_month)
        GROUP BY k.customer_id, k.meter_digits
    ) c
) e
WHERE e.previous_reading IS NOT NULL AND e.average_units IS NOT NULL

-- name: billrun_over_estimates
-- Customers :first_customer..:last_customer still without a bill for :billing_month whose
-- accepted actual reading for it is below the estimate of the month before (too much was
-- estimated), with that month's estimated bill, which ends at the estimate: the bill, the
-- estimate, the actual reading and the units from the bill's own previous reading to it,
-- and who to tell (a customer with a Telegram account). Only when the actual reading is not
-- below that previous reading too (else it is a rollover or something staff must look at).
SELECT b.bill_id, e.reading_id AS estimate_id, r.reading, r.reading - b.previous_reading AS units,
       c.telegram_user_id, c.full_name, c.meter_number
FROM (
    -- One row per customer; MAX() so a server with ONLY_FULL_GROUP_BY takes it too.
    SELECT k.customer_id, MAX(k.telegram_user_id) AS telegram_user_id,
           MAX(k.full_name) AS full_name, MAX(k.meter_number) AS meter_number
    FROM customers k
    WHERE k.customer_id BETWEEN :first_customer AND :last_customer
      AND NOT EXISTS (SELECT 1 FROM bills x
                      WHERE x.customer_id = k.customer_id AND x.billing_month = :billing_month)
    GROUP BY k.customer_id
) c
JOIN meter_readings r
  ON r.customer_id = c.customer_id AND r.billing_month = :billing_month
 AND r.status = 'accepted' AND r.source <> 'estimate'
JOIN meter_readings e
  ON e.customer_id = c.customer_id AND e.status = 'accepted' AND e.source = 'estimate'
 AND e.reading > r.reading
 AND e.billing_month = (SELECT MAX(pr.billing_month) FROM meter_readings pr
                        WHERE pr.customer_id = c.customer_id
                          AND pr.billing_month < :billing_month AND pr.status = 'accepted')
JOIN bills b
  ON b.customer_id = c.customer_id AND b.billing_month = e.billing_month AND b.estimated = 1
 AND b.current_reading = e.reading AND b.previous_reading <= r.reading
ORDER BY b.bill_id

-- name: billrun_lower_estimate
-- An over-estimate brought down to the actual reading that followed it (the estimated bill
-- was corrected to end there).
UPDATE meter_readings SET reading = :reading WHERE reading_id = :estimate_id

-- name: billrun_chunk_issued
-- What run :run_id issued from bill :first_bill_id on: bills, estimated ones, their total.
SELECT COUNT(*) AS bills, COALESCE(SUM(estimated), 0) AS estimated,
       COALESCE(SUM(total_amount), 0) AS total
FROM bills WHERE bill_id >= :first_bill_id AND import_audit_id = :run_id

-- name: billrun_bills_with_credit
-- The bills run :run_id issued from bill :first_bill_id on whose customer has account credit.
SELECT b.bill_id
FROM bills b
JOIN customers c ON c.customer_id = b.customer_id
WHERE b.bill_id >= :first_bill_id AND b.import_audit_id = :run_id AND c.credit > 0
ORDER BY b.bill_id

-- name: billrun_linked_bills
-- The bills run :run_id issued from bill :first_bill_id on to customers with a Telegram
-- account (to be told), as they stand now (after any credit).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date,
       c.telegram_user_id, c.full_name, c.meter_number
FROM bills b
JOIN customers c ON c.customer_id = b.customer_id
WHERE b.bill_id >= :first_bill_id AND b.import_audit_id = :run_id
  AND c.telegram_user_id IS NOT NULL
ORDER BY b.bill_id

-- name: billrun_skipped
-- Why customers :first_customer..:last_customer still have no bill for :billing_month, by
-- reason, with how many and the first few meters: a reading awaiting review or rejected, no
-- reading (nothing to estimate from), no previous reading, a reading below the previous one
-- that is no rollover, or figures that make no bill (0.00, too large).
SELECT s.reason, COUNT(*) AS customers,
       GROUP_CONCAT(s.meter_number ORDER BY s.meter_number SEPARATOR ',' LIMIT 5) AS meters
FROM (
    SELECT p.meter_number,
           CASE WHEN p.status = 'pending' THEN 'pending'
                WHEN p.status = 'rejected' THEN 'rejected'
                WHEN p.status IS NULL THEN 'no_reading'
                WHEN p.previous_reading IS NULL THEN 'no_previous'
                WHEN p.reading < p.previous_reading
                     AND NOT (p.previous_reading < p.register_size
                              AND p.register_size - p.previous_reading + p.reading
                                  <= p.register_size * 0.2) THEN 'below_previous'
                ELSE 'not_billable'
           END AS reason
    FROM (
        SELECT c.meter_number, r.status, r.reading,
               CAST(POWER(10, c.meter_digits) AS DECIMAL(12,0)) AS register_size,
               COALESCE(
                   (SELECT pr.reading FROM meter_readings pr
                    WHERE pr.customer_id = c.customer_id
                      AND pr.billing_month < :billing_month AND pr.status = 'accepted'
                    ORDER BY pr.billing_month DESC LIMIT 1),
                   (SELECT pb.current_reading FROM bills pb
                    WHERE pb.customer_id = c.customer_id AND pb.billing_month < :billing_month
                    ORDER BY pb.billing_month DESC LIMIT 1)) AS previous_reading
        FROM customers c
        LEFT JOIN meter_readings r
          ON r.customer_id = c.customer_id AND r.billing_month = :billing_month
        WHERE c.customer_id BETWEEN :first_customer AND :last_customer
          AND NOT EXISTS (SELECT 1 FROM bills x
                          WHERE x.customer_id = c.customer_id
                            AND x.billing_month = :billing_month)
    ) p
) s
GROUP BY s.reason

-- name: billrun_month_bills
-- Bills of :billing_month not issued by run :run_id (already there before it, or by staff).
SELECT COUNT(*) FROM bills
WHERE billing_month = :billing_month
  AND (import_audit_id IS NULL OR import_audit_id <> :run_id)
