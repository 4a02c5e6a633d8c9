-- The ledger's statements (domain/ledger.py): the only writes of bills and their lines.

-- name: ledger_insert_bill
-- Issue a bill (unpaid; its lines follow in the same transaction).
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,
                   amount_paid, payment_status, due_date, tariff_version_id,
                   previous_reading, current_reading, estimated)
VALUES (:customer_id, :billing_month, :units_used, :rate_per_unit, :total_amount,
        0, 'unpaid', :due_date, :tariff_version_id,
        :previous_reading, :current_reading, :estimated)

-- name: ledger_insert_line
-- One line of a bill.
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, band_to_kwh, units, rate, percent,
                        amount, fee_period, waives_line_id, admin_id, note)
VALUES (:bill_id, :kind, :band_from_kwh, :band_to_kwh, :units, :rate, :percent,
        :amount, :fee_period, :waives_line_id, :admin_id, :note)

-- name: ledger_bill_lines
-- A bill's lines, in the order they were written.
SELECT line_id, kind, band_from_kwh, band_to_kwh, units, rate, percent, amount, fee_period,
       waives_line_id, note
FROM bill_lines
WHERE bill_id = :bill_id
ORDER BY line_id

-- name: ledger_delete_charge_lines
-- Take away a bill's energy, fixed-charge and tax lines (a correction writes them anew).
DELETE FROM bill_lines
WHERE bill_id = :bill_id AND kind IN ('energy', 'fixed', 'tax')

-- name: ledger_update_bill
-- A bill's figures after its lines changed (the bill is locked by the caller).
UPDATE bills
SET billing_month = :billing_month, units_used = :units_used, rate_per_unit = :rate_per_unit,
    total_amount = :total_amount, payment_status = :payment_status, due_date = :due_date,
    tariff_version_id = :tariff_version_id
WHERE bill_id = :bill_id

-- name: ledger_move_total
-- A bill's total and status after a line was added (the bill is locked by the caller).
UPDATE bills SET total_amount = :total_amount, payment_status = :payment_status
WHERE bill_id = :bill_id

-- name: lines_drift
-- Bills whose total is not the sum of their lines (none, while every write goes through
-- the ledger).
SELECT b.bill_id, b.total_amount, COALESCE(SUM(l.amount), 0) AS lines_total
FROM bills b
LEFT JOIN bill_lines l ON l.bill_id = b.bill_id
GROUP BY b.bill_id, b.total_amount
HAVING b.total_amount <> COALESCE(SUM(l.amount), 0)

-- name: ledger_bill_tariff
-- The tariff version a bill was computed with (NULL: the flat tariff at its own rate).
SELECT tariff_version_id FROM bills WHERE bill_id = :bill_id

-- ---------------------------------------------------------------------------------------------
-- Late fees, set-based (domain/ledger.py charge_late_fees): a day's run over every bill, in
-- chunks of bill ids, each chunk one transaction holding its fee lines, the bills' new totals
-- with their report totals and balances (one GROUP BY each, not per bill by trigger) and an
-- audit entry per fee. The fee is
-- domain/billing.LateFeeRule.fee of what is owed, in SQL: the percentage rounded half up to
-- the cent (ROUND of a positive DECIMAL), plus the fixed amount, at most the cap.

-- name: ledger_late_fee_run_start
-- Record that the run of :run_date has begun (a run begun already is kept as it is).
INSERT INTO late_fee_runs (run_date, started_at) VALUES (:run_date, :now)
ON DUPLICATE KEY UPDATE run_date = run_date

-- name: ledger_late_fee_run
-- The record of the run of :run_date.
SELECT run_date, started_at, finished_at, fees, amount
FROM late_fee_runs WHERE run_date = :run_date

-- name: ledger_late_fee_lock_run
-- Hold the run's record: two runners of one day take the chunks in turn, and each sees the
-- fees the other committed.
SELECT run_date FROM late_fee_runs WHERE run_date = :run_date FOR UPDATE

