-- depends: 0004_import_audit
-- The money invariants of SPEC §4, enforced by the database for every writer (issue 17): the
-- customer account may UPDATE bills and INSERT payments (the seed's permission model), so the
-- rules cannot live in the application alone.
--
--   * a bill starts unpaid; its amount_paid always equals the sum of its non-void payments
--     (the CHECKs of migration 0001 then tie its status to it);
--   * a payment moves its bill: inserting one adds it to the bill, voiding one takes it off;
--     a payment is recorded with the bill's figures as they stand, is never inserted already
--     void, and never changes afterwards except to be voided (once) or to follow its bill's
--     month;
--   * the report totals (migration 0003) are moved by these triggers, in the statement that
--     changes the rows they sum, whoever sends it; the customer account has no privilege on
--     them at all (sql/grants.sql).
--
-- The triggers run with their definer's privileges (the admin account, which runs the
-- migrations). Totals rows are sharded by CONNECTION_ID(), as the application did, so
-- concurrent payments on different connections do not queue on one hot row. Each trigger's
-- error message starts with "ebb:" so the application can tell a refusal from other errors.

-- The bill check below adds up a bill's non-void payments on every change of its amount_paid:
-- read from this index alone (no row look-ups), so a bill with many partial payments stays
-- cheap to pay. It also serves the foreign key that ix_payments_bill served.
ALTER TABLE payments ADD KEY ix_payments_bill_paid (bill_id, voided_at, amount_paid);
ALTER TABLE payments DROP KEY ix_payments_bill;

CREATE TRIGGER bills_before_insert BEFORE INSERT ON bills FOR EACH ROW
BEGIN
    IF NEW.amount_paid <> 0 OR NEW.payment_status <> 'unpaid' THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a new bill starts unpaid; payments are recorded as payments';
    END IF;
END;

CREATE TRIGGER bills_after_insert AFTER INSERT ON bills FOR EACH ROW
BEGIN
    INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                             collected, open_bills, owed)
    VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 1, NEW.units_used,
            NEW.total_amount, 0, 1, NEW.total_amount)
    ON DUPLICATE KEY UPDATE bills = bills + 1,
                            units_used = units_used + NEW.units_used,
                            billed = billed + NEW.total_amount,
                            open_bills = open_bills + 1,
                            owed = owed + NEW.total_amount;
    INSERT INTO customer_balances (customer_id, open_bills, owed)
    VALUES (NEW.customer_id, 1, NEW.total_amount)
    ON DUPLICATE KEY UPDATE open_bills = open_bills + 1, owed = owed + NEW.total_amount;
END;

CREATE TRIGGER bills_before_update BEFORE UPDATE ON bills FOR EACH ROW
BEGIN
    DECLARE paid DECIMAL(20,2);
    IF NEW.bill_id <> OLD.bill_id OR NEW.customer_id <> OLD.customer_id THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a bill keeps its id and its customer';
    END IF;
    IF NEW.amount_paid <> OLD.amount_paid THEN
        SELECT COALESCE(SUM(amount_paid), 0) INTO paid
        FROM payments WHERE bill_id = NEW.bill_id AND voided_at IS NULL;
        IF NEW.amount_paid <> paid THEN
            SIGNAL SQLSTATE '45000'
                SET MESSAGE_TEXT = 'ebb: a bill''s amount_paid must equal its payments';
        END IF;
    END IF;
END;

CREATE TRIGGER bills_after_update AFTER UPDATE ON bills FOR EACH ROW
BEGIN
    DECLARE was_open, is_open INT;
    SET was_open = OLD.payment_status <> 'paid', is_open = NEW.payment_status <> 'paid';
    IF NEW.billing_month = OLD.billing_month AND NEW.due_date = OLD.due_date THEN
        IF NEW.units_used <> OLD.units_used OR NEW.total_amount <> OLD.total_amount
           OR NEW.amount_paid <> OLD.amount_paid OR is_open <> was_open THEN
            INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                     collected, open_bills, owed)
            VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 0,
                    NEW.units_used - OLD.units_used, NEW.total_amount - OLD.total_amount,
                    NEW.amount_paid - OLD.amount_paid, is_open - was_open,
                    (NEW.total_amount - NEW.amount_paid) - (OLD.total_amount - OLD.amount_paid))
            ON DUPLICATE KEY UPDATE
                units_used = units_used + (NEW.units_used - OLD.units_used),
                billed = billed + (NEW.total_amount - OLD.total_amount),
                collected = collected + (NEW.amount_paid - OLD.amount_paid),
                open_bills = open_bills + (is_open - was_open),
                owed = owed + ((NEW.total_amount - NEW.amount_paid)
                               - (OLD.total_amount - OLD.amount_paid));
        END IF;
    ELSE
        -- The bill moved to another month or due date: out of the old row, into the new.
        INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                 collected, open_bills, owed)
        VALUES (OLD.billing_month, OLD.due_date, CONNECTION_ID() MOD 64, -1, -OLD.units_used,
                -OLD.total_amount, -OLD.amount_paid, -was_open,
                -(OLD.total_amount - OLD.amount_paid))
        ON DUPLICATE KEY UPDATE bills = bills - 1,
                                units_used = units_used - OLD.units_used,
                                billed = billed - OLD.total_amount,
                                collected = collected - OLD.amount_paid,
                                open_bills = open_bills - was_open,
                                owed = owed - (OLD.total_amount - OLD.amount_paid);
        INSERT INTO bill_totals (billing_month, due_date, shard, bills, units_used, billed,
                                 collected, open_bills, owed)
        VALUES (NEW.billing_month, NEW.due_date, CONNECTION_ID() MOD 64, 1, NEW.units_used,
                NEW.total_amount, NEW.amount_paid, is_open, NEW.total_amount - NEW.amount_paid)
        ON DUPLICATE KEY UPDATE bills = bills + 1,
                                units_used = units_used + NEW.units_used,
                                billed = billed + NEW.total_amount,
                                collected = collected + NEW.amount_paid,
                                open_bills = open_bills + is_open,
                                owed = owed + (NEW.total_amount - NEW.amount_paid);
    END IF;
    IF is_open <> was_open
       OR (NEW.total_amount - NEW.amount_paid) <> (OLD.total_amount - OLD.amount_paid) THEN
        INSERT INTO customer_balances (customer_id, open_bills, owed)
        VALUES (NEW.customer_id, is_open - was_open,
                (NEW.total_amount - NEW.amount_paid) - (OLD.total_amount - OLD.amount_paid))
        ON DUPLICATE KEY UPDATE
            open_bills = open_bills + (is_open - was_open),
            owed = owed + ((NEW.total_amount - NEW.amount_paid)
                           - (OLD.total_amount - OLD.amount_paid));
    END IF;
