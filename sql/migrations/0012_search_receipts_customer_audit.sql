-- depends: 0008_provider_refunds
-- What customers and clerks see (issue 14, item F): a name search that ignores accents, a
-- receipt drawn from what was true when the payment was made, and the audit log's record of
-- what customers change themselves. Portable to MySQL 8, like the migrations before it.

-- 1. Name search. utf8mb4_unicode_ci compares "Ọkafọ́r" and "okafor" as equal (=), but LIKE
-- matches character by character, and a combining mark with no precomposed form (the acute
-- over ọ, U+0301) is a character of its own that "%okafor%" does not skip (nor does
-- uca1400_ai_ci's LIKE). This column is the name without its combining marks, kept by the
-- database for every writer; searched with LIKE in the table's unicode_ci collation it
-- ignores case and the accents left on precomposed letters (ọ, é, ş). The search text is
-- folded the same way (domain/customers.search).
ALTER TABLE customers
    ADD COLUMN name_search VARCHAR(200)
        AS (REGEXP_REPLACE(full_name, '\\p{Mn}+', '')) STORED;

-- 2. Receipts as they were at payment time. Migration 0005 copies the bill's figures onto the
-- payment; this table keeps the rest of what a receipt shows that can change later: the
-- customer's name, meter and address (/editcustomer, /profile), the bill's month and due
-- date (/editbill may move both; the payment's own billing_month follows its bill, by
-- migration 0005's design) and the name of the staff member who recorded an office payment. Written by the trigger below in the INSERT of the payment, whoever sends
-- it; read-only to the customer account. Payments made before this migration get what is
-- true now (the best there is); a payment without a row here (one bulk-loaded with the
-- triggers set aside) shows the current details.
CREATE TABLE payment_receipts (
    payment_id    BIGINT UNSIGNED NOT NULL,
    customer_name VARCHAR(200)    NOT NULL,
    meter_number  VARCHAR(32)     NOT NULL,
    address       VARCHAR(500)    NOT NULL,
    billing_month DATE            NOT NULL,
    due_date      DATE            NOT NULL,
    recorded_by   VARCHAR(100)    NULL,
    PRIMARY KEY (payment_id),
    CONSTRAINT fk_payment_receipts_payment FOREIGN KEY (payment_id)
        REFERENCES payments (payment_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO payment_receipts (payment_id, customer_name, meter_number, address, billing_month,
                              due_date, recorded_by)
SELECT p.payment_id, c.full_name, c.meter_number, c.address, b.billing_month, b.due_date,
       a.admin_name
FROM payments p
JOIN bills b ON b.bill_id = p.bill_id
JOIN customers c ON c.customer_id = b.customer_id
LEFT JOIN admins a ON a.admin_id = p.recorded_by_admin_id;

CREATE TRIGGER payments_after_insert_receipt AFTER INSERT ON payments FOR EACH ROW
BEGIN
    DECLARE name_then VARCHAR(200);
    DECLARE meter_then VARCHAR(32);
    DECLARE address_then VARCHAR(500);
    DECLARE month_then, due_then DATE;
    DECLARE recorder VARCHAR(100);
    -- Plain reads: the bill is locked by the payment's writer already, and a customer's
    -- details are only copied, so nothing here waits on (or holds up) a profile edit.
    SELECT c.full_name, c.meter_number, c.address, b.billing_month, b.due_date
    INTO name_then, meter_then, address_then, month_then, due_then
    FROM bills b JOIN customers c ON c.customer_id = b.customer_id
    WHERE b.bill_id = NEW.bill_id;
    IF NEW.recorded_by_admin_id IS NOT NULL THEN
        SELECT admin_name INTO recorder FROM admins WHERE admin_id = NEW.recorded_by_admin_id;
    END IF;
    INSERT INTO payment_receipts (payment_id, customer_name, meter_number, address,
                                  billing_month, due_date, recorded_by)
    VALUES (NEW.payment_id, name_then, meter_then, address_then, month_then, due_then,
            recorder);
END;

-- 3. What customers change themselves. The customer account may change a customer's phone,
-- email, address and password (sql/grants.sql) but holds nothing on the audit log, so the
-- entry is written here, with the definer's rights (the admin account, which runs the
-- migrations), in the statement that makes the change. Changes the admin account makes are
-- audited by the application, which names the staff member (customers.edit_by_admin), so
-- they are left out here. Compared byte for byte (utf8mb4_bin): a change of case is a change.
-- A password is never copied: the entry says it was set, changed, or stored again in the
-- current format (the upgrade of an older hash at login).
CREATE TRIGGER customers_after_update_audit AFTER UPDATE ON customers FOR EACH ROW
BEGIN
    DECLARE before_data, after_data TEXT;
    IF SUBSTRING_INDEX(USER(), '@', 1) <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1) THEN
        SET before_data = JSON_OBJECT(), after_data = JSON_OBJECT();
        IF NOT (NEW.address COLLATE utf8mb4_bin <=> OLD.address COLLATE utf8mb4_bin) THEN
            SET before_data = JSON_INSERT(before_data, '$.address', OLD.address),
                after_data = JSON_INSERT(after_data, '$.address', NEW.address);
        END IF;
        IF NOT (NEW.phone_number COLLATE utf8mb4_bin <=> OLD.phone_number COLLATE utf8mb4_bin)
        THEN
            SET before_data = JSON_INSERT(before_data, '$.phone_number', OLD.phone_number),
                after_data = JSON_INSERT(after_data, '$.phone_number', NEW.phone_number);
        END IF;
        IF NOT (NEW.email COLLATE utf8mb4_bin <=> OLD.email COLLATE utf8mb4_bin) THEN
            SET before_data = JSON_INSERT(before_data, '$.email', OLD.email),
                after_data = JSON_INSERT(after_data, '$.email', NEW.email);
        END IF;
        IF JSON_LENGTH(after_data) > 0 THEN
            INSERT INTO audit_log (admin_id, action, entity_type, entity_id, customer_id,
                                   before_data, after_data, created_at)
            VALUES (NULL, 'customer.contact', 'customer', NEW.customer_id, NEW.customer_id,
                    before_data, after_data, UTC_TIMESTAMP(6));
        END IF;
        IF NOT (NEW.password_hash COLLATE utf8mb4_bin
                <=> OLD.password_hash COLLATE utf8mb4_bin) THEN
            INSERT INTO audit_log (admin_id, action, entity_type, entity_id, customer_id,
                                   before_data, after_data, created_at)
            VALUES (NULL, 'customer.password', 'customer', NEW.customer_id, NEW.customer_id,
                    NULL,
                    JSON_OBJECT('password', CASE
                        WHEN COALESCE(OLD.password_hash, '') = '' THEN 'set'
                        WHEN SUBSTRING_INDEX(OLD.password_hash, '$', 2)
                             <> SUBSTRING_INDEX(NEW.password_hash, '$', 2)
                            THEN 'stored again in the current format'
                        ELSE 'changed' END),
                    UTC_TIMESTAMP(6));
        END IF;
    END IF;
END;