-- name: ledger_late_fee_bill_span
-- The first and last bill ids (the run walks them in chunks).
SELECT COALESCE(MIN(bill_id), 0) AS first_id, COALESCE(MAX(bill_id), 0) AS last_id FROM bills

-- name: ledger_late_fee_stage
-- The fees of the chunk's bills still owing past their due date plus their tariff's grace
-- days, not charged for the due date's month yet: one row each, named by :batch (this
-- transaction's). A bill on the flat tariff (no tariff version) takes no fee, nor one the
-- fee would take past what a bill can hold. The bills are read in id order off the primary
-- key, once, without locking them: most are not owing (ledger_late_fee_lock locks those
-- that are).
INSERT INTO late_fee_charges (batch, bill_id, fee_period, run_date, customer_id, due_date,
                              version_id, total_before, overdue, percent, amount)
SELECT :batch, b.bill_id,
       b.due_date - INTERVAL (DAYOFMONTH(b.due_date) - 1) DAY,
       :run_date, b.customer_id, b.due_date, v.version_id, b.total_amount,
       b.total_amount - b.amount_paid,
       NULLIF(v.late_fee_percent, 0),
       LEAST(ROUND((b.total_amount - b.amount_paid) * v.late_fee_percent / 100, 2)
             + v.late_fee_fixed, COALESCE(v.late_fee_cap, 9999999999.99))
FROM bills b FORCE INDEX (PRIMARY)
STRAIGHT_JOIN tariff_versions v ON v.version_id = b.tariff_version_id
WHERE b.bill_id BETWEEN :first_id AND :last_id
  AND b.payment_status <> 'paid'
  AND b.due_date < :run_date - INTERVAL v.grace_days DAY
  AND (v.late_fee_percent > 0 OR v.late_fee_fixed > 0)
  AND LEAST(ROUND((b.total_amount - b.amount_paid) * v.late_fee_percent / 100, 2)
            + v.late_fee_fixed, COALESCE(v.late_fee_cap, 9999999999.99)) > 0
  AND b.total_amount + LEAST(ROUND((b.total_amount - b.amount_paid) * v.late_fee_percent / 100, 2)
            + v.late_fee_fixed, COALESCE(v.late_fee_cap, 9999999999.99)) <= 9999999999.99
  AND NOT EXISTS (
      SELECT 1 FROM bill_lines l
      WHERE l.bill_id = b.bill_id
        AND l.fee_period = b.due_date - INTERVAL (DAYOFMONTH(b.due_date) - 1) DAY)

-- name: ledger_late_fee_lock
-- Lock the bills staged by :batch (their fees were worked out on the last committed rows).
SELECT COUNT(*)
FROM late_fee_charges c
STRAIGHT_JOIN bills b ON b.bill_id = c.bill_id
WHERE c.batch = :batch
FOR UPDATE

-- name: ledger_late_fee_unstage_changed
-- Drop the staged fee of a bill that changed between the staging read and its lock (a
-- payment, a correction): the next run works it out again on the bill as it then is.
DELETE c
FROM late_fee_charges c
STRAIGHT_JOIN bills b ON b.bill_id = c.bill_id
WHERE c.batch = :batch
  AND NOT (b.total_amount = c.total_before
           AND b.total_amount - b.amount_paid = c.overdue
           AND b.due_date = c.due_date
           AND b.tariff_version_id <=> c.version_id)

-- name: ledger_late_fee_lines
-- The fees staged by :batch as bill lines.
INSERT INTO bill_lines (bill_id, kind, percent, amount, fee_period)
SELECT bill_id, 'late_fee', percent, amount, fee_period
FROM late_fee_charges
WHERE batch = :batch
ORDER BY bill_id

-- name: ledger_late_fee_batch_on
-- Name the batch whose bills' report totals this session moves itself (the bills trigger
-- leaves exactly those fees to ledger_late_fee_bill_totals and _balances; migration 0021).
SET @ebb_late_fee_batch = :batch

-- name: ledger_late_fee_batch_off
-- Every later change of a bill moves its totals by trigger again.
SET @ebb_late_fee_batch = NULL

