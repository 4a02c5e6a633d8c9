-- depends: 0006_card_payments_and_credit
-- Refunds owed at the payment provider (issue 13, item 4). The Bot API cannot refund fiat
-- money: when staff void a card payment, the money stays with the provider until someone
-- refunds it in the provider's dashboard. The bot records that it is owed (with what the
-- voided payment's charge had put into credit, taken back from the customer's credit), and
-- staff mark it made with the provider's reference, so reports tell refunds owed from made.

CREATE TABLE provider_refunds (
    refund_id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    charge_id           BIGINT UNSIGNED NOT NULL,
    payment_id          BIGINT UNSIGNED NOT NULL,
    amount              DECIMAL(12,2)   NOT NULL,
    status              VARCHAR(10)     NOT NULL DEFAULT 'owed',
    reason              VARCHAR(500)    NOT NULL,
    created_by_admin_id BIGINT UNSIGNED NOT NULL,
    created_at          DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    made_at             DATETIME(6)     NULL,
    made_by_admin_id    BIGINT UNSIGNED NULL,
    provider_reference  VARCHAR(255)    NULL,
    PRIMARY KEY (refund_id),
    -- one refund per voided payment (a void happens once)
    UNIQUE KEY uq_provider_refunds_payment (payment_id),
    KEY ix_provider_refunds_status (status, created_at),
    CONSTRAINT fk_provider_refunds_charge FOREIGN KEY (charge_id)
        REFERENCES provider_charges (charge_id),
    CONSTRAINT fk_provider_refunds_payment FOREIGN KEY (payment_id) REFERENCES payments (payment_id),
    CONSTRAINT fk_provider_refunds_created_by FOREIGN KEY (created_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT fk_provider_refunds_made_by FOREIGN KEY (made_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT ck_provider_refunds_amount CHECK (amount > 0),
    CONSTRAINT ck_provider_refunds_status CHECK (
        (status = 'owed' AND made_at IS NULL AND made_by_admin_id IS NULL)
     OR (status = 'made' AND made_at IS NOT NULL AND made_by_admin_id IS NOT NULL)
    )
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A refund is for a voided card payment of its charge, and never more than the charge.
CREATE TRIGGER provider_refunds_before_insert BEFORE INSERT ON provider_refunds FOR EACH ROW
BEGIN
    IF NEW.status <> 'owed' OR NOT EXISTS (
        SELECT 1 FROM payments p JOIN provider_charges c
          ON c.telegram_payment_charge_id = p.telegram_payment_charge_id
        WHERE p.payment_id = NEW.payment_id AND c.charge_id = NEW.charge_id
          AND p.voided_at IS NOT NULL)
       OR NEW.amount > (SELECT amount FROM provider_charges WHERE charge_id = NEW.charge_id) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ebb: a provider refund is for a voided card payment of its charge';
    END IF;
END;

-- Once recorded, a refund only changes from owed to made.
CREATE TRIGGER provider_refunds_before_update BEFORE UPDATE ON provider_refunds FOR EACH ROW
BEGIN
    IF NOT (NEW.charge_id <=> OLD.charge_id AND NEW.payment_id <=> OLD.payment_id
            AND NEW.amount <=> OLD.amount AND NEW.reason <=> OLD.reason
            AND NEW.created_by_admin_id <=> OLD.created_by_admin_id
            AND NEW.created_at <=> OLD.created_at
            AND OLD.status = 'owed' AND NEW.status = 'made') THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'ebb: a refund owed can only be marked made';
    END IF;
END;
