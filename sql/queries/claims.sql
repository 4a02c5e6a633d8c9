-- name: insert_claim
-- File a payment claim (customer account: the decision columns are not in its grant). The
-- trigger of migration 0007 sets its reference_key and created_at and refuses a claim filed
-- already decided or on another customer's bill.
INSERT INTO payment_claims (customer_id, bill_id, amount, payment_method, reference)
VALUES (:customer_id, :bill_id, :amount, :payment_method, :reference)

-- name: get_claim
-- One claim by id.
SELECT claim_id, customer_id, bill_id, amount, payment_method, reference, status, created_at,
       decided_at, decided_by_admin_id, reject_reason, payment_id
FROM payment_claims WHERE claim_id = :claim_id

-- name: lock_claim
-- One claim by id, locked until the transaction ends (deciding it).
SELECT claim_id, customer_id, bill_id, amount, payment_method, reference, status, created_at,
       decided_at, decided_by_admin_id, reject_reason, payment_id
FROM payment_claims WHERE claim_id = :claim_id FOR UPDATE

-- name: find_claim_by_reference
-- The claim that holds a reference, however it is spelt (the key as the trigger makes it).
SELECT claim_id, customer_id, bill_id, amount, payment_method, reference, status, created_at,
       decided_at, decided_by_admin_id, reject_reason, payment_id
FROM payment_claims
WHERE reference_key = LOWER(REPLACE(TRIM(:reference), ' ', ''))

-- name: get_claim_with_customer
-- One claim with its customer and its bill's month.
SELECT k.claim_id, k.customer_id, k.bill_id, k.amount, k.payment_method, k.reference,
       k.status, k.created_at, k.decided_at, k.decided_by_admin_id, k.reject_reason,
       k.payment_id, c.full_name, c.meter_number, c.telegram_user_id, b.billing_month
FROM payment_claims k
JOIN customers c ON c.customer_id = k.customer_id
JOIN bills b ON b.bill_id = k.bill_id
WHERE k.claim_id = :claim_id

-- name: pending_claims
-- A page of the pending claims, oldest first, with their customers and bills' months.
SELECT k.claim_id, k.customer_id, k.bill_id, k.amount, k.payment_method, k.reference,
       k.status, k.created_at, k.decided_at, k.decided_by_admin_id, k.reject_reason,
       k.payment_id, c.full_name, c.meter_number, c.telegram_user_id, b.billing_month
FROM payment_claims k
JOIN customers c ON c.customer_id = k.customer_id
JOIN bills b ON b.bill_id = k.bill_id
WHERE k.status = 'pending'
ORDER BY k.created_at, k.claim_id
LIMIT :limit OFFSET :offset

-- name: count_pending_claims
-- How many claims wait for staff.
SELECT COUNT(*) FROM payment_claims WHERE status = 'pending'

-- name: customer_claims
-- One customer's newest claims.
SELECT claim_id, customer_id, bill_id, amount, payment_method, reference, status, created_at,
       decided_at, decided_by_admin_id, reject_reason, payment_id
FROM payment_claims
WHERE customer_id = :customer_id
ORDER BY created_at DESC, claim_id DESC
LIMIT :limit

-- name: confirm_claim
-- Mark a pending claim confirmed by its payment (the trigger checks the payment matches).
UPDATE payment_claims
SET status = 'confirmed', decided_at = :decided_at, decided_by_admin_id = :admin_id,
    payment_id = :payment_id
WHERE claim_id = :claim_id AND status = 'pending'

-- name: reject_claim
-- Mark a pending claim rejected, with the reason the customer is told.
UPDATE payment_claims
SET status = 'rejected', decided_at = :decided_at, decided_by_admin_id = :admin_id,
    reject_reason = :reason
WHERE claim_id = :claim_id AND status = 'pending'