-- name: ledger_late_fee_bills
-- The bills' totals and statuses after their fee.
UPDATE late_fee_charges c
STRAIGHT_JOIN bills b ON b.bill_id = c.bill_id
SET b.total_amount = b.total_amount + c.amount,
    b.payment_status = IF(b.amount_paid = 0, 'unpaid', 'partial')
WHERE c.batch = :batch

-- name: ledger_late_fee_bill_totals
-- The batch's fees into the report totals of their bills' month and due date: billed and
-- owed up by the fees (the bills were open and stay open); in this connection's shard as
-- the trigger would have (migration 0026).
INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed, collected,
                         open_bills, owed)
SELECT b.billing_month, b.due_date,
       (CONNECTION_ID() MOD GREATEST(64 DIV @@auto_increment_increment, 1)
        * @@auto_increment_increment
        + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 64,
       0, 0, SUM(c.amount), 0, 0, SUM(c.amount)
FROM late_fee_charges c
STRAIGHT_JOIN bills b ON b.bill_id = c.bill_id
WHERE c.batch = :batch
GROUP BY b.billing_month, b.due_date
ON DUPLICATE KEY UPDATE billed = billed + VALUES(billed), owed = owed + VALUES(owed)

-- name: ledger_late_fee_balances
-- The batch's fees into their customers' balances.
INSERT INTO customer_balances (customer_id, open_bills, owed)
SELECT c.customer_id, 0, SUM(c.amount)
FROM late_fee_charges c
WHERE c.batch = :batch
GROUP BY c.customer_id
ON DUPLICATE KEY UPDATE owed = owed + VALUES(owed)

-- name: ledger_late_fee_audit
-- An audit entry per fee, as domain/ledger.add_line writes one for a line (the fee line's
-- own fields only), with what the fee was on and the day's run.
INSERT INTO audit_log (admin_id, action, entity_type, entity_id, customer_id, bill_id,
                       before_data, after_data, created_at)
SELECT NULL, 'bill.late_fee', 'bill', c.bill_id, c.customer_id, c.bill_id,
       JSON_OBJECT('total_amount', CAST(c.total_before AS CHAR)),
       JSON_OBJECT(
           'total_amount', CAST(c.total_before + c.amount AS CHAR),
           'overdue', CAST(c.overdue AS CHAR),
           'run_date', CAST(c.run_date AS CHAR),
           'line', JSON_OBJECT(
               'kind', 'late_fee', 'amount', CAST(c.amount AS CHAR),
               'percent', CAST(c.percent AS CHAR), 'fee_period', CAST(c.fee_period AS CHAR),
               'line_id', l.line_id)),
       :now
FROM late_fee_charges c
STRAIGHT_JOIN bill_lines l ON l.bill_id = c.bill_id AND l.fee_period = c.fee_period
WHERE c.batch = :batch

-- name: ledger_late_fee_run_finish
-- The run of :run_date finished: how many fees it charged, and how much.
UPDATE late_fee_runs r
SET r.finished_at = :now,
    r.fees = (SELECT COUNT(*) FROM late_fee_charges c WHERE c.run_date = r.run_date),
    r.amount = (SELECT COALESCE(SUM(c.amount), 0) FROM late_fee_charges c
                WHERE c.run_date = r.run_date)
WHERE r.run_date = :run_date

-- Bill runs, set-based (domain/billrun.py): one chunk of customers at a time, in the run's
-- transaction. The band maths here is domain/billing.Tariff.charges written in SQL: each
-- band's energy rounded half up to the cent on its own (ROUND on DECIMAL is exact, half away
-- from zero), the fixed charge, the tax on energy + fixed rounded once; rate_per_unit is
-- Tariff.average_rate (the one band's rate, or energy / units to 4 places, half up, in
-- whole numbers so nothing is rounded twice). tests/test_domain_billrun.py holds both to the
-- same figures at the bands' edges.

