-- depends: 0023_bulk_import_totals
-- A bill's lines on its receipts (issue 15: receipts show the lines where they matter). A
-- receipt shows the bill's lines as they were when it was paid, kept with the receipt's other
-- details (migrations 0012, 0016), so a receipt sent again after a correction, a late fee or
-- a waiver is still the same document. Payments made before this migration keep none: their
-- receipts show units and rate, as they always did.
ALTER TABLE payment_receipts ADD COLUMN bill_lines LONGTEXT NULL CHECK (JSON_VALID(bill_lines));

DROP TRIGGER payments_after_insert_receipt;

-- As in migration 0016, plus the bill's lines as a JSON array, oldest first.
CREATE TRIGGER payments_after_insert_receipt AFTER INSERT ON payments FOR EACH ROW
BEGIN
    DECLARE name_then VARCHAR(200);
    DECLARE meter_then VARCHAR(32);
    DECLARE address_then VARCHAR(500);
    DECLARE month_then, due_then DATE;
    DECLARE credit_then DECIMAL(12,2);
    DECLARE recorder VARCHAR(100);
    DECLARE lines_then LONGTEXT;
    SELECT c.full_name, c.meter_number, c.address, b.billing_month, b.due_date, c.credit
    INTO name_then, meter_then, address_then, month_then, due_then, credit_then
    FROM bills b JOIN customers c ON c.customer_id = b.customer_id
    WHERE b.bill_id = NEW.bill_id;
    IF NEW.recorded_by_admin_id IS NOT NULL THEN
        SELECT admin_name INTO recorder FROM admins WHERE admin_id = NEW.recorded_by_admin_id;
    END IF;
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
               'line_id', l.line_id, 'kind', l.kind, 'amount', l.amount, 'units', l.units,
               'rate', l.rate, 'band_from_kwh', l.band_from_kwh, 'band_to_kwh', l.band_to_kwh,
               'percent', l.percent, 'fee_period', l.fee_period,
               'waives_line_id', l.waives_line_id, 'note', l.note) ORDER BY l.line_id)
    INTO lines_then
    FROM bill_lines l
    WHERE l.bill_id = NEW.bill_id;
    INSERT INTO payment_receipts (payment_id, customer_name, meter_number, address,
                                  billing_month, due_date, recorded_by, credit_after,
                                  bill_lines)
    VALUES (NEW.payment_id, name_then, meter_then, address_then, month_then, due_then,
            recorder, credit_then, lines_then);
END;
