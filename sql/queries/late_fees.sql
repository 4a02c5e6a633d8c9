-- Late fees (domain/late_fees.py): the notices of the fees a run charged. The fees themselves
-- are written by the ledger (sql/queries/ledger.sql, "Late fees, set-based").

-- name: late_fee_claim_notices
-- Claim the notices of fees charged from :since to :today on linked customers' bills, not
-- claimed yet (the claim is the time stamp :now).
UPDATE late_fee_charges c
JOIN customers cu ON cu.customer_id = c.customer_id
SET c.notified_at = :now
WHERE c.run_date BETWEEN :since AND :today
  AND c.notified_at IS NULL
  AND cu.telegram_user_id IS NOT NULL

-- name: late_fee_claimed_notices
-- The notices claimed at :now: the customer's chat, the bill as it stands, the fee.
SELECT cu.telegram_user_id, c.amount AS fee, c.overdue,
       b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date
FROM late_fee_charges c
JOIN customers cu ON cu.customer_id = c.customer_id
JOIN bills b ON b.bill_id = c.bill_id
WHERE c.run_date BETWEEN :since AND :today
  AND c.notified_at = :now
  AND cu.telegram_user_id IS NOT NULL
ORDER BY c.bill_id