-- name: ledger_run_issue_bills
-- Issue the bills of customers :first_customer..:last_customer who have no bill for
-- :billing_month and an accepted reading for it: units = reading − previous reading (the
-- latest accepted reading of an earlier month, else the last bill's current_reading), with
-- the register's rollover as domain/readings.consumption allows it; on their tariff's version
-- in force for the month (none: the flat :default_rate). A bill that would be 0.00, more than
-- :max_total or have no rate above zero is not issued (the run reports it). Each bill names
-- the run's audit entry :run_id.
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,
                   amount_paid, payment_status, due_date, tariff_version_id,
                   previous_reading, current_reading, estimated, import_audit_id)
SELECT q.customer_id, :billing_month, q.units, q.rate, q.total, 0, 'unpaid', :due_date,
       q.version_id, q.previous_reading, q.current_reading, q.estimated, :run_id
FROM (
    SELECT t.customer_id, t.units, t.version_id, t.previous_reading, t.current_reading,
           t.estimated,
           t.energy + t.fixed_charge
               + ROUND((t.energy + t.fixed_charge) * t.tax_percent / 100, 2) AS total,
           CASE WHEN t.bands = 1 OR t.units <= 0 THEN t.first_rate
                ELSE ((t.energy * 1000000) DIV NULLIF(t.units * 100, 0)
                      + CASE SIGN(2 * MOD(t.energy * 1000000, NULLIF(t.units * 100, 0))
                                  - t.units * 100)
                            WHEN 1 THEN 1
                            WHEN 0 THEN 1
                            ELSE 0 END) / 10000
           END AS rate
    FROM (
        SELECT u.customer_id, MAX(u.units) AS units, MAX(u.version_id) AS version_id,
               MAX(u.previous_reading) AS previous_reading,
               MAX(u.current_reading) AS current_reading, MAX(u.estimated) AS estimated,
               COALESCE(MAX(v.fixed_charge), 0) AS fixed_charge,
               COALESCE(MAX(v.tax_percent), 0) AS tax_percent,
               SUM(ROUND(GREATEST(LEAST(u.units, COALESCE(b.to_kwh, u.units))
                                  - COALESCE(b.from_kwh, 0), 0)
                         * COALESCE(b.rate_per_kwh, :default_rate), 2)) AS energy,
               COUNT(*) AS bands,
               MAX(IF(COALESCE(b.from_kwh, 0) = 0, COALESCE(b.rate_per_kwh, :default_rate),
                      NULL)) AS first_rate
        FROM (
            SELECT p.customer_id, p.previous_reading, r.reading AS current_reading,
                   r.source = 'estimate' AS estimated,
                   CASE WHEN r.reading >= p.previous_reading
                            THEN r.reading - p.previous_reading
                        WHEN p.previous_reading < p.register_size
                             AND p.register_size - p.previous_reading + r.reading
                                 <= p.register_size * 0.2
                            THEN p.register_size - p.previous_reading + r.reading
                   END AS units,
                   cv.version_id
            FROM (
                SELECT c.customer_id, c.tariff_id,
                       CAST(POWER(10, c.meter_digits) AS DECIMAL(12,0)) AS register_size,
                       COALESCE(
                           (SELECT pr.reading FROM meter_readings pr
                            WHERE pr.customer_id = c.customer_id
                              AND pr.billing_month < :billing_month AND pr.status = 'accepted'
                            ORDER BY pr.billing_month DESC LIMIT 1),
                           (SELECT pb.current_reading FROM bills pb
                            WHERE pb.customer_id = c.customer_id
                              AND pb.billing_month < :billing_month
                            ORDER BY pb.billing_month DESC LIMIT 1)) AS previous_reading
                FROM customers c
                WHERE c.customer_id BETWEEN :first_customer AND :last_customer
                  AND NOT EXISTS (SELECT 1 FROM bills x
                                  WHERE x.customer_id = c.customer_id
                                    AND x.billing_month = :billing_month)
            ) p
            JOIN meter_readings r
              ON r.customer_id = p.customer_id AND r.billing_month = :billing_month
             AND r.status = 'accepted'
            -- each tariff's version in force for the month, found once per tariff
            LEFT JOIN (
                SELECT tv.tariff_id, MAX(tv.version_id) AS version_id
                FROM tariff_versions tv
                WHERE tv.effective_from = (SELECT MAX(t2.effective_from) FROM tariff_versions t2
                                           WHERE t2.tariff_id = tv.tariff_id
                                             AND t2.effective_from <= :billing_month)
                GROUP BY tv.tariff_id
            ) cv ON cv.tariff_id = p.tariff_id
        ) u
        LEFT JOIN tariff_versions v ON v.version_id = u.version_id
        LEFT JOIN tariff_bands b ON b.version_id = u.version_id
        WHERE u.units IS NOT NULL
        GROUP BY u.customer_id
    ) t
) q
WHERE q.total > 0 AND q.total <= :max_total AND q.rate > 0
ORDER BY q.customer_id

