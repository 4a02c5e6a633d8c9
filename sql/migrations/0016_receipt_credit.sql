-- depends: 0015_customer_payment_audit
-- Account credit on receipts (issue 13: credit is shown on /dashboard, /customer and
-- receipts). A receipt shows the customer's credit as it stood right after its payment: the
-- bill part of a card charge whose excess became credit, a payment from credit, or any other
-- payment of a customer holding credit. Kept with the receipt's other details (migration
-- 0012), so a receipt sent again later still shows what was true then.
ALTER TABLE payment_receipts ADD COLUMN credit_after DECIMAL(12,2) NULL;

DROP TRIGGER payments_after_insert_receipt;

-- As in migration 0012, plus the credit. It runs after payments_after_insert_credit (made
-- earlier), so a payment from credit is already taken off; a card charge's excess was added
-- by its provider charge, written before its payment in the same transaction.
CREATE TRIGGER payments_after_insert_receipt AFTER INSERT ON payments FOR EACH ROW
BEGIN
    DECLARE name_then VARCHAR(200);
    DECLARE meter_then VARCHAR(32);
    DECLARE address_then VARCHAR(500);
    DECLARE month_then, due_then DATE;
    DECLARE credit_then DECIMAL(12,2);
    DECLARE recorder VARCHAR(100);
    SELECT c.full_name, c.meter_number, c.address, b.billing_month, b.due_date, c.credit
    INTO name_then, meter_then, address_then, month_then, due_then, credit_then
    FROM bills b JOIN customers c ON c.customer_id = b.customer_id
    WHERE b.bill_id = NEW.bill_id;
    IF NEW.recorded_by_admin_id IS NOT NULL THEN
        SELECT admin_name INTO recorder FROM admins WHERE admin_id = NEW.recorded_by_admin_id;
    END IF;
    INSERT INTO payment_receipts (payment_id, customer_name, meter_number, address,
                                  billing_month, due_date, recorded_by, credit_after)
    VALUES (NEW.payment_id, name_then, meter_then, address_then, month_then, due_then,
            recorder, credit_then);
END;
