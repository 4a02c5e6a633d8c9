-- name: legacy_columns
-- The old database's tables and their columns (the import checks them before reading).
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION

-- name: legacy_customer_rows
-- Every row of the old system's customers, with whatever columns it has.
SELECT * FROM `Customer`

-- name: legacy_bill_rows
-- Every row of the old system's bills.
SELECT * FROM `Bills`

-- name: legacy_payment_rows
-- Every row of the old system's payments.
SELECT * FROM `Payment`

-- name: legacy_admin_rows
-- Every row of the old system's staff accounts.
SELECT * FROM `Admin`

-- name: legacy_ids
-- Every old row an earlier import brought in, and what it became.
SELECT legacy_table, legacy_id, new_id FROM legacy_ids

-- name: insert_legacy_id
-- Remember which old row a new customer, bill or staff account came from.
INSERT INTO legacy_ids (legacy_table, legacy_id, new_id)
VALUES (:legacy_table, :legacy_id, :new_id)

-- name: legacy_customer_bills
-- The bills of every customer an earlier import brought in (what is paid on them, and the
-- months they hold).
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date
FROM legacy_ids l
JOIN bills b ON b.customer_id = l.new_id
WHERE l.legacy_table = 'Customer'

-- name: legacy_payment_keys
-- The idempotency keys of the old system's payments already brought in.
SELECT idempotency_key FROM payments WHERE idempotency_key LIKE 'legacy:%'

-- name: staff_names_and_emails
-- Every staff account's name and email (an old one must not take either).
SELECT admin_id, admin_name, email FROM admins

-- name: insert_legacy_customer
-- Add a customer from the old system, with its password hash as the old system kept it.
INSERT INTO customers (meter_number, full_name, address, phone_number, email, password_hash)
VALUES (:meter_number, :full_name, :address, :phone_number, :email, :password_hash)

-- name: legacy_consistent_read
-- The next transaction reads the old tables from one snapshot (the pool's sessions are READ
-- COMMITTED, where each statement sees the newest rows).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ
