-- depends: 0005_money_invariants_in_database
-- Real money (issue 13): card and wallet payments through Telegram Payments, and account
-- credit. As in migration 0005, the database owns every consequence of a money row:
--
--   * an invoice is a row; Telegram's invoice payload carries only its opaque reference;
--   * every successful payment Telegram reports is a provider charge, recorded once per
--     telegram_payment_charge_id. Money a provider has taken is never refused: what the bill
--     cannot take becomes account credit (the charge's `credited`);
--   * a customer's credit = money received − money applied to bills − refunds, at all times:
--     customers.credit moves only with credit_entries, which are never changed or deleted;
--     a payment made from credit (method 'credit') takes it from the customer's credit in the
--     same statement, and a void of one gives it back.

CREATE TABLE invoices (
    invoice_id   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    -- The invoice payload: random, says nothing about the bill or the amount.
    reference    CHAR(32)        NOT NULL,
    customer_id  BIGINT UNSIGNED NOT NULL,
    bill_id      BIGINT UNSIGNED NOT NULL,
    amount       DECIMAL(12,2)   NOT NULL,
    currency     CHAR(3)         NOT NULL,
    status       VARCHAR(10)     NOT NULL DEFAULT 'pending',
    created_at   DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at   DATETIME(6)     NOT NULL,
    paid_at      DATETIME(6)     NULL,
    PRIMARY KEY (invoice_id),
    UNIQUE KEY uq_invoices_reference (reference),
    KEY ix_invoices_customer (customer_id, created_at),
    CONSTRAINT fk_invoices_customer FOREIGN KEY (customer_id) REFERENCES customers (customer_id),
    CONSTRAINT fk_invoices_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT ck_invoices_amount CHECK (amount > 0),
    CONSTRAINT ck_invoices_status CHECK (status IN ('pending', 'paid', 'expired', 'cancelled')),
    CONSTRAINT ck_invoices_paid CHECK ((status = 'paid') = (paid_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Money a provider has taken: one row per successful_payment, whatever became of it.
CREATE TABLE provider_charges (
    charge_id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    telegram_payment_charge_id VARCHAR(255)    NOT NULL,
    provider_payment_charge_id VARCHAR(255)    NOT NULL,
    invoice_id                 BIGINT UNSIGNED NOT NULL,
    customer_id                BIGINT UNSIGNED NOT NULL,
    amount                     DECIMAL(12,2)   NOT NULL,
    currency                   CHAR(3)         NOT NULL,
    -- The part of the amount the bill could not take: added to the customer's credit.
    credited                   DECIMAL(12,2)   NOT NULL DEFAULT 0,
    received_at                DATETIME(6)     NOT NULL,
    PRIMARY KEY (charge_id),
    UNIQUE KEY uq_provider_charges_telegram (telegram_payment_charge_id),
    KEY ix_provider_charges_received (received_at),
    CONSTRAINT fk_provider_charges_invoice FOREIGN KEY (invoice_id)
        REFERENCES invoices (invoice_id),
    CONSTRAINT fk_provider_charges_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id),
    CONSTRAINT ck_provider_charges_amount CHECK (amount > 0),
    CONSTRAINT ck_provider_charges_credited CHECK (credited >= 0 AND credited <= amount)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE payments
    ADD COLUMN telegram_payment_charge_id VARCHAR(255) NULL,
    ADD COLUMN provider_payment_charge_id VARCHAR(255) NULL,
    ADD UNIQUE KEY uq_payments_telegram_charge (telegram_payment_charge_id);

ALTER TABLE payments DROP CONSTRAINT ck_payments_method;
ALTER TABLE payments ADD CONSTRAINT ck_payments_method CHECK (
    payment_method IN ('card', 'bank_transfer', 'mobile_money', 'cash', 'pos', 'credit')
);

ALTER TABLE customers
    ADD COLUMN credit DECIMAL(12,2) NOT NULL DEFAULT 0.00,
    ADD CONSTRAINT ck_customers_credit CHECK (credit >= 0);

-- received (+): the part of a provider charge a bill could not take;
-- restored (+): a payment made from credit was voided;
-- applied (−): a payment made from credit; refunded (−): staff paid credit back.
CREATE TABLE credit_entries (
    entry_id    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id BIGINT UNSIGNED NOT NULL,
    kind        VARCHAR(10)     NOT NULL,
    amount      DECIMAL(12,2)   NOT NULL,
    charge_id   BIGINT UNSIGNED NULL,
    payment_id  BIGINT UNSIGNED NULL,
    admin_id    BIGINT UNSIGNED NULL,
    reason      VARCHAR(500)    NULL,
    created_at  DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (entry_id),
    -- the credit check reads a customer's entries from this index alone
    KEY ix_credit_entries_customer (customer_id, kind, amount),
    CONSTRAINT fk_credit_entries_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id),
    CONSTRAINT fk_credit_entries_charge FOREIGN KEY (charge_id)
        REFERENCES provider_charges (charge_id),
    CONSTRAINT fk_credit_entries_payment FOREIGN KEY (payment_id)
        REFERENCES payments (payment_id),
    CONSTRAINT fk_credit_entries_admin FOREIGN KEY (admin_id) REFERENCES admins (admin_id),
    CONSTRAINT ck_credit_entries_amount CHECK (amount > 0),
    CONSTRAINT ck_credit_entries_kind CHECK (
        (kind = 'received' AND charge_id IS NOT NULL)
     OR (kind IN ('applied', 'restored') AND payment_id IS NOT NULL)
     OR (kind = 'refunded' AND admin_id IS NOT NULL AND reason IS NOT NULL)
    )
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER credit_entries_after_insert AFTER INSERT ON credit_entries FOR EACH ROW
BEGIN
    UPDATE customers
    SET credit = credit + IF(NEW.kind IN ('received', 'restored'), NEW.amount, -NEW.amount)
    WHERE customer_id = NEW.customer_id;
END;

CREATE TRIGGER credit_entries_before_update BEFORE UPDATE ON credit_entries FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a credit entry is never changed';
END;

CREATE TRIGGER customers_before_update BEFORE UPDATE ON customers FOR EACH ROW
BEGIN
    DECLARE balance DECIMAL(20,2);
    IF NEW.credit <> OLD.credit THEN
        -- A locking read: it sees the entries committed while this statement waited for the
        -- customer's row, which the statement's own snapshot (taken before) would miss.
        SELECT COALESCE(SUM(IF(kind IN ('received', 'restored'), amount, -amount)), 0)
        INTO balance
        FROM credit_entries WHERE customer_id = NEW.customer_id LOCK IN SHARE MODE;
        IF NEW.credit <> balance THEN
            SIGNAL SQLSTATE '45000'
                SET MESSAGE_TEXT = 'ebb: a customer''s credit must equal their credit entries';
        END IF;
    END IF;
END;

-- What the bill could not take of a provider charge becomes credit, in the same statement.
CREATE TRIGGER provider_charges_after_insert AFTER INSERT ON provider_charges FOR EACH ROW
BEGIN
    IF NEW.credited > 0 THEN
        INSERT INTO credit_entries (customer_id, kind, amount, charge_id)
        VALUES (NEW.customer_id, 'received', NEW.credited, NEW.charge_id);
    END IF;
END;

CREATE TRIGGER provider_charges_before_update BEFORE UPDATE ON provider_charges FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a provider charge is never changed';
END;

-- A payment from credit takes it from the customer's credit (refused by the CHECK on
-- customers.credit if there is not enough); a void of one gives it back. These extend the
-- triggers of migration 0005, which run first (FOLLOWS).
CREATE TRIGGER payments_after_insert_credit AFTER INSERT ON payments FOR EACH ROW
FOLLOWS payments_after_insert
BEGIN
    IF NEW.payment_method = 'credit' THEN
        INSERT INTO credit_entries (customer_id, kind, amount, payment_id)
        SELECT customer_id, 'applied', NEW.amount_paid, NEW.payment_id
        FROM bills WHERE bill_id = NEW.bill_id;
    END IF;
END;

CREATE TRIGGER payments_after_update_credit AFTER UPDATE ON payments FOR EACH ROW
FOLLOWS payments_after_update
BEGIN
    IF NEW.payment_method = 'credit' AND OLD.voided_at IS NULL AND NEW.voided_at IS NOT NULL THEN
        INSERT INTO credit_entries (customer_id, kind, amount, payment_id)
        SELECT customer_id, 'restored', OLD.amount_paid, NEW.payment_id
        FROM bills WHERE bill_id = NEW.bill_id;
    END IF;
END;

-- Money is taken, not declared: a payment without a staff member who recorded it (an office
-- payment, a confirmed transfer claim) is either made from the customer's credit or is the
-- bill's part of a provider charge of that customer. The customer account can name neither a
-- recorder nor a charge id (its INSERT grant lists neither column), so all it can pay with is
-- credit the customer really has.
CREATE TRIGGER payments_before_insert_source BEFORE INSERT ON payments FOR EACH ROW
FOLLOWS payments_before_insert
BEGIN
    IF NEW.payment_method = 'card' AND NEW.telegram_payment_charge_id IS NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a card payment is the part of a provider charge';
    END IF;
    IF NEW.recorded_by_admin_id IS NULL AND NEW.payment_method <> 'credit' AND NOT (
        NEW.payment_method = 'card' AND NEW.telegram_payment_charge_id IS NOT NULL
        AND EXISTS (
            SELECT 1 FROM provider_charges c JOIN bills b ON b.customer_id = c.customer_id
            WHERE c.telegram_payment_charge_id = NEW.telegram_payment_charge_id
              AND b.bill_id = NEW.bill_id
              AND NEW.amount_paid <= c.amount - c.credited)) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a payment is taken by a provider, made from credit, or recorded by staff';
    END IF;
END;

-- A payment's charge ids never change (migration 0005's trigger guards the other columns).
CREATE TRIGGER payments_before_update_charge BEFORE UPDATE ON payments FOR EACH ROW
FOLLOWS payments_before_update
BEGIN
    IF NOT (NEW.telegram_payment_charge_id <=> OLD.telegram_payment_charge_id
            AND NEW.provider_payment_charge_id <=> OLD.provider_payment_charge_id) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a payment is never changed, only voided';
    END IF;
END;

-- An invoice is for a bill of its own customer, and starts pending.
CREATE TRIGGER invoices_before_insert BEFORE INSERT ON invoices FOR EACH ROW
BEGIN
    IF NEW.status <> 'pending' OR NEW.paid_at IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM bills
                      WHERE bill_id = NEW.bill_id AND customer_id = NEW.customer_id) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: an invoice is for a bill of its own customer';
    END IF;
END;