-- name: ledger_run_energy_lines
-- The energy lines (one per band used, lowest first) of the bills run :run_id issued from
-- bill :first_bill_id on; a bill on the flat tariff has one open band at its own rate.
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, band_to_kwh, units, rate, amount,
                        admin_id)
SELECT e.bill_id, 'energy', e.band_from_kwh, e.band_to_kwh, e.units, e.rate,
       ROUND(e.units * e.rate, 2), :admin_id
FROM (
    SELECT b.bill_id, COALESCE(tb.band_no, 0) AS band_no,
           COALESCE(tb.from_kwh, 0) AS band_from_kwh, tb.to_kwh AS band_to_kwh,
           LEAST(b.units_used, COALESCE(tb.to_kwh, b.units_used))
               - COALESCE(tb.from_kwh, 0) AS units,
           COALESCE(tb.rate_per_kwh, b.rate_per_unit) AS rate
    FROM bills b
    LEFT JOIN tariff_bands tb ON tb.version_id = b.tariff_version_id
    WHERE b.bill_id >= :first_bill_id AND b.import_audit_id = :run_id
) e
WHERE e.units > 0
ORDER BY e.bill_id, e.band_no

-- name: ledger_run_fixed_lines
-- The fixed-charge lines of the bills run :run_id issued from bill :first_bill_id on.
INSERT INTO bill_lines (bill_id, kind, amount, admin_id)
SELECT b.bill_id, 'fixed', v.fixed_charge, :admin_id
FROM bills b
JOIN tariff_versions v ON v.version_id = b.tariff_version_id
WHERE b.bill_id >= :first_bill_id AND b.import_audit_id = :run_id AND v.fixed_charge > 0
ORDER BY b.bill_id

-- name: ledger_run_tax_lines
-- The tax lines of the bills run :run_id issued from bill :first_bill_id on: the tax on the
-- bill's energy (each band rounded) plus its fixed charge, rounded once.
INSERT INTO bill_lines (bill_id, kind, percent, amount, admin_id)
SELECT b.bill_id, 'tax', v.tax_percent,
       ROUND((SUM(ROUND(GREATEST(LEAST(b.units_used, COALESCE(tb.to_kwh, b.units_used))
                                 - tb.from_kwh, 0) * tb.rate_per_kwh, 2))
              + v.fixed_charge) * v.tax_percent / 100, 2),
       :admin_id
FROM bills b
JOIN tariff_versions v ON v.version_id = b.tariff_version_id
JOIN tariff_bands tb ON tb.version_id = v.version_id
WHERE b.bill_id >= :first_bill_id AND b.import_audit_id = :run_id AND v.tax_percent > 0
GROUP BY b.bill_id, v.tax_percent, v.fixed_charge
ORDER BY b.bill_id

-- name: ledger_last_insert_id
-- The first id the last multi-row INSERT of this connection generated.
SELECT LAST_INSERT_ID()

-- Imports: bills issued set-based from the import's staging table (imports.sql), their totals
-- added by the import itself (migration 0023: @ebb_bulk_totals names the import).

-- name: ledger_bulk_totals_begin
-- This session adds import :import_id's bills to the report totals itself (one GROUP BY
-- each, ledger_bulk_bill_totals and ledger_bulk_balances, in the same transaction).
SET @ebb_bulk_totals = :import_id

