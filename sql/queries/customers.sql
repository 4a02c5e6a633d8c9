-- name: insert_customer
-- Add a customer (meter number is unique).
INSERT INTO customers (meter_number, full_name, address, phone_number, email)
VALUES (:meter_number, :full_name, :address, :phone_number, :email)

-- name: get_customer
-- One customer by id.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at, credit
FROM customers WHERE customer_id = :customer_id

-- name: get_customer_by_meter
-- One customer by meter number.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at, credit
FROM customers WHERE meter_number = :meter_number

-- name: get_customer_by_telegram
-- The customer linked to a Telegram account.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at, credit
FROM customers WHERE telegram_user_id = :telegram_user_id

-- name: lock_customer
-- One customer by id, locked for an update.
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at, credit
FROM customers WHERE customer_id = :customer_id FOR UPDATE

-- name: search_customers
-- A page of customers whose name or meter number contains the search text. Names are matched
-- without their combining marks (:name_pattern against name_search, migration 0012), in the
-- column's case- and accent-blind collation: "okafor" finds "Ngozi Ọkafọ́r".
SELECT customer_id, meter_number, full_name, address, phone_number, email, password_hash,
       telegram_user_id, created_at, credit
FROM customers
WHERE :pattern IS NULL OR name_search LIKE :name_pattern OR meter_number LIKE :pattern
ORDER BY full_name, customer_id
LIMIT :limit OFFSET :offset

-- name: count_customers
-- How many customers match the search text (as search_customers).
SELECT COUNT(*) FROM customers
WHERE :pattern IS NULL OR name_search LIKE :name_pattern OR meter_number LIKE :pattern

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

-- name: get_dashboard
-- A customer's dashboard (customers.dashboard) as one JSON object: the customer; balance due,
-- open bill count, next due date and what is overdue on :today in one pass over the open bills; the newest bill and
-- its lines; the newest payment not voided. The customer is taken by :customer_id or, when that is NULL, as
-- the one linked to :telegram_user_id (found once, by its unique index), so a customer's own
-- /dashboard needs no look-up of its own first. One JSON value instead of four result sets:
-- the driver parses one column's description instead of thirty-three, and the value is read
-- in C (docs/benchmarks.md, the bot end to end). JSON_EXTRACT(…, '$') keeps each part an
-- object, not a quoted string; a part with no row is null.
SELECT JSON_OBJECT(
    'customer', JSON_OBJECT(
        'customer_id', c.customer_id, 'meter_number', c.meter_number,
        'full_name', c.full_name, 'address', c.address, 'phone_number', c.phone_number,
        'email', c.email, 'has_password', COALESCE(c.password_hash, '') <> '',
        'telegram_user_id', c.telegram_user_id, 'created_at', c.created_at,
        'credit', c.credit),
    'summary', JSON_EXTRACT((
        SELECT JSON_OBJECT('balance_due', COALESCE(SUM(b.total_amount - b.amount_paid), 0),
                           'next_due_date', MIN(b.due_date), 'open_bills', COUNT(*),
                           'overdue', COALESCE(SUM(IF(b.due_date < :today,
                                                      b.total_amount - b.amount_paid, 0)), 0),
                           'overdue_bills', COALESCE(SUM(b.due_date < :today), 0))
        FROM bills b
        WHERE b.customer_id = c.customer_id AND b.payment_status IN ('unpaid', 'partial')
    ), '$'),
    'last_bill', JSON_EXTRACT((
        SELECT JSON_OBJECT('bill_id', b.bill_id, 'customer_id', b.customer_id,
                           'billing_month', b.billing_month, 'units_used', b.units_used,
                           'rate_per_unit', b.rate_per_unit, 'total_amount', b.total_amount,
                           'amount_paid', b.amount_paid, 'payment_status', b.payment_status,
                           'due_date', b.due_date)
        FROM bills b
        WHERE b.customer_id = c.customer_id
        ORDER BY b.billing_month DESC LIMIT 1
    ), '$'),
    'last_bill_lines', JSON_EXTRACT((
        SELECT JSON_ARRAYAGG(JSON_OBJECT(
                   'line_id', l.line_id, 'kind', l.kind, 'amount', l.amount, 'units', l.units,
                   'rate', l.rate, 'band_from_kwh', l.band_from_kwh,
                   'band_to_kwh', l.band_to_kwh, 'percent', l.percent,
                   'fee_period', l.fee_period, 'waives_line_id', l.waives_line_id,
                   'note', l.note) ORDER BY l.line_id)
        FROM bill_lines l
        WHERE l.bill_id = (SELECT b.bill_id FROM bills b
                           WHERE b.customer_id = c.customer_id
                           ORDER BY b.billing_month DESC LIMIT 1)
    ), '$'),
    'last_payment', JSON_EXTRACT((
        SELECT JSON_OBJECT('payment_id', p.payment_id, 'bill_id', p.bill_id,
                           'date_of_payment', p.date_of_payment, 'amount_paid', p.amount_paid,
                           'payment_method', p.payment_method,
                           'billing_month', p.billing_month,
                           'payment_status', p.payment_status,
                           'receipt_number', p.receipt_number,
                           'idempotency_key', p.idempotency_key,
                           'recorded_by_admin_id', p.recorded_by_admin_id,
                           'voided_at', p.voided_at, 'void_reason', p.void_reason)
        FROM payments p JOIN bills b ON b.bill_id = p.bill_id
        WHERE b.customer_id = c.customer_id AND p.voided_at IS NULL
        ORDER BY p.payment_id DESC LIMIT 1
    ), '$'))
FROM customers c
WHERE c.customer_id = COALESCE(:customer_id,
                               (SELECT customer_id FROM customers
                                WHERE telegram_user_id = :telegram_user_id))
