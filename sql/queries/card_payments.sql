-- Card payments through Telegram Payments, and account credit (migration 0006).

-- name: insert_invoice
-- An invoice for part or all of one bill; its reference is the Telegram invoice payload.
INSERT INTO invoices (reference, customer_id, bill_id, amount, currency, expires_at)
VALUES (:reference, :customer_id, :bill_id, :amount, :currency, :expires_at)

-- name: invoice_for_checkout
-- An invoice by its reference, with what the pre-checkout answer needs: the Telegram account
-- linked to its customer and the bill's balance now.
SELECT i.invoice_id, i.reference, i.customer_id, i.bill_id, i.amount, i.currency, i.status,
       i.expires_at, c.telegram_user_id, b.total_amount - b.amount_paid AS outstanding,
       b.billing_month
FROM invoices i
JOIN customers c ON c.customer_id = i.customer_id
JOIN bills b ON b.bill_id = i.bill_id
WHERE i.reference = :reference

-- name: lock_invoice
-- An invoice by its reference, locked while its charge is recorded.
SELECT invoice_id, reference, customer_id, bill_id, amount, currency, status, expires_at
FROM invoices WHERE reference = :reference FOR UPDATE

-- name: mark_invoice_paid
-- The invoice has been paid (the first time; a second payment of it becomes credit).
UPDATE invoices SET status = 'paid', paid_at = :now
WHERE invoice_id = :invoice_id AND status <> 'paid'

-- name: insert_provider_charge
-- Money a provider has taken, once per Telegram charge id; its trigger credits `credited`.
INSERT INTO provider_charges (telegram_payment_charge_id, provider_payment_charge_id,
                              invoice_id, customer_id, amount, currency, credited, received_at)
VALUES (:telegram_payment_charge_id, :provider_payment_charge_id, :invoice_id, :customer_id,
        :amount, :currency, :credited, :received_at)

-- name: charge_by_telegram_id
-- A provider charge already recorded, with the payment made from it (if any).
SELECT ch.charge_id, ch.telegram_payment_charge_id, ch.provider_payment_charge_id,
       ch.invoice_id, ch.customer_id, ch.amount, ch.currency, ch.credited, ch.received_at,
       p.payment_id
FROM provider_charges ch
LEFT JOIN payments p ON p.telegram_payment_charge_id = ch.telegram_payment_charge_id
WHERE ch.telegram_payment_charge_id = :telegram_payment_charge_id

-- name: lock_customer_credit
-- A customer's account credit, locked until the transaction ends (after their bill's lock).
SELECT credit FROM customers WHERE customer_id = :customer_id FOR UPDATE

-- name: customer_credit
-- A customer's account credit.
SELECT credit FROM customers WHERE customer_id = :customer_id

-- name: refund_credit
-- Staff paid some of a customer's credit back (its trigger takes it off their credit).
INSERT INTO credit_entries (customer_id, kind, amount, admin_id, reason)
VALUES (:customer_id, 'refunded', :amount, :admin_id, :reason)

-- name: credit_entries
-- A customer's credit history, newest first.
SELECT entry_id, kind, amount, charge_id, payment_id, admin_id, reason, created_at
FROM credit_entries WHERE customer_id = :customer_id
ORDER BY entry_id DESC LIMIT :limit

-- name: invoice_by_id
-- One invoice by id.
SELECT invoice_id, reference, customer_id, bill_id, amount, currency, status, expires_at
FROM invoices WHERE invoice_id = :invoice_id

-- name: charge_of_payment
-- The provider charge a card payment was the bill's part of, with what it credited.
SELECT c.charge_id, c.credited, c.telegram_payment_charge_id
FROM payments p
JOIN provider_charges c ON c.telegram_payment_charge_id = p.telegram_payment_charge_id
WHERE p.payment_id = :payment_id

-- name: insert_provider_refund
-- A refund owed at the provider for a voided card payment.
INSERT INTO provider_refunds (charge_id, payment_id, amount, reason, created_by_admin_id)
VALUES (:charge_id, :payment_id, :amount, :reason, :admin_id)

-- name: mark_refund_made
-- Staff refunded the money at the provider.
UPDATE provider_refunds
SET status = 'made', made_at = :now, made_by_admin_id = :admin_id,
    provider_reference = :provider_reference
WHERE refund_id = :refund_id AND status = 'owed'

-- name: refunds
-- Refunds owed at the provider (or made), oldest first, with their charge ids.
SELECT r.refund_id, r.payment_id, r.amount, r.status, r.reason, r.created_at, r.made_at,
       r.provider_reference, c.telegram_payment_charge_id, c.provider_payment_charge_id
FROM provider_refunds r JOIN provider_charges c ON c.charge_id = r.charge_id
WHERE :status IS NULL OR r.status = :status
ORDER BY r.refund_id
