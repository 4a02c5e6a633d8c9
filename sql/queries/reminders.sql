-- name: bills_due_for_reminder
-- Open bills of linked customers due in [:today, :until] not yet reminded for this due date.
SELECT b.bill_id, b.customer_id, b.billing_month, b.units_used, b.rate_per_unit,
       b.total_amount, b.amount_paid, b.payment_status, b.due_date,
       c.telegram_user_id, c.full_name, c.meter_number
FROM bills b
JOIN customers c ON c.customer_id = b.customer_id
LEFT JOIN bill_reminders r ON r.bill_id = b.bill_id AND r.due_date = b.due_date
WHERE b.payment_status IN ('unpaid', 'partial')
  AND b.due_date BETWEEN :today AND :until
  AND c.telegram_user_id IS NOT NULL
  AND r.bill_id IS NULL
ORDER BY b.due_date, b.bill_id
LIMIT :limit

-- name: claim_bill_reminder
-- Mark a bill reminded for its due date; 0 rows when another run already did.
INSERT IGNORE INTO bill_reminders (bill_id, due_date, sent_at)
VALUES (:bill_id, :due_date, :now)