END;

CREATE TRIGGER payments_before_insert BEFORE INSERT ON payments FOR EACH ROW
BEGIN
    DECLARE total, paid, units DECIMAL(12,2);
    DECLARE rate DECIMAL(12,4);
    DECLARE month DATE;
    IF NEW.voided_at IS NOT NULL OR NEW.voided_by_admin_id IS NOT NULL
       OR NEW.void_reason IS NOT NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a payment is recorded first and voided later';
    END IF;
    -- The bill as it stands, locked (the application has locked it already).
    SELECT total_amount, amount_paid, units_used, rate_per_unit, billing_month
    INTO total, paid, units, rate, month
    FROM bills WHERE bill_id = NEW.bill_id FOR UPDATE;
    IF total IS NULL THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a payment must be on a bill';
    END IF;
    IF NEW.amount_paid > total - paid THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a payment cannot exceed what is outstanding on its bill';
    END IF;
    -- What the receipt shows is the bill's, whatever the writer sent.
    SET NEW.billing_month = month,
        NEW.bill_total = total,
        NEW.paid_to_date = paid + NEW.amount_paid,
        NEW.units_used = units,
        NEW.rate_per_unit = rate,
        NEW.payment_status = IF(paid + NEW.amount_paid = total, 'paid', 'partial');
END;

CREATE TRIGGER payments_after_insert AFTER INSERT ON payments FOR EACH ROW
BEGIN
    UPDATE bills SET amount_paid = NEW.paid_to_date, payment_status = NEW.payment_status
    WHERE bill_id = NEW.bill_id;
    INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
    VALUES (DATE(NEW.date_of_payment), NEW.payment_method, CONNECTION_ID() MOD 16, 1,
            NEW.amount_paid)
    ON DUPLICATE KEY UPDATE payments = payments + 1, amount = amount + NEW.amount_paid;
END;

CREATE TRIGGER payments_before_update BEFORE UPDATE ON payments FOR EACH ROW
BEGIN
    IF NOT (NEW.payment_id <=> OLD.payment_id AND NEW.bill_id <=> OLD.bill_id
            AND NEW.date_of_payment <=> OLD.date_of_payment
            AND NEW.amount_paid <=> OLD.amount_paid
            AND NEW.payment_method <=> OLD.payment_method
            AND NEW.payment_status <=> OLD.payment_status
            AND NEW.receipt_number <=> OLD.receipt_number
            AND NEW.bill_total <=> OLD.bill_total AND NEW.paid_to_date <=> OLD.paid_to_date
            AND NEW.units_used <=> OLD.units_used AND NEW.rate_per_unit <=> OLD.rate_per_unit
            AND NEW.idempotency_key <=> OLD.idempotency_key
            AND NEW.recorded_by_admin_id <=> OLD.recorded_by_admin_id
            AND NEW.created_at <=> OLD.created_at) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a payment is never changed, only voided';
    END IF;
    IF OLD.voided_at IS NOT NULL AND NOT (NEW.voided_at <=> OLD.voided_at
            AND NEW.voided_by_admin_id <=> OLD.voided_by_admin_id
            AND NEW.void_reason <=> OLD.void_reason) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a void is final';
    END IF;
    IF NEW.billing_month <> OLD.billing_month
       AND NEW.billing_month <> (SELECT billing_month FROM bills WHERE bill_id = NEW.bill_id) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a payment''s month is its bill''s';
    END IF;
END;

CREATE TRIGGER payments_after_update AFTER UPDATE ON payments FOR EACH ROW
BEGIN
    DECLARE total, paid DECIMAL(12,2);
    IF OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL THEN
        SELECT total_amount, amount_paid - OLD.amount_paid INTO total, paid
        FROM bills WHERE bill_id = NEW.bill_id FOR UPDATE;
        UPDATE bills
        SET amount_paid = paid,
            payment_status = CASE WHEN paid = 0 THEN 'unpaid'
                                  WHEN paid = total THEN 'paid' ELSE 'partial' END
        WHERE bill_id = NEW.bill_id;
        INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount)
        VALUES (DATE(OLD.date_of_payment), OLD.payment_method, CONNECTION_ID() MOD 16, -1,
                -OLD.amount_paid)
        ON DUPLICATE KEY UPDATE payments = payments - 1, amount = amount - OLD.amount_paid;
    END IF;
END;
