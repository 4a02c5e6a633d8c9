-- depends: 0005_money_invariants_in_database
-- Payment claims (issue 13): a customer who paid by bank transfer or mobile money says so,
-- with the transfer's reference; staff confirm the claim (the payment is recorded then,
-- through the ordinary idempotent payment path) or reject it with a reason. A claim moves no
-- money: no bill, balance or report total reads this table, and no trigger here writes one.
--
--   * a reference can be claimed once, by anyone: reference_key (the reference trimmed, its
--     spaces removed, lower-cased) is UNIQUE and is set by the trigger below, whatever the
--     writer sent;
--   * a claim is filed 'pending' by any writer (the customer account's INSERT cannot even
--     name the decision columns, sql/grants.sql), on a bill of its own customer, and is
--     decided once: pending → confirmed (with the payment of its amount, on its bill, by its
--     method) or pending → rejected (with a reason); nothing else about it ever changes.

CREATE TABLE payment_claims (
    claim_id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id         BIGINT UNSIGNED NOT NULL,
    bill_id             BIGINT UNSIGNED NOT NULL,
    amount              DECIMAL(12,2)   NOT NULL,
    payment_method      VARCHAR(32)     NOT NULL,
    -- As the customer typed it (trimmed); reference_key is what makes it unique.
    reference           VARCHAR(64)     NOT NULL,
    reference_key       VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
                                        NOT NULL DEFAULT '',
    status              VARCHAR(10)     NOT NULL DEFAULT 'pending',
    created_at          DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    decided_at          DATETIME(6)     NULL,
    decided_by_admin_id BIGINT UNSIGNED NULL,
    reject_reason       VARCHAR(500)    NULL,
    -- The payment recorded when the claim was confirmed.
    payment_id          BIGINT UNSIGNED NULL,
    PRIMARY KEY (claim_id),
    UNIQUE KEY uq_payment_claims_reference_key (reference_key),
    UNIQUE KEY uq_payment_claims_payment (payment_id),
    -- The staff's queue: pending claims, oldest first.
    KEY ix_payment_claims_status_created (status, created_at, claim_id),
    -- A customer's own claims, newest first (and the customer foreign key).
    KEY ix_payment_claims_customer (customer_id, created_at),
    KEY ix_payment_claims_bill (bill_id),
    KEY ix_payment_claims_decided_by (decided_by_admin_id),
    CONSTRAINT fk_payment_claims_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id),
    CONSTRAINT fk_payment_claims_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT fk_payment_claims_decided_by FOREIGN KEY (decided_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT fk_payment_claims_payment FOREIGN KEY (payment_id)
        REFERENCES payments (payment_id),
    CONSTRAINT ck_payment_claims_amount CHECK (amount > 0),
    CONSTRAINT ck_payment_claims_method CHECK (
        payment_method IN ('bank_transfer', 'mobile_money')
    ),
    CONSTRAINT ck_payment_claims_reference CHECK (
        CHAR_LENGTH(reference) BETWEEN 4 AND 64 AND CHAR_LENGTH(reference_key) >= 4
    ),
    CONSTRAINT ck_payment_claims_status CHECK (
        (status = 'pending' AND decided_at IS NULL AND decided_by_admin_id IS NULL
            AND reject_reason IS NULL AND payment_id IS NULL)
     OR (status = 'confirmed' AND decided_at IS NOT NULL AND decided_by_admin_id IS NOT NULL
            AND reject_reason IS NULL AND payment_id IS NOT NULL)
     OR (status = 'rejected' AND decided_at IS NOT NULL AND decided_by_admin_id IS NOT NULL
            AND reject_reason IS NOT NULL AND payment_id IS NULL)
    )
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER payment_claims_before_insert BEFORE INSERT ON payment_claims FOR EACH ROW
BEGIN
    DECLARE owner BIGINT UNSIGNED;
    IF NEW.status <> 'pending' OR NEW.decided_at IS NOT NULL
       OR NEW.decided_by_admin_id IS NOT NULL OR NEW.reject_reason IS NOT NULL
       OR NEW.payment_id IS NOT NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a claim is filed pending; only staff decide it, later';
    END IF;
    SELECT customer_id INTO owner FROM bills WHERE bill_id = NEW.bill_id;
    IF owner IS NULL OR owner <> NEW.customer_id THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a claim is on a bill of its own customer';
    END IF;
    -- The key and the time are the database's: no writer can dodge the uniqueness with
    -- another spelling of the same reference, or file a claim dated elsewhen (UTC, as every
    -- DATETIME the application writes).
    SET NEW.reference = TRIM(NEW.reference),
        NEW.reference_key = LOWER(REPLACE(TRIM(NEW.reference), ' ', '')),
        NEW.created_at = UTC_TIMESTAMP(6);
END;

CREATE TRIGGER payment_claims_before_update BEFORE UPDATE ON payment_claims FOR EACH ROW
BEGIN
    DECLARE paid_bill BIGINT UNSIGNED;
    DECLARE paid_amount DECIMAL(12,2);
    DECLARE paid_method VARCHAR(32);
    DECLARE paid_void DATETIME(6);
    IF NOT (NEW.claim_id <=> OLD.claim_id AND NEW.customer_id <=> OLD.customer_id
            AND NEW.bill_id <=> OLD.bill_id AND NEW.amount <=> OLD.amount
            AND NEW.payment_method <=> OLD.payment_method
            AND NEW.reference <=> OLD.reference AND NEW.reference_key <=> OLD.reference_key
            AND NEW.created_at <=> OLD.created_at) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a claim is never changed, only decided';
    END IF;
    IF OLD.status <> 'pending' AND NOT (NEW.status <=> OLD.status
            AND NEW.decided_at <=> OLD.decided_at
            AND NEW.decided_by_admin_id <=> OLD.decided_by_admin_id
            AND NEW.reject_reason <=> OLD.reject_reason
            AND NEW.payment_id <=> OLD.payment_id) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a claim is decided once';
    END IF;
    IF OLD.status = 'pending' AND NEW.status = 'confirmed' THEN
        SELECT bill_id, amount_paid, payment_method, voided_at
        INTO paid_bill, paid_amount, paid_method, paid_void
        FROM payments WHERE payment_id = NEW.payment_id;
        IF NOT (paid_bill <=> NEW.bill_id AND paid_amount <=> NEW.amount
                AND paid_method <=> NEW.payment_method) OR paid_void IS NOT NULL THEN
            SIGNAL SQLSTATE '45000'
                SET MESSAGE_TEXT = 'ebb: a claim is confirmed by a payment of its amount on its bill';
        END IF;
    END IF;
END;