-- name: ledger_bulk_totals_end
-- This session's bills move the totals by trigger again.
SET @ebb_bulk_totals = NULL

-- name: ledger_issue_staged
-- Issue the staged lines :first_line to :last_line with a known meter as unpaid flat bills
-- of import :import_id, in the file's order (units x rate rounded half up to the cent, as
-- domain/money.bill_total does for positive figures): a line whose meter no customer has is
-- left out (the caller counts), a repeat or a month already billed fails on the unique key.
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,
                   due_date, import_audit_id)
SELECT c.customer_id, s.billing_month, s.units_used, s.rate_per_unit,
       ROUND(s.units_used * s.rate_per_unit, 2), s.due_date, :import_id
FROM import_lines s
JOIN customers c ON c.meter_number = s.meter_number
WHERE s.line BETWEEN :first_line AND :last_line
ORDER BY s.line

-- name: ledger_insert_imported_bill
-- Issue a bill brought in from elsewhere with its own total (the old system's), unpaid (its
-- payments follow as payments), naming the import's audit entry (migration 0004).
INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,
                   due_date, import_audit_id)
VALUES (:customer_id, :billing_month, :units_used, :rate_per_unit, :total_amount, :due_date,
        :import_audit_id)

-- name: ledger_lines_for_import
-- The one energy line (units x rate) of every bill of import :import_id from id :first_id on
-- that has no lines yet: the CSV and legacy imports issue flat bills set-based.
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, units, rate, amount)
SELECT b.bill_id, 'energy', 0, b.units_used, b.rate_per_unit, b.total_amount
FROM bills b
WHERE b.import_audit_id = :import_id AND b.bill_id >= :first_id
  AND NOT EXISTS (SELECT 1 FROM bill_lines l WHERE l.bill_id = b.bill_id)

-- name: ledger_lines_for_staged
-- The energy line (units x rate) of each bill of import :import_id from id :first_id on:
-- the chunk just issued by ledger_issue_staged (its later chunks are not written yet).
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, units, rate, amount)
SELECT b.bill_id, 'energy', 0, b.units_used, b.rate_per_unit, b.total_amount
FROM bills b
WHERE b.bill_id >= :first_id AND b.import_audit_id = :import_id

-- name: ledger_bulk_bill_totals
-- Import :import_id's bills (ids from :first_id on) added to the bill totals, one row per
-- month and due date, in this connection's shard as the trigger would have (migration 0026).
INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed, collected,
                         open_bills, owed)
SELECT b.billing_month, b.due_date,
       (CONNECTION_ID() MOD GREATEST(64 DIV @@auto_increment_increment, 1)
        * @@auto_increment_increment
        + (@@auto_increment_offset - 1) MOD @@auto_increment_increment) MOD 64,
       COUNT(*), SUM(b.units_used), SUM(b.total_amount), 0, COUNT(*), SUM(b.total_amount)
FROM bills b
WHERE b.bill_id >= :first_id AND b.import_audit_id = :import_id
GROUP BY b.billing_month, b.due_date
ON DUPLICATE KEY UPDATE bills = bills + VALUES(bills),
                        units_used = units_used + VALUES(units_used),
                        billed = billed + VALUES(billed),
                        open_bills = open_bills + VALUES(open_bills),
                        owed = owed + VALUES(owed)

-- name: ledger_bulk_balances
-- Import :import_id's bills (ids from :first_id on) added to their customers' balances.
INSERT INTO customer_balances (customer_id, open_bills, owed)
SELECT b.customer_id, COUNT(*), SUM(b.total_amount)
FROM bills b
WHERE b.bill_id >= :first_id AND b.import_audit_id = :import_id
GROUP BY b.customer_id
ON DUPLICATE KEY UPDATE open_bills = open_bills + VALUES(open_bills),
                        owed = owed + VALUES(owed)

-- name: ledger_estimate_settled
-- An estimated bill whose period now ends at the actual reading :reading (after correct()).
UPDATE bills SET current_reading = :reading, estimated = 0 WHERE bill_id = :bill_id
