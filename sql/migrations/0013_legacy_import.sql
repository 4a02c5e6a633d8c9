-- depends: 0008_provider_refunds
-- Bringing in the original console system's data (issue 14, `run_bot.py import-legacy`).
--
-- Which row of the old system each customer, bill and staff account came from, so that an
-- import run again adds nothing: a customer whose meter number staff changed since, or a bill
-- moved to another month, is still known as the old row it was. The old system's payments
-- need no row here: each carries the idempotency key `legacy:<payment_id>` (unique in
-- payments). Written and read by the admin account only (sql/grants.sql gives the customer
-- account nothing on it). No foreign key: `new_id` names a row of customers, bills or admins
-- according to `legacy_table`, the old table's own name.
CREATE TABLE legacy_ids (
    legacy_table VARCHAR(16)     NOT NULL,
    legacy_id    VARCHAR(64)     NOT NULL,
    new_id       BIGINT UNSIGNED NOT NULL,
    imported_at  DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (legacy_table, legacy_id),
    UNIQUE KEY uq_legacy_ids_new (legacy_table, new_id),
    CONSTRAINT ck_legacy_ids_table CHECK (legacy_table IN ('Customer', 'Bills', 'Admin'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
