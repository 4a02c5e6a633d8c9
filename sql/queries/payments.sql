-- name: get_payment_by_idempotency_key
-- The payment already made with this idempotency key, if any.
SELECT payment_id, bill_id, date_of_payment, amount_paid, payment_method, billing_month,
       payment_status, receipt_number, idempotency_key, recorded_by_admin_id, voided_at,
       void_reason, bill_total, paid_to_date, units_used, rate_per_unit
FROM payments WHERE idempotency_key = :idempotency_key

-- name: find_payment_by_idempotency_key
-- Which payment (and bill) an idempotency key was used for, if any: the cheap first look.
SELECT payment_id, bill_id FROM payments WHERE idempotency_key = :idempotency_key

-- name: get_payment
-- One payment by id.
SELECT payment_id, bill_id, date_of_payment, amount_paid, payment_method, billing_month,
       payment_status, receipt_number, idempotency_key, recorded_by_admin_id, voided_at,
       void_reason, bill_total, paid_to_date, units_used, rate_per_unit
FROM payments WHERE payment_id = :payment_id

-- name: lock_payment
-- One payment by id, locked for voiding.
SELECT payment_id, bill_id, date_of_payment, amount_paid, payment_method, billing_month,
       payment_status, receipt_number, idempotency_key, recorded_by_admin_id, voided_at,
       void_reason, bill_total, paid_to_date, units_used, rate_per_unit
FROM payments WHERE payment_id = :payment_id FOR UPDATE

-- name: insert_payment
-- Record a payment made in the chat (inside the transaction that holds the bill's lock). The
-- triggers of migration 0005 add it to its bill and to the report totals, and take the
-- receipt's copy of the bill's figures from the bill itself.
INSERT INTO payments (bill_id, date_of_payment, amount_paid, payment_method, billing_month,
                      payment_status, receipt_number, idempotency_key, bill_total,
                      paid_to_date, units_used, rate_per_unit)
VALUES (:bill_id, :date_of_payment, :amount_paid, :payment_method, :billing_month,
        :payment_status, :receipt_number, :idempotency_key, :bill_total, :paid_to_date,
        :units_used, :rate_per_unit)

-- name: insert_office_payment
-- Record a payment taken by staff (admin account only: the customer account may not name
-- who recorded a payment). As insert_payment otherwise.
INSERT INTO payments (bill_id, date_of_payment, amount_paid, payment_method, billing_month,
                      payment_status, receipt_number, idempotency_key, bill_total,
                      paid_to_date, units_used, rate_per_unit, recorded_by_admin_id)
VALUES (:bill_id, :date_of_payment, :amount_paid, :payment_method, :billing_month,
        :payment_status, :receipt_number, :idempotency_key, :bill_total, :paid_to_date,
        :units_used, :rate_per_unit, :recorded_by_admin_id)

-- name: insert_card_payment
-- Record the bill's part of a provider charge (admin account: the customer account may not
-- name a charge). The charge is recorded first, in the same transaction (provider_charges).
INSERT INTO payments (bill_id, date_of_payment, amount_paid, payment_method, billing_month,
                      payment_status, receipt_number, idempotency_key, bill_total,
                      paid_to_date, units_used, rate_per_unit, telegram_payment_charge_id,
                      provider_payment_charge_id)
VALUES (:bill_id, :date_of_payment, :amount_paid, :payment_method, :billing_month,
        :payment_status, :receipt_number, :idempotency_key, :bill_total, :paid_to_date,
        :units_used, :rate_per_unit, :telegram_payment_charge_id, :provider_payment_charge_id)

-- name: void_payment
-- Mark a payment void (it is never deleted); migration 0005's triggers take it off its bill
-- and off the report totals.
UPDATE payments SET voided_at = :now, voided_by_admin_id = :admin_id, void_reason = :reason
WHERE payment_id = :payment_id AND voided_at IS NULL

-- name: move_bill_payments_month
-- Keep the payments' billing month equal to their bill's after the bill's month changed.
UPDATE payments SET billing_month = :billing_month WHERE bill_id = :bill_id

-- name: customer_payments
-- A page of one customer's payments, newest first.
SELECT p.payment_id, p.bill_id, p.date_of_payment, p.amount_paid, p.payment_method,
       p.billing_month, p.payment_status, p.receipt_number, p.idempotency_key,
       p.recorded_by_admin_id, p.voided_at, p.void_reason, p.bill_total, p.paid_to_date,
       p.units_used, p.rate_per_unit
FROM payments p JOIN bills b ON b.bill_id = p.bill_id
WHERE b.customer_id = :customer_id
ORDER BY p.payment_id DESC
LIMIT :limit OFFSET :offset

-- name: count_customer_payments
-- How many payments one customer has made.
SELECT COUNT(*) FROM payments p JOIN bills b ON b.bill_id = p.bill_id
WHERE b.customer_id = :customer_id

-- name: list_payments
-- A page of payments, optionally in one calendar month (by date of payment).
SELECT p.payment_id, p.bill_id, p.date_of_payment, p.amount_paid, p.payment_method,
       p.billing_month, p.payment_status, p.receipt_number, p.idempotency_key,
       p.recorded_by_admin_id, p.voided_at, p.void_reason, p.bill_total, p.paid_to_date,
       p.units_used, p.rate_per_unit, c.meter_number, c.full_name
FROM payments p
JOIN bills b ON b.bill_id = p.bill_id
JOIN customers c ON c.customer_id = b.customer_id
WHERE (:start IS NULL OR (p.date_of_payment >= :start AND p.date_of_payment < :end))
  AND (:customer_id IS NULL OR b.customer_id = :customer_id)
ORDER BY p.payment_id DESC
LIMIT :limit OFFSET :offset

-- name: count_payments
-- How many payments match the month / customer filter.
SELECT COUNT(*)
FROM payments p JOIN bills b ON b.bill_id = p.bill_id
WHERE (:start IS NULL OR (p.date_of_payment >= :start AND p.date_of_payment < :end))
  AND (:customer_id IS NULL OR b.customer_id = :customer_id)
