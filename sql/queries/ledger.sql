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

-- name: ledger_lines_for_import
-- The one energy line (units x rate) of every bill of import :import_id from id :first_id on
-- that has no lines yet: the CSV and legacy imports issue flat bills set-based.
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, units, rate, amount)
SELECT b.bill_id, 'energy', 0, b.units_used, b.rate_per_unit, b.total_amount
FROM bills b
WHERE b.import_audit_id = :import_id AND b.bill_id >= :first_id
  AND NOT EXISTS (SELECT 1 FROM bill_lines l WHERE l.bill_id = b.bill_id)

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
