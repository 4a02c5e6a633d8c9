-- The seed's four tables (snake_case) plus what identities, throttling and auditing need.
-- Portable to MySQL 8: no MariaDB-only syntax. Money is DECIMAL(12,2); rates DECIMAL(12,4).

CREATE TABLE customers (
    customer_id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    meter_number     VARCHAR(32)  NOT NULL,
    full_name        VARCHAR(200) NOT NULL,
    address          VARCHAR(500) NOT NULL DEFAULT '',
    phone_number     VARCHAR(32)  NULL,
    email            VARCHAR(254) NULL,
    password_hash    VARCHAR(255) NULL,
    telegram_user_id BIGINT       NULL,
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (customer_id),
    UNIQUE KEY uq_customers_meter_number (meter_number),
    UNIQUE KEY uq_customers_telegram_user_id (telegram_user_id),
    KEY ix_customers_full_name (full_name),
    CONSTRAINT ck_customers_meter_number CHECK (CHAR_LENGTH(meter_number) >= 3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE admins (
    admin_id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    admin_name       VARCHAR(100) NOT NULL,
    email            VARCHAR(254) NOT NULL,
    password_hash    VARCHAR(255) NOT NULL,
    role             VARCHAR(50)  NOT NULL DEFAULT 'admin',
    telegram_user_id BIGINT       NULL,
    notify_payments  BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (admin_id),
    UNIQUE KEY uq_admins_admin_name (admin_name),
    UNIQUE KEY uq_admins_email (email),
    UNIQUE KEY uq_admins_telegram_user_id (telegram_user_id),
    CONSTRAINT ck_admins_role CHECK (role IN ('admin', 'viewer'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE bills (
    bill_id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id      BIGINT UNSIGNED NOT NULL,
    billing_month    DATE          NOT NULL,
    units_used       DECIMAL(12,2) NOT NULL,
    rate_per_unit    DECIMAL(12,4) NOT NULL,
    total_amount     DECIMAL(12,2) NOT NULL,
    amount_paid      DECIMAL(12,2) NOT NULL DEFAULT 0.00,
    payment_status   VARCHAR(10)   NOT NULL DEFAULT 'unpaid',
    due_date         DATE          NOT NULL,
    created_at       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (bill_id),
    UNIQUE KEY uq_bills_customer_month (customer_id, billing_month),
    -- outstanding / ageing reports and "unpaid bills due soon" reminders
    KEY ix_bills_status_due (payment_status, due_date),
    -- monthly trend report
    KEY ix_bills_month (billing_month),
    CONSTRAINT fk_bills_customer FOREIGN KEY (customer_id) REFERENCES customers (customer_id),
    CONSTRAINT ck_bills_units CHECK (units_used > 0),
    CONSTRAINT ck_bills_rate CHECK (rate_per_unit > 0),
    CONSTRAINT ck_bills_total CHECK (total_amount > 0),
    CONSTRAINT ck_bills_amount_paid CHECK (amount_paid >= 0 AND amount_paid <= total_amount),
    CONSTRAINT ck_bills_month_first_day CHECK (DAYOFMONTH(billing_month) = 1),
    CONSTRAINT ck_bills_status CHECK (
        (payment_status = 'unpaid'  AND amount_paid = 0)
     OR (payment_status = 'partial' AND amount_paid > 0 AND amount_paid < total_amount)
     OR (payment_status = 'paid'    AND amount_paid = total_amount)
    )
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE payments (
    payment_id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    bill_id              BIGINT UNSIGNED NOT NULL,
    date_of_payment      DATETIME(6)   NOT NULL,
    amount_paid          DECIMAL(12,2) NOT NULL,
    payment_method       VARCHAR(32)   NOT NULL,
    billing_month        DATE          NOT NULL,
    -- the bill's status right after this payment
    payment_status       VARCHAR(10)   NOT NULL,
    receipt_number       VARCHAR(32)   NOT NULL,
    -- the bill as it stood right after this payment, so a receipt re-sent later is the same
    bill_total           DECIMAL(12,2) NOT NULL,
    paid_to_date         DECIMAL(12,2) NOT NULL,
    units_used           DECIMAL(12,2) NOT NULL,
    rate_per_unit        DECIMAL(12,4) NOT NULL,
    idempotency_key      VARCHAR(64)   NOT NULL,
    -- NULL: the customer paid in the chat; otherwise the admin who recorded it at the office
    recorded_by_admin_id BIGINT UNSIGNED NULL,
    voided_at            DATETIME(6)   NULL,
    voided_by_admin_id   BIGINT UNSIGNED NULL,
    void_reason          VARCHAR(500)  NULL,
    created_at           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (payment_id),
    UNIQUE KEY uq_payments_receipt_number (receipt_number),
    UNIQUE KEY uq_payments_idempotency_key (idempotency_key),
    KEY ix_payments_bill (bill_id),
    -- revenue report by period / month / method
    KEY ix_payments_date (date_of_payment),
    CONSTRAINT fk_payments_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT fk_payments_recorded_by FOREIGN KEY (recorded_by_admin_id) REFERENCES admins (admin_id),
    CONSTRAINT fk_payments_voided_by FOREIGN KEY (voided_by_admin_id) REFERENCES admins (admin_id),
    CONSTRAINT ck_payments_amount CHECK (amount_paid > 0),
    CONSTRAINT ck_payments_paid_to_date CHECK (paid_to_date > 0 AND paid_to_date <= bill_total),
    CONSTRAINT ck_payments_status CHECK (payment_status IN ('partial', 'paid')),
    CONSTRAINT ck_payments_method CHECK (
        payment_method IN ('card', 'bank_transfer', 'mobile_money', 'cash', 'pos')
    ),
    CONSTRAINT ck_payments_void CHECK (
        (voided_at IS NULL AND voided_by_admin_id IS NULL AND void_reason IS NULL)
     OR (voided_at IS NOT NULL AND void_reason IS NOT NULL)
    )
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One-time activation codes; only a SHA-256 of the code is stored.
CREATE TABLE activation_codes (
    code_hash           CHAR(64)        NOT NULL,
    customer_id         BIGINT UNSIGNED NOT NULL,
    expires_at          DATETIME(6)     NOT NULL,
    used_at             DATETIME(6)     NULL,
    created_by_admin_id BIGINT UNSIGNED NULL,
    created_at          DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (code_hash),
    KEY ix_activation_codes_customer (customer_id),
    CONSTRAINT fk_activation_codes_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Failed-login counters, keyed by subject ("tg:<id>", "meter:<n>", "email:<e>").
-- Rows are reset by UPDATE, never deleted (the customer account has no DELETE).
CREATE TABLE login_throttle (
    subject           VARCHAR(300) NOT NULL,
    failures          INT          NOT NULL DEFAULT 0,
    window_started_at DATETIME(6)  NOT NULL,
    locked_until      DATETIME(6)  NULL,
    PRIMARY KEY (subject)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE audit_log (
    audit_id    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    admin_id    BIGINT UNSIGNED NULL,
    action      VARCHAR(64)  NOT NULL,
    entity_type VARCHAR(32)  NOT NULL,
    entity_id   VARCHAR(64)  NOT NULL,
    customer_id BIGINT UNSIGNED NULL,
    bill_id     BIGINT UNSIGNED NULL,
    before_data TEXT         NULL,
    after_data  TEXT         NULL,
    created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (audit_id),
    KEY ix_audit_customer (customer_id, created_at),
    KEY ix_audit_bill (bill_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
