-- Reconciling a month's money with the payment provider, the bank and the till (issue 13,
-- item 5; domain/reconcile.py). Read-only. Every bound is naive UTC, as the DATETIME columns
-- are stored; [:start, :end) is one local month. A payment's channel is how its money came:
-- 'card' (the bill's part of a provider charge), 'claim' (a transfer staff confirmed from a
-- customer's claim), 'transfer' (a transfer staff recorded directly), 'cash', 'pos', 'credit'.

-- name: reconcile_day_figures
-- Money events in [:start, :end) counted and summed per local day — the JSON array :days of
-- ["start", "end") pairs, numbered from 1 — and per channel: provider charges received
-- ('card') and their parts paid to bills ('card_to_bills') and put into credit
-- ('card_to_credit'); other payments by their date ('claim', 'transfer', 'cash', 'pos',
-- 'credit'); payments voided, by the day of the void ('void_<channel>'); credit refunded
-- ('refund'). A payment voided later still counts on its own day, and again as a void.
WITH paid AS (
    SELECT p.date_of_payment, p.voided_at, p.amount_paid,
           CASE
               WHEN p.payment_method IN ('bank_transfer', 'mobile_money')
                   THEN IF(c.claim_id IS NULL, 'transfer', 'claim')
               ELSE p.payment_method
           END AS channel
    FROM payments p
    LEFT JOIN payment_claims c ON c.payment_id = p.payment_id
    WHERE (p.date_of_payment >= :start AND p.date_of_payment < :end)
       OR (p.voided_at >= :start AND p.voided_at < :end)
)
SELECT d.day_number, e.channel, COUNT(*) AS events, SUM(e.amount) AS amount
FROM JSON_TABLE(:days, '$[*]' COLUMNS (
         day_number FOR ORDINALITY,
         starts DATETIME(6) PATH '$[0]',
         ends DATETIME(6) PATH '$[1]'
     )) d
JOIN (
    SELECT 'card' AS channel, received_at AS happened_at, amount
    FROM provider_charges
    WHERE received_at >= :start AND received_at < :end
    UNION ALL
    SELECT 'card_to_bills', received_at, amount - credited
    FROM provider_charges
    WHERE received_at >= :start AND received_at < :end AND amount > credited
    UNION ALL
    SELECT 'card_to_credit', received_at, credited
    FROM provider_charges
    WHERE received_at >= :start AND received_at < :end AND credited > 0
    UNION ALL
    -- card payments are counted above, from their charges
    SELECT channel, date_of_payment, amount_paid
    FROM paid
    WHERE channel <> 'card' AND date_of_payment >= :start AND date_of_payment < :end
    UNION ALL
    SELECT CONCAT('void_', channel), voided_at, amount_paid
    FROM paid
    WHERE voided_at >= :start AND voided_at < :end
    UNION ALL
    SELECT 'refund', created_at, amount
    FROM credit_entries
    WHERE kind = 'refunded' AND created_at >= :start AND created_at < :end
) e ON e.happened_at >= d.starts AND e.happened_at < d.ends
GROUP BY d.day_number, e.channel

-- name: reconcile_pending_claims
-- Transfer claims waiting for staff now: not money received until confirmed.
SELECT COUNT(*) AS claims, COALESCE(SUM(amount), 0) AS amount
FROM payment_claims
WHERE status = 'pending'

-- name: reconcile_credit_held
-- Account credit customers hold now (owed to them, not revenue), and how many hold some.
SELECT COUNT(*) AS customers, COALESCE(SUM(credit), 0) AS amount
FROM customers
WHERE credit > 0

-- name: reconcile_provider_refunds
-- Refunds of voided card payments at the provider now (migration 0008): owed, and made.
SELECT COALESCE(SUM(status = 'owed'), 0) AS owed_count,
       COALESCE(SUM(IF(status = 'owed', amount, 0)), 0) AS owed_amount,
       COALESCE(SUM(status = 'made'), 0) AS made_count,
       COALESCE(SUM(IF(status = 'made', amount, 0)), 0) AS made_amount
FROM provider_refunds

-- name: reconcile_charges
-- Each provider charge received in [:start, :end): both charge ids, what went to the bill and
-- to credit, the customer's meter, the invoice's bill month, and the card payment (if any).
SELECT ch.charge_id, ch.received_at, ch.telegram_payment_charge_id,
       ch.provider_payment_charge_id, ch.amount, ch.currency, ch.credited,
       cu.meter_number, b.billing_month, p.payment_id, p.receipt_number, p.voided_at
FROM provider_charges ch
JOIN invoices i ON i.invoice_id = ch.invoice_id
JOIN bills b ON b.bill_id = i.bill_id
JOIN customers cu ON cu.customer_id = ch.customer_id
LEFT JOIN payments p ON p.telegram_payment_charge_id = ch.telegram_payment_charge_id
WHERE ch.received_at >= :start AND ch.received_at < :end
ORDER BY ch.received_at, ch.charge_id

-- name: reconcile_payments
-- Each payment other than a card payment made in [:start, :end) (voided later or not), with
-- its channel, who recorded it and, for a confirmed claim, the transfer's reference.
SELECT p.payment_id, p.date_of_payment, p.amount_paid, p.payment_method, p.receipt_number,
       p.billing_month, cu.meter_number, a.admin_name AS recorded_by,
       c.reference AS claim_reference,
       CASE
           WHEN p.payment_method IN ('bank_transfer', 'mobile_money')
               THEN IF(c.claim_id IS NULL, 'transfer', 'claim')
           ELSE p.payment_method
       END AS channel
FROM payments p
JOIN bills b ON b.bill_id = p.bill_id
JOIN customers cu ON cu.customer_id = b.customer_id
LEFT JOIN payment_claims c ON c.payment_id = p.payment_id
LEFT JOIN admins a ON a.admin_id = p.recorded_by_admin_id
WHERE p.date_of_payment >= :start AND p.date_of_payment < :end
  AND p.payment_method <> 'card'
ORDER BY p.date_of_payment, p.payment_id

-- name: reconcile_voids
-- Each payment voided in [:start, :end), whenever it was made: its channel, who voided it and
-- why, and for a card payment both charge ids (its money is still with the provider).
SELECT p.payment_id, p.voided_at, p.date_of_payment, p.amount_paid, p.payment_method,
       p.receipt_number, p.billing_month, cu.meter_number, a.admin_name AS voided_by,
       p.void_reason, p.telegram_payment_charge_id, p.provider_payment_charge_id,
       c.reference AS claim_reference,
       CASE
           WHEN p.payment_method IN ('bank_transfer', 'mobile_money')
               THEN IF(c.claim_id IS NULL, 'transfer', 'claim')
           ELSE p.payment_method
       END AS channel
FROM payments p
JOIN bills b ON b.bill_id = p.bill_id
JOIN customers cu ON cu.customer_id = b.customer_id
LEFT JOIN payment_claims c ON c.payment_id = p.payment_id
LEFT JOIN admins a ON a.admin_id = p.voided_by_admin_id
WHERE p.voided_at >= :start AND p.voided_at < :end
ORDER BY p.voided_at, p.payment_id

-- name: reconcile_refunds
-- Each refund of account credit made in [:start, :end): amount, customer, staff, reason.
SELECT e.entry_id, e.created_at, e.amount, cu.meter_number, a.admin_name AS refunded_by,
       e.reason
FROM credit_entries e
JOIN customers cu ON cu.customer_id = e.customer_id
LEFT JOIN admins a ON a.admin_id = e.admin_id
WHERE e.kind = 'refunded' AND e.created_at >= :start AND e.created_at < :end
ORDER BY e.created_at, e.entry_id
