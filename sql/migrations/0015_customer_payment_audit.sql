-- depends: 0012_search_receipts_customer_audit 0013_legacy_import
-- The audit log records every payment, not only the ones staff record (issue 14, item F).
-- Staff payments are audited by the application, which names the staff member
-- (domain.payments.pay_bill: recorded_by_admin_id is set). A payment nobody at the office
-- recorded is the customer's own: from their account credit (/pay, or credit applied to a
-- new bill), or the bill's part of a card charge. The customer account holds nothing on the
-- audit log, so the entry is written here, with the definer's rights, in the INSERT itself.
CREATE TRIGGER payments_after_insert_customer_audit AFTER INSERT ON payments FOR EACH ROW
BEGIN
    IF NEW.recorded_by_admin_id IS NULL THEN
        INSERT INTO audit_log (admin_id, action, entity_type, entity_id, customer_id, bill_id,
                               before_data, after_data, created_at)
        SELECT NULL, 'payment.customer', 'payment', NEW.payment_id, b.customer_id,
               NEW.bill_id, NULL,
               JSON_OBJECT('amount_paid', NEW.amount_paid,
                           'payment_method', NEW.payment_method,
                           'receipt_number', NEW.receipt_number),
               UTC_TIMESTAMP(6)
        FROM bills b WHERE b.bill_id = NEW.bill_id;
    END IF;
END;
