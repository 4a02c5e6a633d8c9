-- name: insert_customer
-- Add a customer (meter number is unique).
INSERT INTO customers (meter_number, full_name, address, phone_number, email)
VALUES (:meter_number, :full_name, :address, :phone_number, :email)

-- name: get_customer
-- One customer by id.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers WHERE customer_id = :customer_id

-- name: get_customer_by_meter
-- One customer by meter number.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers WHERE meter_number = :meter_number

-- name: get_customer_by_telegram
-- The customer linked to a Telegram account.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers WHERE telegram_user_id = :telegram_user_id

-- name: lock_customer
-- One customer by id, locked for an update.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers WHERE customer_id = :customer_id FOR UPDATE

-- name: search_customers
-- A page of customers whose name or meter number contains the search text.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers
WHERE :pattern IS NULL OR full_name LIKE :pattern OR meter_number LIKE :pattern
ORDER BY full_name, customer_id
LIMIT :limit OFFSET :offset

-- name: count_customers
-- How many customers match the search text.
SELECT COUNT(*) FROM customers
WHERE :pattern IS NULL OR full_name LIKE :pattern OR meter_number LIKE :pattern

-- name: update_customer_contact
-- Change a customer's own contact fields (the customer account may do this).
UPDATE customers SET phone_number = :phone_number, email = :email, address = :address
WHERE customer_id = :customer_id

-- name: update_customer_by_admin
-- Change any of a customer's details (admin account).
UPDATE customers
SET full_name = :full_name, meter_number = :meter_number, phone_number = :phone_number,
    email = :email, address = :address
WHERE customer_id = :customer_id

-- name: set_customer_password
-- Store a new password hash.
UPDATE customers SET password_hash = :password_hash WHERE customer_id = :customer_id

-- name: unlink_telegram_from_customers
-- Free a Telegram account from whichever customer it is linked to.
UPDATE customers SET telegram_user_id = NULL WHERE telegram_user_id = :telegram_user_id

-- name: link_customer_telegram
-- Link a Telegram account to a customer.
UPDATE customers SET telegram_user_id = :telegram_user_id WHERE customer_id = :customer_id

-- name: insert_activation_code
-- Store the hash of a new one-time activation code.
INSERT INTO activation_codes (code_hash, customer_id, expires_at, created_by_admin_id)
VALUES (:code_hash, :customer_id, :expires_at, :admin_id)

-- name: lock_activation_code
-- An activation code by its hash, locked so it is redeemed once.
SELECT code_hash, customer_id, expires_at, used_at
FROM activation_codes WHERE code_hash = :code_hash FOR UPDATE

-- name: mark_activation_code_used
-- Spend an activation code.
UPDATE activation_codes SET used_at = :now WHERE code_hash = :code_hash

-- The dashboard's four reads (customers.dashboard) take the customer by :customer_id, or,
-- when that is NULL, the one linked to :telegram_user_id (found once, by its unique index),
-- so a customer's own /dashboard needs no look-up of its own first.

-- name: get_dashboard_customer
-- The customer of a dashboard.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at
FROM customers
WHERE customer_id = COALESCE(:customer_id,
                             (SELECT customer_id FROM customers
                              WHERE telegram_user_id = :telegram_user_id))

-- name: get_dashboard
-- A customer's balance due, bill count and next due date in one pass.
SELECT COALESCE(SUM(total_amount - amount_paid), 0) AS balance_due,
       MIN(due_date) AS next_due_date,
       COUNT(*) AS open_bills
FROM bills
WHERE customer_id = COALESCE(:customer_id,
                             (SELECT customer_id FROM customers
                              WHERE telegram_user_id = :telegram_user_id))
  AND payment_status IN ('unpaid', 'partial')
