-- depends: 0016_receipt_credit
-- The billing engine's tables (issue 15): tariffs with versions and consumption bands, meter
-- readings, and bills made of lines.
--
--   * a tariff (code, name, customer class) has versions by effective_from; a version holds
--     its bands, a fixed monthly charge, a tax percentage and the late-fee rule; a bill keeps
--     the version it was computed with, so changing a tariff never changes an issued bill;
--   * a customer without a tariff is billed on the flat tariff made from DEFAULT_TARIFF (one
--     band, no fixed charge, no tax): the seed's units x rate;
--   * a reading belongs to a customer's meter and a billing month (one per month): entered by
--     staff, imported, submitted by the customer (pending until staff accept it) or estimated
--     by a bill run;
--   * a bill's total_amount is the sum of its lines (energy per band, fixed charge, tax, late
--     fees, waivers, corrections); every line is written by domain/ledger.py in the
--     transaction that moves the bill. A late fee is charged once per bill and fee period
--     (the UNIQUE key); a waiver takes back one fee, once.

CREATE TABLE tariffs (
    tariff_id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tariff_code    VARCHAR(32)  NOT NULL,
    name           VARCHAR(200) NOT NULL,
    customer_class VARCHAR(50)  NOT NULL,
    created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (tariff_id),
    UNIQUE KEY uq_tariffs_code (tariff_code),
    CONSTRAINT ck_tariffs_code CHECK (CHAR_LENGTH(tariff_code) >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tariff_versions (
    version_id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tariff_id           BIGINT UNSIGNED NOT NULL,
    effective_from      DATE          NOT NULL,
    fixed_charge        DECIMAL(12,2) NOT NULL DEFAULT 0.00,
    tax_percent         DECIMAL(5,2)  NOT NULL DEFAULT 0.00,
    late_fee_percent    DECIMAL(5,2)  NOT NULL DEFAULT 0.00,
    late_fee_fixed      DECIMAL(12,2) NOT NULL DEFAULT 0.00,
    late_fee_cap        DECIMAL(12,2) NULL,
    grace_days          SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    created_by_admin_id BIGINT UNSIGNED NULL,
    created_at          DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (version_id),
    UNIQUE KEY uq_tariff_versions_from (tariff_id, effective_from),
    CONSTRAINT fk_tariff_versions_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (tariff_id),
    CONSTRAINT fk_tariff_versions_admin FOREIGN KEY (created_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT ck_tariff_versions_fixed CHECK (fixed_charge >= 0),
    CONSTRAINT ck_tariff_versions_tax CHECK (tax_percent >= 0 AND tax_percent <= 100),
    CONSTRAINT ck_tariff_versions_fee_percent CHECK (
        late_fee_percent >= 0 AND late_fee_percent <= 100),
    CONSTRAINT ck_tariff_versions_fee_fixed CHECK (late_fee_fixed >= 0),
    CONSTRAINT ck_tariff_versions_fee_cap CHECK (late_fee_cap IS NULL OR late_fee_cap > 0),
    CONSTRAINT ck_tariff_versions_grace CHECK (grace_days <= 365)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tariff_bands (
    version_id   BIGINT UNSIGNED   NOT NULL,
    band_no      SMALLINT UNSIGNED NOT NULL,
    from_kwh     DECIMAL(12,2)     NOT NULL,
    to_kwh       DECIMAL(12,2)     NULL,
    rate_per_kwh DECIMAL(12,4)     NOT NULL,
    PRIMARY KEY (version_id, band_no),
    CONSTRAINT fk_tariff_bands_version FOREIGN KEY (version_id)
        REFERENCES tariff_versions (version_id),
    CONSTRAINT ck_tariff_bands_from CHECK (from_kwh >= 0),
    CONSTRAINT ck_tariff_bands_to CHECK (to_kwh IS NULL OR to_kwh > from_kwh),
    CONSTRAINT ck_tariff_bands_rate CHECK (rate_per_kwh >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- NULL: the flat tariff made from DEFAULT_TARIFF. meter_digits: where the register rolls
-- over (999999 -> 000000 for six digits).
ALTER TABLE customers
    ADD COLUMN tariff_id BIGINT UNSIGNED NULL,
    ADD COLUMN meter_digits TINYINT UNSIGNED NOT NULL DEFAULT 6,
    ADD CONSTRAINT fk_customers_tariff FOREIGN KEY (tariff_id) REFERENCES tariffs (tariff_id),
    ADD CONSTRAINT ck_customers_meter_digits CHECK (meter_digits BETWEEN 3 AND 9);

CREATE TABLE meter_readings (
    reading_id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id          BIGINT UNSIGNED NOT NULL,
    billing_month        DATE          NOT NULL,
    reading              DECIMAL(12,2) NOT NULL,
    -- staff (typed in the chat), import (CSV), customer (submitted in the chat), estimate
    -- (made by a bill run from the last three months)
    source               VARCHAR(10)   NOT NULL,
    -- a customer's submission is pending until staff accept (or correct) or reject it
    status               VARCHAR(10)   NOT NULL DEFAULT 'accepted',
    -- what the customer typed, kept when staff corrected it
    submitted_reading    DECIMAL(12,2) NULL,
    photo_file_id        VARCHAR(255)  NULL,
    entered_by_admin_id  BIGINT UNSIGNED NULL,
    reviewed_by_admin_id BIGINT UNSIGNED NULL,
    created_at           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                                       ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (reading_id),
    UNIQUE KEY uq_meter_readings_month (customer_id, billing_month),
    KEY ix_meter_readings_month_status (billing_month, status),
    CONSTRAINT fk_meter_readings_customer FOREIGN KEY (customer_id)
        REFERENCES customers (customer_id),
    CONSTRAINT fk_meter_readings_entered_by FOREIGN KEY (entered_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT fk_meter_readings_reviewed_by FOREIGN KEY (reviewed_by_admin_id)
        REFERENCES admins (admin_id),
    CONSTRAINT ck_meter_readings_reading CHECK (reading >= 0),
    CONSTRAINT ck_meter_readings_month CHECK (DAYOFMONTH(billing_month) = 1),
    CONSTRAINT ck_meter_readings_source CHECK (
        source IN ('staff', 'import', 'customer', 'estimate')),
    CONSTRAINT ck_meter_readings_status CHECK (status IN ('accepted', 'pending', 'rejected'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A bill on a meter reading keeps both readings and its tariff version; units may be 0 (a
-- month with no consumption still owes the fixed charge).
ALTER TABLE bills
    ADD COLUMN tariff_version_id BIGINT UNSIGNED NULL,
    ADD COLUMN previous_reading DECIMAL(12,2) NULL,
    ADD COLUMN current_reading DECIMAL(12,2) NULL,
    ADD COLUMN estimated BOOLEAN NOT NULL DEFAULT FALSE,
    ADD CONSTRAINT fk_bills_tariff_version FOREIGN KEY (tariff_version_id)
        REFERENCES tariff_versions (version_id),
    DROP CONSTRAINT ck_bills_units,
    ADD CONSTRAINT ck_bills_units CHECK (units_used >= 0);

CREATE TABLE bill_lines (
    line_id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    bill_id        BIGINT UNSIGNED NOT NULL,
    -- energy (one per band used), fixed, tax, late_fee, waiver, correction
    kind           VARCHAR(12)   NOT NULL,
    -- an energy line: the band's range and the units charged in it at its rate
    band_from_kwh  DECIMAL(12,2) NULL,
    band_to_kwh    DECIMAL(12,2) NULL,
    units          DECIMAL(12,2) NULL,
    rate           DECIMAL(12,4) NULL,
    -- a tax line: the percentage
    percent        DECIMAL(5,2)  NULL,
    amount         DECIMAL(12,2) NOT NULL,
    -- a late fee: the period it was charged for (once per bill and period)
    fee_period     DATE          NULL,
    -- a waiver: the late fee it takes back (once)
    waives_line_id BIGINT UNSIGNED NULL,
    admin_id       BIGINT UNSIGNED NULL,
    note           VARCHAR(300)  NULL,
    created_at     DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (line_id),
    KEY ix_bill_lines_bill (bill_id),
    UNIQUE KEY uq_bill_lines_fee_period (bill_id, fee_period),
    UNIQUE KEY uq_bill_lines_waives (waives_line_id),
    CONSTRAINT fk_bill_lines_bill FOREIGN KEY (bill_id) REFERENCES bills (bill_id),
    CONSTRAINT fk_bill_lines_waives FOREIGN KEY (waives_line_id) REFERENCES bill_lines (line_id),
    CONSTRAINT fk_bill_lines_admin FOREIGN KEY (admin_id) REFERENCES admins (admin_id),
    CONSTRAINT ck_bill_lines_kind CHECK (
        kind IN ('energy', 'fixed', 'tax', 'late_fee', 'waiver', 'correction')),
    CONSTRAINT ck_bill_lines_fee CHECK ((kind = 'late_fee') = (fee_period IS NOT NULL)),
    CONSTRAINT ck_bill_lines_waiver CHECK ((kind = 'waiver') = (waives_line_id IS NOT NULL)),
    CONSTRAINT ck_bill_lines_sign CHECK (
        (kind = 'waiver' AND amount < 0)
     OR (kind = 'correction' AND amount <> 0)
     OR (kind NOT IN ('waiver', 'correction') AND amount >= 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every bill issued before this migration was units x rate: one energy line.
INSERT INTO bill_lines (bill_id, kind, band_from_kwh, units, rate, amount)
SELECT bill_id, 'energy', 0, units_used, rate_per_unit, total_amount FROM bills;
